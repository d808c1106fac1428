"""Cash flow and balance features: net inflows, costs against revenue, and the account balance
against the monthly expenses it could cover."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows
from underwriting.features.history import KIND

SETTLING_DAYS = 60  # operating_margin_365d leaves out the history's first days
NEVER_NEGATIVE = 730.0  # days_since_negative_balance when the balance was never negative in the panel


def cashflow_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    _net_flows(chunk, flows, f)
    monthly_expenses = div(chunk.win(flows.cum_expenses, 90) * 30.0, chunk.avail(90))
    _balances(chunk, flows, f, monthly_expenses)
    _costs(chunk, flows, f)


def _net_flows(chunk: Chunk, flows: Flows, f) -> None:
    f["net_inflow_monthly_90d"] = flows.net_monthly
    f["net_margin_90d"] = np.where(flows.ok30, div(flows.net_90d, flows.revenue_90d), np.nan)
    outflows365 = chunk.win(flows.cum_outflows, 365)
    # A year evens out what 90 days cannot: goods paid for weeks before the invoices they become are
    # paid, a quarter's tax, a lumpy month. The history's first two months are left out: a business
    # that has just moved its account pays suppliers there before its customers' money follows.
    days = np.clip(flows.history_days - SETTLING_DAYS, 0, 365).astype(np.int64)
    col = PANEL_DAYS - days
    rows = np.arange(chunk.n)
    revenue = flows.cum_revenue[:, PANEL_DAYS] - flows.cum_revenue[rows, col]
    expenses = flows.cum_expenses[:, PANEL_DAYS] - flows.cum_expenses[rows, col]
    f["operating_margin_365d"] = np.where(days >= 90, np.maximum(div(revenue - expenses, revenue), -1.0), np.nan)
    f["inflow_to_outflow_365d"] = np.where(flows.history_days >= 90, div(flows.revenue_365d, outflows365), np.nan)
    monthly_in, monthly_out = chunk.months(flows.revenue, 12), chunk.months(flows.outflows, 12)
    nmonths = flows.months_seen
    f["negative_net_months_share_12m"] = np.where(
        nmonths >= 3, div(((monthly_out > monthly_in) & flows.month_seen).sum(axis=1), nmonths), np.nan)


def _balances(chunk: Chunk, flows: Flows, f, monthly_expenses: np.ndarray) -> None:
    hist, end = flows.history_days, PANEL_DAYS
    close, low = balance_panels(chunk)
    ok = chunk.has_balance & flows.ok30
    last_close = close[:, -1]
    low90 = np.where(np.isnan(low[:, -90:]), np.inf, low[:, -90:]).min(axis=1)
    f["cash_cover_last"] = np.where(ok, div(last_close, monthly_expenses), np.nan)
    f["cash_cover_min_90d"] = np.where(ok & np.isfinite(low90), div(low90, monthly_expenses), np.nan)
    close90 = close[:, -90:]
    nvalid = (~np.isnan(close90)).sum(axis=1)
    mean_close = div(np.where(np.isnan(close90), 0.0, close90).sum(axis=1), nvalid)
    f["cash_cover_mean_90d"] = np.where(ok, div(mean_close, monthly_expenses), np.nan)
    f["balance_mean_90d"] = np.where(ok, mean_close, np.nan)
    negative = np.where(np.isnan(low), False, low < 0)
    f["negative_balance_days_90d"] = np.where(ok, negative[:, -90:].sum(axis=1) * 90.0 / chunk.avail(90), np.nan)
    last_negative = np.where(negative.any(axis=1), end - 1 - np.argmax(negative[:, ::-1], axis=1), -1)
    f["days_since_negative_balance"] = np.where(
        ok, np.where(last_negative >= 0, (end - last_negative).astype(float), np.minimum(hist, NEVER_NEGATIVE)),
        np.nan)
    back = np.clip(hist - 1, 0, 90).astype(np.int64)
    then = close[np.arange(chunk.n), end - 1 - back]
    f["balance_change_90d"] = np.where(ok & (back >= 30), div(last_close - then, monthly_expenses), np.nan)


def _costs(chunk: Chunk, flows: Flows, f) -> None:
    outflow, kind = flows.outflow, chunk.dkind
    interest = chunk.cum(chunk.panel(outflow & (kind == KIND["interest"])))
    fees = chunk.cum(chunk.panel(outflow & (kind == KIND["fee"])))
    f["interest_paid_to_revenue_180d"] = np.where(flows.ok30, div(chunk.win(interest, 180), flows.revenue_180d),
                                                  np.nan)
    f["fees_to_revenue_90d"] = np.where(flows.ok30, div(chunk.win(fees, 90), flows.revenue_90d), np.nan)


def balance_panels(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """(n, PANEL_DAYS) closing balance carried forward over days without rows, and the day's low (NaN
    before the first known balance)."""
    n, width = chunk.n, PANEL_DAYS
    close = np.full((n, width), np.nan)
    low = np.full((n, width), np.nan)
    if chunk.bday.size:
        col = chunk.bday - chunk.panel_start[chunk.bm]
        inside = col >= 0
        close[chunk.bm[inside], col[inside]] = chunk.bclose[inside]
        low[chunk.bm[inside], col[inside]] = chunk.bmin[inside]
        # The last balance before the panel opens it (rows are day-sorted per merchant).
        pre = np.flatnonzero(~inside)
        if pre.size:
            last = np.full(n, -1, dtype=np.int64)
            np.maximum.at(last, chunk.bm[pre], pre)
            has = (last >= 0) & np.isnan(close[:, 0])
            close[has, 0] = chunk.bclose[last[has]]
    known = ~np.isnan(close)
    idx = np.where(known, np.arange(width)[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = close[np.arange(n)[:, None], idx]
    low = np.where(np.isnan(low), filled, low)
    return filled, low
