"""Point-in-time features: one vectorised code path for one live decision and for a training batch.

`compute_features(histories, requests)` returns an (n, F) float64 array in the order of FEATURES
(NaN = explicitly missing). Merchants are processed in chunks: each chunk's rollup rows are
concatenated with a merchant index and turned into dense per-merchant daily panels (PANEL_DAYS days
ending the day before each merchant's as_of) of a few channels; windows are differences of
cumulative sums, groups are bincounts. Nothing loops over merchants or rows in Python except the
gathering of each history's arrays. Row i of the result depends only on history i and request i
(exactly: every reduction runs per merchant in the same order whatever the batch), so a batch equals
n single computations bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .history import CURRENT, DEFAULTED, IN, KIND, OUT, REPAID, LoanRequest, MerchantHistory, day_number
from .peers import PEER_BASE_NAMES, PeerBenchmarks, peer_columns
from .specs import FEATURES

__all__ = ["BURDEN_NAMES", "COUNTERPARTY_DAYS", "FEATURES", "REFERENCE_APR", "REQUEST_BASE_NAMES", "compute_features",
           "compute_features_with_bases", "compute_features_with_request_bases", "feature_index", "feature_names",
           "request_features"]

PANEL_DAYS = 730  # two years of days; windows never look further back
CHUNK = 256  # merchants per chunk (panels of CHUNK x PANEL_DAYS per channel stay in cache-friendly sizes)
REFERENCE_APR = 0.18  # the instalment of the burden features (a reference price, not the offer's)
COUNTERPARTY_DAYS = 180  # counterparty windows look back at most this far (bounded reads for decisions)
PROCESSOR_MIN_SHARE = 1 / 3  # a payer present on at least this share of inflow days is a payment processor
PROCESSOR_MIN_AGE = 60  # ... and first seen this many days before, or in the history's first two weeks
LATE_DAYS = 4  # a monthly obligation paid this many days after its usual day of the month is late
NEVER_NEGATIVE = 730.0  # days_since_negative_balance when the balance was never negative in the panel

REVENUE_KINDS = np.array([KIND[k] for k in ("sale", "transfer", "cash_deposit", "card_payment", "payout", "other")])
EXPENSE_KINDS = np.array([KIND[k] for k in ("fee", "supplier_payment", "payroll", "rent", "tax", "card_payment",
                                            "interest", "other")])
CLASSIFIED_EXPENSE_KINDS = np.array([KIND[k] for k in ("supplier_payment", "payroll", "rent", "tax")])
NOT_EXPENSE_KINDS = np.array([KIND[k] for k in ("refund", "chargeback", "loan_repayment")])

_NAMES = [f.name for f in FEATURES]
_INDEX = {name: i for i, name in enumerate(_NAMES)}


def feature_names() -> list[str]:
    return list(_NAMES)


# What the burden features compare a request with (per history): monthly business inflows, monthly
# net cash flow, monthly repayments to other lenders, monthly inflows net of refunds, the largest
# earlier loan. A decision stores them, so the same request can be weighed at another amount exactly
# as compute_features would have (the counter-offer search, and its replay).
REQUEST_BASE_NAMES = ("monthly_revenue", "net_monthly", "external_service", "monthly_net_revenue",
                      "largest_prior_loan")
BURDEN_NAMES = ("requested_amount", "term_months", "amount_to_monthly_revenue", "instalment_to_net_inflow",
                "total_debt_service_to_revenue", "amount_to_largest_prior_loan")


def _burden(amount: np.ndarray, term: np.ndarray, bases: np.ndarray) -> dict[str, np.ndarray]:
    monthly_rev, net_monthly, external, monthly_net_rev, largest = np.asarray(bases, dtype=np.float64).T
    r = REFERENCE_APR / 12.0
    annuity = r / (1.0 - (1.0 + r) ** (-np.maximum(term, 1.0)))
    instalment = amount * annuity
    ratio = _div(instalment, np.maximum(net_monthly, 0.0))
    return {
        "requested_amount": amount.copy(),
        "term_months": term.copy(),
        "amount_to_monthly_revenue": _div(amount, monthly_rev),
        "instalment_to_net_inflow": np.where(np.isnan(net_monthly), np.nan,
                                             np.where(np.isnan(ratio), 10.0, np.minimum(ratio, 10.0))),
        "total_debt_service_to_revenue": _div(instalment + external, monthly_net_rev),
        "amount_to_largest_prior_loan": _div(amount, largest),
    }


def request_features(bases: Sequence[float | None], amounts: Sequence[float], term_months: int) -> np.ndarray:
    """(len(amounts), len(BURDEN_NAMES)) burden features of one history's request at each amount, from
    its REQUEST_BASE_NAMES values (None = missing): bit for bit what compute_features gives."""
    row = np.array([np.nan if b is None else float(b) for b in bases], dtype=np.float64)
    amount = np.asarray(amounts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = _burden(amount, np.full(amount.shape, float(term_months)), np.tile(row, (amount.size, 1)))
    return np.column_stack([cols[name] for name in BURDEN_NAMES])



def feature_index(name: str) -> int:
    return _INDEX[name]


def compute_features(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest],
                     peers: PeerBenchmarks | None = None) -> np.ndarray:
    """(n, F) float64 features of n (history, request) pairs, columns in FEATURES order.

    `peers`: the sector benchmarks fitted with the model (peers.py); without them the peer
    columns ("..._vs_sector") are NaN."""
    return _compute(histories, requests, peers)[0]


def compute_features_with_request_bases(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest],
                                        peers: PeerBenchmarks | None = None) -> tuple[np.ndarray, np.ndarray]:
    """compute_features plus each history's REQUEST_BASE_NAMES values (what a decision stores)."""
    out, _, request = _compute(histories, requests, peers)
    return out, request


def compute_features_with_bases(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]
                                ) -> tuple[np.ndarray, np.ndarray]:
    """compute_features without a benchmark, plus the (n, len(PEER_BASE_NAMES)) values the peer
    features compare with their sector: what a training-set builder needs to fit PeerBenchmarks and
    fill the peer columns in one pass (PeerBenchmarks.fit_values, PeerBenchmarks.apply)."""
    out, bases, _ = _compute(histories, requests, None)
    return out, bases


def _compute(histories, requests, peers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(histories)
    if len(requests) != n:
        raise ValueError(f"{n} histories but {len(requests)} requests")
    out = np.full((n, len(FEATURES)), np.nan)
    bases = np.full((n, len(PEER_BASE_NAMES)), np.nan)
    request = np.full((n, len(REQUEST_BASE_NAMES)), np.nan)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        with np.errstate(divide="ignore", invalid="ignore"):  # windows the history does not cover: NaN
            cols = _Chunk(histories[lo:hi], requests[lo:hi]).features()
            cols.update(peer_columns([h.sector for h in histories[lo:hi]], cols, peers))
        missing = set(_NAMES) - cols.keys()
        if missing:
            raise RuntimeError(f"features not computed: {sorted(missing)}")
        for i, name in enumerate(_NAMES):  # (cols also holds helper columns, e.g. peer bases)
            out[lo:hi, i] = cols[name]
        for i, name in enumerate(PEER_BASE_NAMES):
            bases[lo:hi, i] = cols[name]
        for i, name in enumerate(REQUEST_BASE_NAMES):
            request[lo:hi, i] = cols[name]
    return out, bases, request


# --- small vectorised helpers -------------------------------------------------------------------------


def _div(a, b):
    """a / b with NaN where b is 0 or NaN (never a made-up number)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    ok = np.isfinite(b) & (b != 0)
    np.divide(a, b, out=out, where=ok)
    return out


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _group_stats(m: np.ndarray, x: np.ndarray, n: int):
    """Per-merchant count, mean and median of x (rows grouped by merchant index m, any order)."""
    cnt = np.bincount(m, minlength=n).astype(np.float64)
    s = np.bincount(m, weights=x, minlength=n)
    mean = _div(s, cnt)
    median = np.full(n, np.nan)
    if x.size:
        order = np.lexsort((x, m))
        xs = x[order]
        start = np.concatenate(([0], np.cumsum(cnt)[:-1])).astype(np.int64)
        has = cnt > 0
        c = cnt[has].astype(np.int64)
        lo = start[has] + (c - 1) // 2
        hi = start[has] + c // 2
        median[has] = 0.5 * (xs[lo] + xs[hi])
    return cnt, mean, median


class _Chunk:
    """One chunk of merchants: concatenated rows, dense daily panels and the feature columns."""

    def __init__(self, histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]):
        n = self.n = len(histories)
        W = PANEL_DAYS
        self.as_of = np.array([h.as_of_day for h in histories], dtype=np.int64)
        self.panel_start = self.as_of - W  # day of column 0; column W-1 is the day before as_of
        self.amount = np.array([float(r.amount) for r in requests], dtype=np.float64)
        self.term = np.array([int(r.term_months) for r in requests], dtype=np.float64)
        self.established = np.array([np.nan if h.established_on is None else day_number(h.established_on)
                                     for h in histories], dtype=np.float64)
        self.onboarded = np.array([np.nan if h.onboarded_on is None else day_number(h.onboarded_on)
                                   for h in histories], dtype=np.float64)

        lo_day = self.panel_start
        d = [h.daily.since(int(a)) for h, a in zip(histories, lo_day, strict=True)]
        lens = np.array([x.day.size for x in d], dtype=np.int64)
        self.dm = np.repeat(np.arange(n), lens)
        self.dday = _concat([x.day for x in d], np.int64)
        self.ddir = _concat([x.direction for x in d], np.int8)
        self.dkind = _concat([x.kind for x in d], np.int8)
        self.dcount = _concat([x.count for x in d], np.float64)
        self.dtotal = _concat([x.total for x in d], np.float64)
        self.dcol = self.dday - self.panel_start[self.dm]
        dates = self.dday.astype("datetime64[D]")
        month = dates.astype("datetime64[M]").astype("datetime64[D]")
        self.ddom = (dates - month).astype(np.int64) + 1  # day of month
        next_month = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
        self.dmlen = (next_month - month).astype(np.int64)  # days in the row's month
        self.dplen = (month - (dates.astype("datetime64[M]") - 1).astype("datetime64[D]")).astype(np.int64)
        first = [h.first_day for h in histories]
        self.first_day = np.array([-1 if x is None else x for x in first], dtype=np.int64)
        self.history_days = np.where(self.first_day >= 0, self.as_of - self.first_day, 0).astype(np.float64)

        # First-seen days are relative to this window too: "new" means not seen in the last 180 days.
        cp_lo = self.as_of - COUNTERPARTY_DAYS
        c = [h.counterparties.since(int(a)) for h, a in zip(histories, cp_lo, strict=True)]
        lens = np.array([x.day.size for x in c], dtype=np.int64)
        self.cm = np.repeat(np.arange(n), lens)
        self.cday = _concat([x.day for x in c], np.int64)
        self.cdir = _concat([x.direction for x in c], np.int8)
        self.ccp = _concat([x.counterparty for x in c], np.int64)
        self.ctotal = _concat([x.total for x in c], np.float64)
        self.has_cp = lens > 0

        b = [h.balances for h in histories]
        lens = np.array([x.day.size for x in b], dtype=np.int64)
        self.bm = np.repeat(np.arange(n), lens)
        self.bday = _concat([x.day for x in b], np.int64)
        self.bmin = _concat([x.min for x in b], np.float64)
        self.bclose = _concat([x.close for x in b], np.float64)
        self.has_balance = lens > 0

        mt = [h.metrics.since(int(a)) for h, a in zip(histories, lo_day, strict=True)]
        lens = np.array([x.day.size for x in mt], dtype=np.int64)
        self.mm = np.repeat(np.arange(n), lens)
        self.mday = _concat([x.day for x in mt], np.int64)
        self.mname = np.concatenate([x.metric for x in mt]) if n and lens.sum() else np.zeros(0, dtype="<U1")
        self.mvalue = _concat([x.value for x in mt], np.float64)

        lo = [h.loans for h in histories]
        lens = np.array([x.originated_on.size for x in lo], dtype=np.int64)
        self.lm = np.repeat(np.arange(n), lens)
        self.lorig = _concat([x.originated_on for x in lo], np.int64)
        self.lamount = _concat([x.amount for x in lo], np.float64)
        self.lterm = _concat([x.term_months for x in lo], np.float64)
        self.lstatus = _concat([x.status for x in lo], np.int8)

    # --- panels ---------------------------------------------------------------------------------

    def panel(self, sel: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """(n, W) daily sums of the selected daily rows (totals by default)."""
        W = PANEL_DAYS
        ok = sel & (self.dcol >= 0) & (self.dcol < W)
        idx = self.dm[ok] * W + self.dcol[ok]
        w = (self.dtotal if weights is None else weights)[ok]
        return np.bincount(idx, weights=w, minlength=self.n * W).reshape(self.n, W)

    @staticmethod
    def cum(p: np.ndarray) -> np.ndarray:
        c = np.zeros((p.shape[0], p.shape[1] + 1))
        np.cumsum(p, axis=1, out=c[:, 1:])
        return c

    @staticmethod
    def win(c: np.ndarray, days: int, skip: int = 0) -> np.ndarray:
        """Sum over the `days` days ending `skip` days before as_of's day (from a cum() array)."""
        W = PANEL_DAYS
        return c[:, W - skip] - c[:, W - skip - days]

    def covered(self, days: int) -> np.ndarray:
        return self.history_days >= days

    def months(self, p: np.ndarray, k: int) -> np.ndarray:
        """(n, k) sums over consecutive 30-day buckets, oldest first, the last ending before as_of."""
        return p[:, PANEL_DAYS - 30 * k:].reshape(self.n, k, 30).sum(axis=2)

    # --- features -------------------------------------------------------------------------------

    def features(self) -> dict[str, np.ndarray]:
        f: dict[str, np.ndarray] = {}
        n, W = self.n, PANEL_DAYS
        inflow = self.ddir == IN
        outflow = self.ddir == OUT
        kind = self.dkind
        hist = self.history_days
        self.avail = lambda w: np.minimum(hist, w).astype(np.float64)
        av = self.avail
        win = self.win
        # Columns inside the merchant's history (before its first activity nothing is known).
        self.seen = (W - np.arange(W))[None, :] <= hist[:, None]
        is_sale = inflow & (kind == KIND["sale"])
        has_sale = np.bincount(self.dm[is_sale], minlength=n) > 0
        rich = np.bincount(self.dm[outflow & np.isin(kind, CLASSIFIED_EXPENSE_KINDS)], minlength=n) > 0
        revenue_rows = inflow & np.isin(kind, REVENUE_KINDS)
        R = self.panel(revenue_rows)
        SALE = self.panel(is_sale)
        S = np.where(has_sale[:, None], SALE, R)  # the sales series: card sales, or all inflows
        OUTALL = self.panel(outflow & (kind != KIND["loan_repayment"]))
        expense_rows = outflow & np.where(rich[self.dm], np.isin(kind, EXPENSE_KINDS), ~np.isin(kind, NOT_EXPENSE_KINDS))
        REF = self.panel(outflow & (kind == KIND["refund"]))
        CB = self.panel(outflow & (kind == KIND["chargeback"]))
        cR, cS, cOUT, cEXP = self.cum(R), self.cum(S), self.cum(OUTALL), self.cum(self.panel(expense_rows))
        cREF, cCB, cSALE = self.cum(REF), self.cum(CB), self.cum(SALE)
        cCBN = self.cum(self.panel(outflow & (kind == KIND["chargeback"]), self.dcount))
        ok30 = hist >= 30

        # scale
        R90, R180, R365 = win(cR, 90), win(cR, 180), win(cR, 365)
        f["revenue_90d"] = np.where(hist >= 90, R90, np.nan)
        f["card_sales_90d"] = np.where((hist >= 90) & has_sale, win(cSALE, 90), np.nan)
        active90 = (R[:, W - 90:] > 0).sum(axis=1).astype(np.float64)
        NIN = self.cum(self.panel(revenue_rows, self.dcount))
        f["inflow_transactions_90d"] = np.where(ok30, win(NIN, 90) * 90.0 / av(90), np.nan)
        monthly_rev = np.where(ok30, R90 * 30.0 / av(90), np.nan)
        net_rev = (R90 - win(cREF, 90) - win(cCB, 90)) * 30.0 / av(90)
        monthly_net_rev = np.where(ok30, np.maximum(net_rev, 0.01 * monthly_rev), np.nan)

        # growth: ratios of daily rates of the sales series (invariant to an even scaling of sales)
        S30, S90 = win(cS, 30), win(cS, 90)

        def rate_change(recent, recent_days, base, base_days, min_base):
            ok = base_days >= min_base
            return np.where(ok, _div(recent / recent_days, base / np.maximum(base_days, 1.0)) - 1.0, np.nan)

        f["sales_change_30d"] = rate_change(S30, 30.0, win(cS, 90, 30), np.clip(hist - 30, 0, 90), 45)
        f["sales_change_90d"] = rate_change(S90, 90.0, win(cS, 90, 90), np.clip(hist - 90, 0, 90), 60)
        f["sales_change_180d"] = rate_change(win(cS, 180), 180.0, win(cS, 180, 180), np.clip(hist - 180, 0, 180), 120)
        f["sales_change_yoy_90d"] = np.where(hist >= 455, _div(S90, win(cS, 90, 365)) - 1.0, np.nan)
        f["sales_90d_vs_12m"] = np.where(hist >= 180, _div(S90 / 90.0, win(cS, 365) / av(365)) - 1.0, np.nan)
        weeks = S[:, W - 26 * 7:].reshape(n, 26, 7).sum(axis=2)
        wseen = self.seen[:, W - 26 * 7::7]  # the first day of each week seen: the whole week is
        nweeks = wseen.sum(axis=1)
        x = np.where(wseen, np.arange(26, dtype=np.float64)[None, :], 0.0)
        xm = _div(x.sum(axis=1), nweeks)
        xc = np.where(wseen, x - xm[:, None], 0.0)
        wmean = _div(np.where(wseen, weeks, 0.0).sum(axis=1), nweeks)
        slope = _div((xc * np.where(wseen, weeks, 0.0)).sum(axis=1), (xc * xc).sum(axis=1))
        f["sales_trend_26w"] = np.where(nweeks >= 8, _div(slope * 52.0, wmean), np.nan)
        M12 = self.months(S, 12)
        mseen = np.arange(12)[None, :] >= (12 - np.clip(hist // 30, 0, 12)[:, None])
        nmonths = mseen.sum(axis=1)
        peak = np.where(mseen, M12, -np.inf).max(axis=1)
        f["sales_vs_peak_12m"] = np.where(nmonths >= 3, _div(M12[:, -1], peak) - 1.0, np.nan)
        dec = (M12[:, -6:] < M12[:, -7:-1]) & mseen[:, -7:-1]
        pairs = mseen[:, -7:-1].sum(axis=1)
        f["declining_months_share_6m"] = np.where(pairs >= 3, _div(dec.sum(axis=1), pairs), np.nan)

        # volatility (over the days of the last 90 inside the history, at least 30)
        D90 = S[:, W - 90:]
        s90 = self.seen[:, W - 90:]
        nd = s90.sum(axis=1)
        mean90 = _div(np.where(s90, D90, 0.0).sum(axis=1), nd)
        sd90 = np.sqrt(_div((np.where(s90, D90 - mean90[:, None], 0.0) ** 2).sum(axis=1), nd))
        f["daily_sales_cv_90d"] = np.where(nd >= 30, _div(sd90, mean90), np.nan)
        pos = D90 > 0
        logs = np.log(np.where(pos, D90, 1.0))
        npos = pos.sum(axis=1)
        lmean = _div((logs * pos).sum(axis=1), npos)
        lvar = _div(((logs - lmean[:, None]) ** 2 * pos).sum(axis=1), npos - 1)
        f["log_daily_sales_sd_90d"] = np.where(npos >= 20, np.sqrt(lvar), np.nan)
        # Noise after the weekly pattern: log sales minus the mean log of the same weekday (91 days).
        D91 = S[:, W - 91:].reshape(n, 13, 7)
        p91 = D91 > 0
        l91 = np.log(np.where(p91, D91, 1.0))
        cnt_wd = p91.sum(axis=1)
        mean_wd = _div((l91 * p91).sum(axis=1), cnt_wd)
        resid = np.where(p91, l91 - np.nan_to_num(mean_wd)[:, None, :], 0.0)
        dof = p91.sum(axis=(1, 2)) - (cnt_wd > 0).sum(axis=1)
        f["sales_noise_91d"] = np.where(dof >= 15, np.sqrt(_div((resid ** 2).sum(axis=(1, 2)), dof)), np.nan)
        wk_ok = nweeks >= 8
        wsd = np.sqrt(_div((np.where(wseen, weeks - wmean[:, None], 0.0) ** 2).sum(axis=1), nweeks))
        f["weekly_sales_cv_26w"] = np.where(wk_ok, _div(wsd, wmean), np.nan)
        f["monthly_sales_cv_12m"] = np.where(hist >= 360, _div(M12.std(axis=1), M12.mean(axis=1)), np.nan)
        f["worst_month_to_average_12m"] = np.where(hist >= 360, _div(M12[:, -6:].min(axis=1), M12.mean(axis=1)),
                                                   np.nan)
        f["sales_dip_vs_last_year"] = np.where(
            hist >= 730, _div(_div(S30, win(cS, 30, 365)), _div(win(cS, 365), win(cS, 365, 365))) - 1.0, np.nan)
        s91 = self.seen[:, W - 91:].reshape(n, 13, 7).sum(axis=1)  # seen days per position in the 7-day cycle
        wk = _div(S[:, W - 91:].reshape(n, 13, 7).sum(axis=1), s91)  # mean sales per weekday position
        weekday0 = (self.panel_start + (W - 91) + 3) % 7  # weekday (Mon=0) of the first of those 91 days
        wd = (weekday0[:, None] + np.arange(7)[None, :]) % 7
        wk_total = wk.sum(axis=1)
        wk_ok = s91.min(axis=1) >= 4
        f["weekend_sales_share_90d"] = np.where(wk_ok, _div((wk * (wd >= 5)).sum(axis=1), wk_total), np.nan)
        f["quietest_weekday_share_91d"] = np.where(wk_ok, _div(wk.min(axis=1) * 7.0, wk_total), np.nan)

        # refunds and chargebacks (rates against card sales; NaN for sources without a sale kind)
        SL90, SL180, SL365 = win(cSALE, 90), win(cSALE, 180), win(cSALE, 365)
        sale_ok = has_sale & ok30
        f["refund_rate_90d"] = np.where(sale_ok, _div(win(cREF, 90), SL90), np.nan)
        f["refund_rate_365d"] = np.where(sale_ok, _div(win(cREF, 365), SL365), np.nan)
        older_rate = _div(win(cREF, 275, 90), win(cSALE, 275, 90))
        f["refund_rate_change"] = np.where(sale_ok & (hist >= 150), _div(f["refund_rate_90d"], older_rate) - 1.0,
                                           np.nan)
        f["chargebacks_per_10k_sales_365d"] = np.where(sale_ok, _div(win(cCBN, 365) * 1e4, SL365), np.nan)
        f["chargeback_rate_180d"] = np.where(sale_ok, _div(win(cCB, 180), SL180), np.nan)
        f["chargebacks_90d"] = np.where(sale_ok, win(cCBN, 90) * 90.0 / av(90), np.nan)
        f["largest_refund_day_to_daily_sales_90d"] = np.where(
            sale_ok, _div(REF[:, W - 90:].max(axis=1), SL90 / av(90)), np.nan)

        # cash flow
        O90, O365 = win(cOUT, 90), win(cOUT, 365)
        net90 = R90 - O90
        f["net_inflow_monthly_90d"] = np.where(ok30, net90 * 30.0 / av(90), np.nan)
        f["net_margin_90d"] = np.where(ok30, _div(net90, R90), np.nan)
        f["inflow_to_outflow_365d"] = np.where(hist >= 90, _div(R365, O365), np.nan)
        MR, MO = self.months(R, 12), self.months(OUTALL, 12)
        f["negative_net_months_share_12m"] = np.where(nmonths >= 3, _div(((MO > MR) & mseen).sum(axis=1), nmonths),
                                                      np.nan)
        monthly_exp = _div(win(cEXP, 90) * 30.0, av(90))
        close, low = self._balance_panels()
        bal_ok = self.has_balance & ok30
        last_close = close[:, -1]
        low90 = np.where(np.isnan(low[:, -90:]), np.inf, low[:, -90:]).min(axis=1)
        f["cash_cover_last"] = np.where(bal_ok, _div(last_close, monthly_exp), np.nan)
        f["cash_cover_min_90d"] = np.where(bal_ok & np.isfinite(low90), _div(low90, monthly_exp), np.nan)
        c90 = close[:, -90:]
        nvalid = (~np.isnan(c90)).sum(axis=1)
        mean_close = _div(np.where(np.isnan(c90), 0.0, c90).sum(axis=1), nvalid)
        f["cash_cover_mean_90d"] = np.where(bal_ok, _div(mean_close, monthly_exp), np.nan)
        f["balance_mean_90d"] = np.where(bal_ok, mean_close, np.nan)
        neg = np.where(np.isnan(low), False, low < 0)
        f["negative_balance_days_90d"] = np.where(bal_ok, neg[:, -90:].sum(axis=1) * 90.0 / av(90), np.nan)
        last_neg = np.where(neg.any(axis=1), W - 1 - np.argmax(neg[:, ::-1], axis=1), -1)
        f["days_since_negative_balance"] = np.where(
            bal_ok, np.where(last_neg >= 0, (W - last_neg).astype(float), np.minimum(hist, NEVER_NEGATIVE)), np.nan)
        back = np.clip(hist - 1, 0, 90).astype(np.int64)
        then = close[np.arange(n), W - 1 - back]
        f["balance_change_90d"] = np.where(bal_ok & (back >= 30), _div(last_close - then, monthly_exp), np.nan)
        INT = self.cum(self.panel(outflow & (kind == KIND["interest"])))
        FEE = self.cum(self.panel(outflow & (kind == KIND["fee"])))
        f["interest_paid_to_revenue_180d"] = np.where(ok30, _div(win(INT, 180), R180), np.nan)
        f["fees_to_revenue_90d"] = np.where(ok30, _div(win(FEE, 90), R90), np.nan)

        self._obligations(f, outflow, kind, R90, ok30)
        self._counterparties(f, R, R90, R180, hist)
        self._metrics(f)

        # tenure
        f["business_age_days"] = self.as_of - self.established
        f["days_since_onboarding"] = self.as_of - self.onboarded
        has_hist = hist > 0
        f["history_days"] = np.where(has_hist, hist, np.nan)
        f["active_days_share_90d"] = np.where(ok30, active90 / av(90), np.nan)
        active = R > 0
        f["longest_gap_365d"] = np.where(ok30, _longest_false_run(active[:, W - 365:], av(365).astype(np.int64)),
                                         np.nan)
        any_in = active.any(axis=1)
        last_in = W - 1 - np.argmax(active[:, ::-1], axis=1)
        f["days_since_last_inflow"] = np.where(has_hist, np.where(any_in, (W - last_in).astype(float),
                                                                  np.minimum(hist, W)), np.nan)

        # debt
        self._loans(f, outflow, inflow, kind, monthly_rev, hist)

        # anomaly (scale-invariant ratios of daily rates; NaN without a baseline of 30+ days)
        f["sales_spike_14d"] = rate_change(win(cS, 14), 14.0, win(cS, 90, 14), np.clip(hist - 14, 0, 90), 30) + 1.0
        f["sales_spike_35d"] = rate_change(win(cS, 35), 35.0, win(cS, 90, 35), np.clip(hist - 35, 0, 90), 30) + 1.0
        OTHER = self.cum(R - SALE)
        f["other_inflow_spike_30d"] = np.where(
            has_sale, rate_change(win(OTHER, 30), 30.0, win(OTHER, 90, 30), np.clip(hist - 30, 0, 90), 45) + 1.0,
            np.nan)
        before = S[:, W - 120:W - 30]
        bpos = before > 0
        med = _masked_median(before, bpos)
        f["max_day_to_median_30d"] = np.where(bpos.sum(axis=1) >= 20, _div(S[:, W - 30:].max(axis=1), med), np.nan)

        # burden: the request against what the history supports, through the one function a decision
        # also uses to weigh other amounts of the same request (request_features)
        net_monthly = np.where(ok30, net90 * 30.0 / av(90), np.nan)
        bases = np.column_stack([monthly_rev, net_monthly, self._external_service, monthly_net_rev,
                                 self._largest_loan])
        f.update(zip(REQUEST_BASE_NAMES, bases.T, strict=True))
        f.update(_burden(self.amount, self.term, bases))
        return f

    def _balance_panels(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, W) closing balance carried forward over days without rows, and the day's low (NaN before
        the first known balance)."""
        n, W = self.n, PANEL_DAYS
        close = np.full((n, W), np.nan)
        low = np.full((n, W), np.nan)
        if self.bday.size:
            col = self.bday - self.panel_start[self.bm]
            inside = col >= 0
            close[self.bm[inside], col[inside]] = self.bclose[inside]
            low[self.bm[inside], col[inside]] = self.bmin[inside]
            # The last balance before the panel opens it (rows are day-sorted per merchant).
            pre = np.flatnonzero(~inside)
            if pre.size:
                last = np.full(n, -1, dtype=np.int64)
                np.maximum.at(last, self.bm[pre], pre)
                has = (last >= 0) & np.isnan(close[:, 0])
                close[has, 0] = self.bclose[last[has]]
        known = ~np.isnan(close)
        idx = np.where(known, np.arange(W)[None, :], 0)
        np.maximum.accumulate(idx, axis=1, out=idx)
        filled = close[np.arange(n)[:, None], idx]
        low = np.where(np.isnan(low), filled, low)
        return filled, low

    def _obligations(self, f, outflow, kind, R90, ok30) -> None:
        n = self.n
        age = self.as_of[self.dm] - self.dday  # 1 = the day before as_of
        year = age <= 365
        dom, mlen, plen = self.ddom, self.dmlen, self.dplen
        months_known = np.clip(self.history_days / 30.44, 1.0, 12.0)
        late_n = np.zeros(n)
        late_recent = np.zeros(n)
        pay_n = np.zeros(n)
        pay_recent = np.zeros(n)
        max_delay = np.full(n, np.nan)
        seen = {}
        gaps_dev = []
        for name in ("rent", "payroll", "tax", "supplier_payment", "loan_repayment"):
            rows = outflow & (kind == KIND[name])
            seen[name] = np.bincount(self.dm[rows], minlength=n) > 0
            sel = np.flatnonzero(rows & year)
            m, day = self.dm[sel], self.dday[sel].astype(np.float64)
            same = m[1:] == m[:-1]
            gm, gap = m[1:][same], np.diff(day)[same]
            cnt, mean, med = _group_stats(gm, gap, n)
            if name == "supplier_payment":
                sd = np.sqrt(_group_stats(gm, (gap - mean[gm]) ** 2, n)[1])
                f["supplier_payment_gap_cv_12m"] = np.where(seen[name] & (cnt >= 3), _div(sd, mean), np.nan)
                continue
            if name in ("rent", "payroll"):
                gaps_dev.append((gm, np.abs(gap - med[gm])))
                recent = rows & (age <= 180)
                bucket = ((age[recent] - 1) // 30).astype(np.int64)
                paid = np.zeros((n, 6), dtype=bool)
                paid[self.dm[recent], bucket] = True
                months6 = np.clip(self.history_days // 30, 0, 6)
                f[f"{name}_paid_months_share_6m"] = np.where(seen[name] & (months6 >= 2),
                                                             _div(paid.sum(axis=1), months6), np.nan)
            if name == "loan_repayment":
                continue  # several loans may share the kind with different due days: no usual day
            # Delay after the usual day of the month (the most frequent one in the last 12 months).
            key = m * 32 + dom[sel]
            counts = np.bincount(key, minlength=n * 32).reshape(n, 32)
            usual = np.argmax(counts, axis=1)
            npay = counts.sum(axis=1)
            monthly = (npay >= 3) & (npay <= 1.5 * months_known)  # a monthly (or rarer) obligation
            u = usual[m]
            due_this = np.minimum(u, mlen[sel])
            due_prev = np.minimum(u, plen[sel])
            dd = dom[sel]
            delay = np.where(dd >= due_this, dd - due_this, np.where(due_this - dd <= 7, dd - due_this,
                                                                     dd + plen[sel] - due_prev))
            delay = np.maximum(delay, 0).astype(np.float64)
            ok_rows = monthly[m]
            cnt_k = np.bincount(m[ok_rows], minlength=n).astype(np.float64)
            mean_delay = _div(np.bincount(m[ok_rows], weights=delay[ok_rows], minlength=n), cnt_k)
            if name in ("rent", "payroll", "tax"):
                f[f"{name}_days_late_avg_12m"] = np.where(seen[name] & monthly, mean_delay, np.nan)
            is_late = (delay >= LATE_DAYS) & ok_rows
            late_n += np.bincount(m, weights=is_late.astype(float), minlength=n)
            pay_n += cnt_k
            rec = ok_rows & (age[sel] <= 90)
            late_recent += np.bincount(m[rec], weights=is_late[rec].astype(float), minlength=n)
            pay_recent += np.bincount(m[rec], minlength=n)
            mx = np.full(n, -np.inf)
            if ok_rows.any():
                np.maximum.at(mx, m[ok_rows], delay[ok_rows])
            max_delay = np.where(np.isfinite(mx), np.fmax(max_delay, mx), max_delay)
        gm = np.concatenate([g for g, _ in gaps_dev])
        dev = np.concatenate([d for _, d in gaps_dev])
        cnt, mad, _ = _group_stats(gm, dev, n)
        f["obligation_timing_irregularity_12m"] = np.where(cnt >= 3, mad, np.nan)
        f["late_payment_share_12m"] = np.where(pay_n >= 3, _div(late_n, pay_n), np.nan)
        f["late_payment_share_90d"] = np.where(pay_recent >= 2, _div(late_recent, pay_recent), np.nan)
        f["max_payment_delay_12m"] = np.where(pay_n >= 3, max_delay, np.nan)
        recent90 = age <= 90
        fixed_rows = outflow & recent90 & np.isin(kind, [KIND["rent"], KIND["payroll"]])
        fixed = np.bincount(self.dm[fixed_rows], weights=self.dtotal[fixed_rows], minlength=n)
        sup_rows = outflow & recent90 & (kind == KIND["supplier_payment"])
        sup = np.bincount(self.dm[sup_rows], weights=self.dtotal[sup_rows], minlength=n)
        classified = seen["rent"] | seen["payroll"] | seen["supplier_payment"] | seen["tax"]
        f["fixed_costs_to_revenue_90d"] = np.where(classified & ok30, _div(fixed, R90), np.nan)
        f["supplier_payments_to_revenue_90d"] = np.where(classified & ok30, _div(sup, R90), np.nan)

    def _counterparties(self, f, R, R90, R180, hist) -> None:
        n, W = self.n, PANEL_DAYS
        names = ("top_customer_share_180d", "paying_counterparties_180d", "payee_counterparties_180d",
                 "top_payee_share_180d", "processor_share_90d", "new_counterparty_share_35d",
                 "top2_payer_share_30d", "round_trip_share_35d")
        if not self.cday.size:
            for name in names:
                f[name] = np.full(n, np.nan)
            return
        age = self.as_of[self.cm] - self.cday
        ok = self.has_cp & (hist >= 30)
        # Groups: (merchant, counterparty).
        key = self.cm * (int(self.ccp.max()) + 1) + self.ccp
        ukey, first_idx, inv = np.unique(key, return_index=True, return_inverse=True)
        gm = self.cm[first_idx]
        g = ukey.size
        is_in = self.cdir == IN
        is_out = self.cdir == OUT
        ones = np.ones_like(self.ctotal)

        def gsum(sel, weights=None):
            w = self.ctotal if weights is None else weights
            return np.bincount(inv[sel], weights=w[sel], minlength=g)

        def per_merchant(values):
            return np.bincount(gm, weights=values, minlength=n)

        first_seen = np.full(g, np.iinfo(np.int64).max)
        np.minimum.at(first_seen, inv, self.cday)
        first_age = self.as_of[gm] - first_seen
        # Payment processors: pay in on at least a third of the merchant's inflow days (180 days, at
        # least 10 days) and were first seen PROCESSOR_MIN_AGE+ days before.
        in180 = is_in & (age <= 180)
        in_days = gsum(in180, ones)
        merchant_in_days = (R[:, W - 180:] > 0).sum(axis=1).astype(float)
        established = (first_age >= PROCESSOR_MIN_AGE) | (first_seen - self.first_day[gm] <= 14)
        processor = (in_days >= PROCESSOR_MIN_SHARE * merchant_in_days[gm]) & (in_days >= 10) & established
        in_total180 = gsum(in180)
        top = np.zeros(n)
        np.maximum.at(top, gm, np.where(processor, 0.0, in_total180))
        f["top_customer_share_180d"] = np.where(ok, np.minimum(_div(top, R180), 1.0), np.nan)
        f["paying_counterparties_180d"] = np.where(ok, per_merchant((in_total180 > 0).astype(float)), np.nan)
        out_total = gsum(is_out & (age <= 180))
        f["payee_counterparties_180d"] = np.where(ok, per_merchant((out_total > 0).astype(float)), np.nan)
        top_out = np.zeros(n)
        np.maximum.at(top_out, gm, out_total)
        f["top_payee_share_180d"] = np.where(ok, _div(top_out, per_merchant(out_total)), np.nan)
        in90 = gsum(is_in & (age <= 90))
        f["processor_share_90d"] = np.where(ok, np.minimum(_div(per_merchant(np.where(processor, in90, 0.0)), R90),
                                                           1.0), np.nan)
        # Anomalies: new payers, concentration on a few payers, money sent back to payers.
        R35 = R[:, W - 35:].sum(axis=1)
        in35 = gsum(is_in & (age <= 35))
        new = first_age <= 35
        f["new_counterparty_share_35d"] = np.where(ok & (hist >= 60), np.minimum(
            _div(per_merchant(np.where(new, in35, 0.0)), R35), 1.0), np.nan)
        in30 = np.where(processor, 0.0, gsum(is_in & (age <= 30)))
        R30 = R[:, W - 30:].sum(axis=1)
        order = np.lexsort((-in30, gm))
        starts = np.concatenate(([0], np.flatnonzero(np.diff(gm[order]) != 0) + 1))
        rank = np.empty(g, dtype=np.int64)
        rank[order] = np.arange(g) - np.repeat(starts, np.diff(np.concatenate((starts, [g]))))
        top2 = per_merchant(np.where(rank < 2, in30, 0.0))
        f["top2_payer_share_30d"] = np.where(ok, np.minimum(_div(top2, R30), 1.0), np.nan)
        out35 = gsum(is_out & (age <= 35))
        back = np.where(processor, 0.0, np.minimum(in35, out35))
        f["round_trip_share_35d"] = np.where(ok, np.minimum(_div(per_merchant(back), R35), 1.0), np.nan)

    def _metrics(self, f) -> None:
        n = self.n
        age = self.as_of[self.mm] - self.mday

        def mean_over(name, lo, hi):
            sel = (self.mname == name) & (age > lo) & (age <= hi)
            c = np.bincount(self.mm[sel], minlength=n)
            s = np.bincount(self.mm[sel], weights=self.mvalue[sel], minlength=n)
            return _div(s, c)

        def last(name):
            sel = np.flatnonzero(self.mname == name)
            out = np.full(n, np.nan)
            if sel.size:
                idx = np.full(n, -1, dtype=np.int64)
                np.maximum.at(idx, self.mm[sel], sel)
                has = idx >= 0
                out[has] = self.mvalue[idx[has]]
            return out

        f["rating_last"] = last("rating")
        f["rating_6m"] = mean_over("rating", 0, 183)
        f["rating_change_6m"] = mean_over("rating", 0, 92) - mean_over("rating", 182, 274)
        f["dispute_rate_3m"] = mean_over("dispute_rate", 0, 92)
        f["dispute_rate_change_6m"] = _div(f["dispute_rate_3m"], mean_over("dispute_rate", 92, 184)) - 1.0
        f["return_rate_3m"] = mean_over("return_rate", 0, 92)
        f["late_shipment_rate_3m"] = mean_over("late_shipment_rate", 0, 92)
        f["listings_change_6m"] = _div(last("active_listings"), mean_over("active_listings", 150, 213)) - 1.0
        latest = np.full(n, -1, dtype=np.int64)
        if self.mday.size:
            np.maximum.at(latest, self.mm, self.mday)
        f["metrics_age_days"] = np.where(latest >= 0, (self.as_of - latest).astype(float), np.nan)

    def _loans(self, f, outflow, inflow, kind, monthly_rev, hist) -> None:
        n = self.n
        m = self.lm
        st = self.lstatus

        def count(sel):
            return np.bincount(m[sel], minlength=n).astype(float)

        f["prior_loans_repaid"] = count(st == REPAID)
        f["prior_loans_defaulted"] = count(st == DEFAULTED)
        f["prior_loans_current"] = count(st == CURRENT)
        latest = np.full(n, -1, dtype=np.int64)
        if m.size:
            np.maximum.at(latest, m, self.lorig)
        f["months_since_last_loan"] = np.where(latest >= 0, np.floor((self.as_of - latest) / 30.44), np.nan)
        largest = np.zeros(n)
        if m.size:
            np.maximum.at(largest, m, self.lamount)
        self._largest_loan = np.where(largest > 0, largest, np.nan)
        # Running loans at the reference rate: remaining principal after the months elapsed, instalment.
        r = REFERENCE_APR / 12.0
        growth = (1 + r) ** self.lterm
        elapsed = np.clip(np.floor((self.as_of[m] - self.lorig) / 30.44), 0, self.lterm)
        remaining = self.lamount * (growth - (1 + r) ** elapsed) / (growth - 1)
        running = st == CURRENT
        owed = np.bincount(m, weights=np.where(running, remaining, 0.0), minlength=n)
        f["outstanding_principal_to_revenue"] = _div(owed, monthly_rev)
        # Debt service from the flows: the median of the last three 30-day repayment totals (a renewal's
        # lump-sum payoff is not a monthly instalment); what the credit record does not explain is owed
        # to other lenders.
        repay = outflow & (kind == KIND["loan_repayment"])

        def monthly_service(rows):
            mrep = self.months(self.panel(rows), 3)
            return np.where(hist >= 90, np.median(mrep, axis=1), np.where(hist >= 30, mrep[:, -1], np.nan))

        service = monthly_service(repay)
        # Instalments of loans in the credit record fall due on their origination's day of the month
        # (clamped to the month's end): repayments on other days go to other lenders.
        recent = self.lorig >= self.as_of[m] - PANEL_DAYS
        lender_dom = np.zeros((n, 33), dtype=bool)
        ldom = (self.lorig.astype("datetime64[D]") - self.lorig.astype("datetime64[D]").astype("datetime64[M]")
                .astype("datetime64[D]")).astype(np.int64) + 1
        lender_dom[m[recent], ldom[recent]] = True
        later = np.flip(np.logical_or.accumulate(np.flip(lender_dom, axis=1), axis=1), axis=1)  # any due day >= d
        ours = lender_dom[self.dm, self.ddom] | ((self.ddom == self.dmlen) & later[self.dm, np.minimum(self.ddom, 32)])
        external = monthly_service(repay & ~ours)
        self._external_service = np.where(np.isnan(external), 0.0, external)
        f["debt_service_to_revenue_90d"] = _div(service, monthly_rev)
        f["external_debt_service_to_revenue"] = _div(external, monthly_rev)
        disb = self.panel(inflow & (kind == KIND["loan_disbursement"]), np.ones_like(self.dtotal))
        f["loan_disbursements_180d"] = np.where(hist >= 30, disb[:, PANEL_DAYS - 180:].sum(axis=1), np.nan)


def _masked_median(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row medians of x over the masked cells (NaN for rows without any)."""
    k = mask.sum(axis=1)
    srt = np.sort(np.where(mask, x, np.inf), axis=1)
    out = np.full(x.shape[0], np.nan)
    has = k > 0
    rows = np.flatnonzero(has)
    lo = (k[has] - 1) // 2
    hi = k[has] // 2
    out[has] = 0.5 * (srt[rows, lo] + srt[rows, hi])
    return out


def _longest_false_run(active: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Longest run of False per row, counting only the last `span[i]` columns of row i."""
    n, w = active.shape
    inside = np.arange(w)[None, :] >= (w - span[:, None])
    gap = inside & ~active
    # Run length = gaps so far minus gaps counted at the latest non-gap cell.
    c = np.cumsum(gap, axis=1)
    reset = np.where(gap, 0, c)
    np.maximum.accumulate(reset, axis=1, out=reset)
    return (c - reset).max(axis=1).astype(np.float64) if w else np.zeros(n)
