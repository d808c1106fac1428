"""One chunk of merchants: their rows concatenated with a merchant index, and dense daily panels.

Each kind of rollup row becomes flat arrays with a prefix naming the table: `d` daily rows (by
direction and kind), `c` counterparty rows, `b` balance rows, `m` marketplace metric rows, `l` prior
loans; `dm`, `cm`, `bm`, `mm`, `lm` are each row's merchant (0..n-1 within the chunk). A panel is an
(n, PANEL_DAYS) array of daily sums ending the day before each merchant's as_of; windows are
differences of its cumulative sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from underwriting.features.arrays import concat
from underwriting.features.history import LoanRequest, MerchantHistory, day_number

PANEL_DAYS = 730  # two years of days; windows never look further back
COUNTERPARTY_DAYS = 180  # counterparty windows look back at most this far (bounded reads for decisions)


def _merchant_index(lengths: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(lengths.size), lengths)


class Chunk:
    """One chunk of merchants: concatenated rows and the panels built from them."""

    def __init__(self, histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]):
        self.n = len(histories)
        self._read_dates(histories, requests)
        self._read_daily(histories)
        self._read_counterparties(histories)
        self._read_balances(histories)
        self._read_metrics(histories)
        self._read_loans(histories)

    def _read_dates(self, histories, requests) -> None:
        self.as_of = np.array([h.as_of_day for h in histories], dtype=np.int64)
        self.panel_start = self.as_of - PANEL_DAYS  # day of column 0; the last column is the day before as_of
        self.amount = np.array([float(r.amount) for r in requests], dtype=np.float64)
        self.term = np.array([int(r.term_months) for r in requests], dtype=np.float64)
        self.established = np.array([np.nan if h.established_on is None else day_number(h.established_on)
                                     for h in histories], dtype=np.float64)
        self.onboarded = np.array([np.nan if h.onboarded_on is None else day_number(h.onboarded_on)
                                   for h in histories], dtype=np.float64)
        first = [h.first_day for h in histories]
        self.first_day = np.array([-1 if x is None else x for x in first], dtype=np.int64)
        self.history_days = np.where(self.first_day >= 0, self.as_of - self.first_day, 0).astype(np.float64)
        # Columns inside the merchant's history (before its first activity nothing is known).
        self.seen = (PANEL_DAYS - np.arange(PANEL_DAYS))[None, :] <= self.history_days[:, None]

    def _read_daily(self, histories) -> None:
        rows = [h.daily.since(int(a)) for h, a in zip(histories, self.panel_start, strict=True)]
        self.dm = _merchant_index(np.array([x.day.size for x in rows], dtype=np.int64))
        self.dday = concat([x.day for x in rows], np.int64)
        self.ddir = concat([x.direction for x in rows], np.int8)
        self.dkind = concat([x.kind for x in rows], np.int8)
        self.dcount = concat([x.count for x in rows], np.float64)
        self.dtotal = concat([x.total for x in rows], np.float64)
        self.dmax = concat([x.max for x in rows], np.float64)  # the row's largest single amount
        self.dcol = self.dday - self.panel_start[self.dm]
        dates = self.dday.astype("datetime64[D]")
        month = dates.astype("datetime64[M]").astype("datetime64[D]")
        self.ddom = (dates - month).astype(np.int64) + 1  # day of month
        next_month = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
        self.dmlen = (next_month - month).astype(np.int64)  # days in the row's month
        self.dplen = (month - (dates.astype("datetime64[M]") - 1).astype("datetime64[D]")).astype(np.int64)

    def _read_counterparties(self, histories) -> None:
        # First-seen days are relative to this window too: "new" means not seen in the last 180 days.
        since = self.as_of - COUNTERPARTY_DAYS
        rows = [h.counterparties.since(int(a)) for h, a in zip(histories, since, strict=True)]
        lengths = np.array([x.day.size for x in rows], dtype=np.int64)
        self.cm = _merchant_index(lengths)
        self.cday = concat([x.day for x in rows], np.int64)
        self.cdir = concat([x.direction for x in rows], np.int8)
        self.ccp = concat([x.counterparty for x in rows], np.int64)
        self.ctotal = concat([x.total for x in rows], np.float64)
        self.has_cp = lengths > 0

    def _read_balances(self, histories) -> None:
        rows = [h.balances for h in histories]
        lengths = np.array([x.day.size for x in rows], dtype=np.int64)
        self.bm = _merchant_index(lengths)
        self.bday = concat([x.day for x in rows], np.int64)
        self.bmin = concat([x.min for x in rows], np.float64)
        self.bclose = concat([x.close for x in rows], np.float64)
        self.has_balance = lengths > 0

    def _read_metrics(self, histories) -> None:
        rows = [h.metrics.since(int(a)) for h, a in zip(histories, self.panel_start, strict=True)]
        lengths = np.array([x.day.size for x in rows], dtype=np.int64)
        self.mm = _merchant_index(lengths)
        self.mday = concat([x.day for x in rows], np.int64)
        self.mname = (np.concatenate([x.metric for x in rows]) if self.n and lengths.sum()
                      else np.zeros(0, dtype="<U1"))
        self.mvalue = concat([x.value for x in rows], np.float64)

    def _read_loans(self, histories) -> None:
        rows = [h.loans for h in histories]
        self.lm = _merchant_index(np.array([x.originated_on.size for x in rows], dtype=np.int64))
        self.lorig = concat([x.originated_on for x in rows], np.int64)
        self.lamount = concat([x.amount for x in rows], np.float64)
        self.lterm = concat([x.term_months for x in rows], np.float64)
        self.lstatus = concat([x.status for x in rows], np.int8)

    # --- panels and windows -----------------------------------------------------------------------

    def panel(self, sel: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """(n, PANEL_DAYS) daily sums of the selected daily rows (totals by default)."""
        width = PANEL_DAYS
        ok = sel & (self.dcol >= 0) & (self.dcol < width)
        idx = self.dm[ok] * width + self.dcol[ok]
        w = (self.dtotal if weights is None else weights)[ok]
        return np.bincount(idx, weights=w, minlength=self.n * width).reshape(self.n, width)

    @staticmethod
    def cum(panel: np.ndarray) -> np.ndarray:
        out = np.zeros((panel.shape[0], panel.shape[1] + 1))
        np.cumsum(panel, axis=1, out=out[:, 1:])
        return out

    @staticmethod
    def win(cum: np.ndarray, days: int, skip: int = 0) -> np.ndarray:
        """Sum over the `days` days ending `skip` days before as_of's day (from a cum() array)."""
        return cum[:, PANEL_DAYS - skip] - cum[:, PANEL_DAYS - skip - days]

    def avail(self, days: int) -> np.ndarray:
        """Days of a `days`-day window inside the history (the divisor of a per-day rate)."""
        return np.minimum(self.history_days, days).astype(np.float64)

    def months(self, panel: np.ndarray, k: int) -> np.ndarray:
        """(n, k) sums over consecutive 30-day buckets, oldest first, the last ending before as_of."""
        return panel[:, PANEL_DAYS - 30 * k:].reshape(self.n, k, 30).sum(axis=2)
