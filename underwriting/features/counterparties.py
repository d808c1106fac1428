"""Counterparty features: customer and payee concentration, payment processors, and anomalies (new
payers, a few payers taking over, money sent back to payers). Counterparty rows cover the last
COUNTERPARTY_DAYS days only."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows
from underwriting.features.history import IN, KIND, OUT

SETTLEMENT_KINDS = [KIND["sale"], KIND["card_payment"], KIND["payout"]]

PROCESSOR_MIN_SHARE = 1 / 3  # a payer present on at least this share of inflow days may be a payment processor
# ... and is one when its payments are settlements: on its days the source booked at least this share of
# its amount as card takings or payouts (not transfers), or, on a source that books everything as
# transfers, when it pays on this share of the calendar days (a processor settles every business day,
# 5 days in 7; a trade customer pays per invoice, and a business with one customer has no other payer)
PROCESSOR_SETTLED_SHARE = 0.8
PROCESSOR_DAILY_SHARE = 0.6
PROCESSOR_MIN_AGE = 60  # ... and first seen this many days before, or in the history's first two weeks
END = PANEL_DAYS  # one past the panels' last column: [END - 30:] = the last 30 days

NAMES = ("top_customer_share_180d", "top_customer_trend_90d", "top_customer_silence", "paying_counterparties_180d",
         "payee_counterparties_180d", "top_payee_share_180d", "processor_share_90d", "new_counterparty_share_35d",
         "top2_payer_share_30d", "round_trip_share_35d")


class _Groups:
    """The chunk's counterparty rows grouped by (merchant, counterparty)."""

    def __init__(self, chunk: Chunk):
        self.n = chunk.n
        self.total_rows = chunk.ctotal
        self.age = chunk.as_of[chunk.cm] - chunk.cday
        self.is_in = chunk.cdir == IN
        self.is_out = chunk.cdir == OUT
        key = chunk.cm * (int(chunk.ccp.max()) + 1) + chunk.ccp
        unique_key, first_idx, self.group = np.unique(key, return_index=True, return_inverse=True)
        self.merchant = chunk.cm[first_idx]  # each group's merchant
        self.size = unique_key.size
        self.first_seen = np.full(self.size, np.iinfo(np.int64).max)
        np.minimum.at(self.first_seen, self.group, chunk.cday)
        self.first_age = chunk.as_of[self.merchant] - self.first_seen
        # who paid in over the last 180 days: on how many days, and how much (processors and customers
        # are both read from these)
        self.paid_180 = self.is_in & (self.age <= 180)
        self.paid_days_180 = self.total(self.paid_180, np.ones_like(self.total_rows))
        self.in180 = self.total(self.paid_180)

    def total(self, sel: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per group, the sum of the selected rows' totals (or weights)."""
        w = self.total_rows if weights is None else weights
        return np.bincount(self.group[sel], weights=w[sel], minlength=self.size)

    def per_merchant(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.merchant, weights=values, minlength=self.n)

    def incoming(self, days: int) -> np.ndarray:
        return self.total(self.is_in & (self.age <= days))

    def outgoing(self, days: int) -> np.ndarray:
        return self.total(self.is_out & (self.age <= days))


def counterparty_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    if not chunk.cday.size:
        for name in NAMES:
            f[name] = np.full(chunk.n, np.nan)
        return
    ok = chunk.has_cp & (flows.history_days >= 30)
    groups = _Groups(chunk)
    processor = _processors(chunk, flows, groups)
    _customers(flows, groups, processor, ok, f)
    _payees(groups, ok, f)
    _anomalies(flows, groups, processor, ok, f)


def _processors(chunk: Chunk, flows: Flows, groups: _Groups) -> np.ndarray:
    """Payment processors: pay in on at least a third of the merchant's inflow days (180 days, at
    least 10 days), were first seen PROCESSOR_MIN_AGE+ days before, and settle: the source booked
    their days' money as card takings or payouts, or they pay on 60% of the calendar days. A trade
    customer paying invoices by transfer several times a week is a customer, however regular."""
    merchant, recent, in_days = groups.merchant, groups.paid_180, groups.paid_days_180
    merchant_in_days = (flows.revenue[:, END - 180:] > 0).sum(axis=1).astype(float)
    established = (groups.first_age >= PROCESSOR_MIN_AGE) | (groups.first_seen - chunk.first_day[merchant] <= 14)
    settled_panel = chunk.panel(flows.inflow & np.isin(chunk.dkind, SETTLEMENT_KINDS))
    col = chunk.cday - chunk.panel_start[chunk.cm]
    inside = (col >= 0) & (col < settled_panel.shape[1])
    settled_day = np.zeros(col.size)
    settled_day[inside] = settled_panel[chunk.cm[inside], col[inside]]
    settled = groups.total(recent, np.minimum(settled_day, groups.total_rows))
    calendar_days = np.minimum(flows.history_days, 180)[merchant]
    settles = (settled >= PROCESSOR_SETTLED_SHARE * groups.in180) | (
        in_days >= PROCESSOR_DAILY_SHARE * calendar_days)
    return (in_days >= PROCESSOR_MIN_SHARE * merchant_in_days[merchant]) & (in_days >= 10) & established & settles


def _customers(flows: Flows, groups: _Groups, processor: np.ndarray, ok: np.ndarray, f) -> None:
    in180, in90 = groups.in180, groups.incoming(90)
    # Each merchant's largest customer over 180 days (payment processors aside).
    is_top = (_rank_within_merchant(groups, -np.where(processor, -1.0, in180)) == 0) & ~processor & (in180 > 0)
    top = groups.per_merchant(np.where(is_top, in180, 0.0))
    f["top_customer_share_180d"] = np.where(ok, np.minimum(div(top, flows.revenue_180d), 1.0), np.nan)
    # Its last 90 days against its 90 days before: a customer drifting away orders less for months
    # before it stops (NaN when it did not pay in the earlier 90 days).
    recent = groups.per_merchant(np.where(is_top, in90, 0.0))
    earlier = top - recent
    f["top_customer_trend_90d"] = np.where(ok & (flows.history_days >= 180) & (earlier > 0),
                                           np.minimum(div(recent, earlier) - 1.0, 5.0), np.nan)
    # Days since it last paid against its usual interval: a trade customer in trouble pays late first,
    # and a silence of several intervals shows that before its totals fall.
    paying, days = groups.paid_180, groups.paid_days_180
    last = np.full(groups.size, np.inf)
    np.minimum.at(last, groups.group[paying], groups.age[paying].astype(np.float64))
    silence = div(np.where(np.isfinite(last), last, 180.0), 180.0 / np.maximum(days, 1.0))
    top_days = groups.per_merchant(np.where(is_top, days, 0.0))
    f["top_customer_silence"] = np.where(ok & (top_days >= 3), groups.per_merchant(np.where(is_top, silence, 0.0)),
                                         np.nan)
    f["paying_counterparties_180d"] = np.where(ok, groups.per_merchant((in180 > 0).astype(float)), np.nan)
    in90 = np.where(processor, in90, 0.0)
    f["processor_share_90d"] = np.where(ok, np.minimum(div(groups.per_merchant(in90), flows.revenue_90d), 1.0),
                                        np.nan)


def _payees(groups: _Groups, ok: np.ndarray, f) -> None:
    out180 = groups.outgoing(180)
    f["payee_counterparties_180d"] = np.where(ok, groups.per_merchant((out180 > 0).astype(float)), np.nan)
    top = np.zeros(groups.n)
    np.maximum.at(top, groups.merchant, out180)
    f["top_payee_share_180d"] = np.where(ok, div(top, groups.per_merchant(out180)), np.nan)


def _anomalies(flows: Flows, groups: _Groups, processor: np.ndarray, ok: np.ndarray, f) -> None:
    """New payers, concentration on a few payers, money sent back to payers."""
    revenue35 = flows.revenue[:, END - 35:].sum(axis=1)
    in35 = groups.incoming(35)
    new = groups.first_age <= 35
    f["new_counterparty_share_35d"] = np.where(ok & (flows.history_days >= 60), np.minimum(
        div(groups.per_merchant(np.where(new, in35, 0.0)), revenue35), 1.0), np.nan)
    in30 = np.where(processor, 0.0, groups.incoming(30))
    revenue30 = flows.revenue[:, END - 30:].sum(axis=1)
    top2 = groups.per_merchant(np.where(_rank_within_merchant(groups, -in30) < 2, in30, 0.0))
    f["top2_payer_share_30d"] = np.where(ok, np.minimum(div(top2, revenue30), 1.0), np.nan)
    back = np.where(processor, 0.0, np.minimum(in35, groups.outgoing(35)))
    f["round_trip_share_35d"] = np.where(ok, np.minimum(div(groups.per_merchant(back), revenue35), 1.0), np.nan)


def _rank_within_merchant(groups: _Groups, key: np.ndarray) -> np.ndarray:
    """Each group's rank (0 = first) by ascending key among its merchant's groups."""
    merchant, size = groups.merchant, groups.size
    order = np.lexsort((key, merchant))
    starts = np.concatenate(([0], np.flatnonzero(np.diff(merchant[order]) != 0) + 1))
    rank = np.empty(size, dtype=np.int64)
    rank[order] = np.arange(size) - np.repeat(starts, np.diff(np.concatenate((starts, [size]))))
    return rank
