"""Rent, payroll, tax and supplier payments: regularity, months paid, days late after the usual day
of the month, and fixed costs against revenue. A source that classifies no expense (a bank statement)
has its recurring transfers read as rent (monthly) and payroll (fortnightly): recurring.py."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div, group_stats
from underwriting.features.chunk import Chunk
from underwriting.features.flows import Flows
from underwriting.features.history import KIND
from underwriting.features.recurring import Recurring, find_recurring

LATE_DAYS = 4  # a monthly obligation paid this many days after its usual day of the month is late
DUE_DAY_KINDS = ("rent", "payroll", "tax")  # monthly obligations with a usual day of the month
REGULAR_KINDS = ("rent", "payroll")  # obligations expected every month at a regular interval


def obligation_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    n = chunk.n
    age = chunk.as_of[chunk.dm] - chunk.dday  # 1 = the day before as_of
    months_known = np.clip(chunk.history_days / 30.44, 1.0, 12.0)
    seen = {}
    lateness = _Lateness(n)
    deviations = []  # per rent and payroll: (merchant, |interval - the merchant's median interval|)
    recurring = find_recurring(chunk, flows.outflow, flows.classifies)
    inferred = {"rent": recurring.monthly, "payroll": recurring.fortnightly}
    for name in ("rent", "payroll", "tax", "supplier_payment"):
        rows = flows.outflow & (chunk.dkind == KIND[name])
        if name in inferred:
            rows = rows | inferred[name]
        seen[name] = np.bincount(chunk.dm[rows], minlength=n) > 0
        year_rows = np.flatnonzero(rows & (age <= 365))
        merchant, gap = _intervals(chunk, year_rows)
        if name == "supplier_payment":
            count, mean, _ = group_stats(merchant, gap, n)
            sd = np.sqrt(group_stats(merchant, (gap - mean[merchant]) ** 2, n)[1])
            f["supplier_payment_gap_cv_12m"] = np.where(seen[name] & (count >= 3), div(sd, mean), np.nan)
            continue
        if name in REGULAR_KINDS:
            median = group_stats(merchant, gap, n)[2]
            deviations.append((merchant, np.abs(gap - median[merchant])))
            f[f"{name}_paid_months_share_6m"] = _paid_months_share(chunk, rows & (age <= 180), age, seen[name])
        delay, monthly = _delays(chunk, year_rows, months_known)
        mean_delay = lateness.add(chunk.dm[year_rows], delay, monthly, age[year_rows] <= 90)
        f[f"{name}_days_late_avg_12m"] = np.where(seen[name] & monthly, mean_delay, np.nan)
    merchant = np.concatenate([m for m, _ in deviations])
    count, mad, _ = group_stats(merchant, np.concatenate([d for _, d in deviations]), n)
    f["obligation_timing_irregularity_12m"] = np.where(count >= 3, mad, np.nan)
    lateness.features(f)
    _cost_shares(chunk, flows, f, age <= 90, seen, recurring)


def _intervals(chunk: Chunk, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days between consecutive payments of the same merchant (rows day-sorted per merchant), with
    each interval's merchant."""
    merchant, day = chunk.dm[rows], chunk.dday[rows].astype(np.float64)
    same = merchant[1:] == merchant[:-1]
    return merchant[1:][same], np.diff(day)[same]


def _paid_months_share(chunk: Chunk, recent: np.ndarray, age: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Share of the last six 30-day months (inside the history, at least 2) with a payment."""
    bucket = ((age[recent] - 1) // 30).astype(np.int64)
    paid = np.zeros((chunk.n, 6), dtype=bool)
    paid[chunk.dm[recent], bucket] = True
    months6 = np.clip(chunk.history_days // 30, 0, 6)
    return np.where(seen & (months6 >= 2), div(paid.sum(axis=1), months6), np.nan)


def _delays(chunk: Chunk, rows: np.ndarray, months_known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each payment's days after the usual day of the month (the merchant's most frequent one in the
    rows), and per merchant whether the obligation is monthly (or rarer)."""
    n = chunk.n
    merchant, dom, prev_len = chunk.dm[rows], chunk.ddom[rows], chunk.dplen[rows]
    counts = np.bincount(merchant * 32 + dom, minlength=n * 32).reshape(n, 32)
    usual = np.argmax(counts, axis=1)[merchant]
    npay = counts.sum(axis=1)
    monthly = (npay >= 3) & (npay <= 1.5 * months_known)
    due_this = np.minimum(usual, chunk.dmlen[rows])
    due_prev = np.minimum(usual, prev_len)
    # Paid up to a week early counts as this month's (no delay); earlier, as the previous month's, late.
    delay = np.where(dom >= due_this, dom - due_this, np.where(due_this - dom <= 7, dom - due_this,
                                                               dom + prev_len - due_prev))
    return np.maximum(delay, 0).astype(np.float64), monthly


class _Lateness:
    """Late payments over the monthly obligations of all kinds (12 months and the last 90 days)."""

    def __init__(self, n: int):
        self.n = n
        self.late = np.zeros(n)
        self.late_recent = np.zeros(n)
        self.paid = np.zeros(n)
        self.paid_recent = np.zeros(n)
        self.max_delay = np.full(n, np.nan)

    def add(self, merchant: np.ndarray, delay: np.ndarray, monthly: np.ndarray, recent: np.ndarray) -> np.ndarray:
        """Count one kind's payments (of its monthly merchants); returns the kind's mean delay."""
        n = self.n
        ok = monthly[merchant]
        count = np.bincount(merchant[ok], minlength=n).astype(np.float64)
        mean_delay = div(np.bincount(merchant[ok], weights=delay[ok], minlength=n), count)
        is_late = (delay >= LATE_DAYS) & ok
        self.late += np.bincount(merchant, weights=is_late.astype(float), minlength=n)
        self.paid += count
        rec = ok & recent
        self.late_recent += np.bincount(merchant[rec], weights=is_late[rec].astype(float), minlength=n)
        self.paid_recent += np.bincount(merchant[rec], minlength=n)
        longest = np.full(n, -np.inf)
        if ok.any():
            np.maximum.at(longest, merchant[ok], delay[ok])
        self.max_delay = np.where(np.isfinite(longest), np.fmax(self.max_delay, longest), self.max_delay)
        return mean_delay

    def features(self, f: dict[str, np.ndarray]) -> None:
        f["late_payment_share_12m"] = np.where(self.paid >= 3, div(self.late, self.paid), np.nan)
        f["late_payment_share_90d"] = np.where(self.paid_recent >= 2, div(self.late_recent, self.paid_recent),
                                               np.nan)
        f["max_payment_delay_12m"] = np.where(self.paid >= 3, self.max_delay, np.nan)


def _cost_shares(chunk: Chunk, flows: Flows, f, recent90: np.ndarray, seen: dict[str, np.ndarray],
                 recurring: Recurring) -> None:
    n, outflow, kind = chunk.n, flows.outflow, chunk.dkind
    fixed_rows = outflow & recent90 & np.isin(kind, [KIND["rent"], KIND["payroll"]])
    fixed = np.bincount(chunk.dm[fixed_rows], weights=chunk.dtotal[fixed_rows], minlength=n).astype(np.float64)
    # inferred payments count at their own amount, not the day's whole row
    found = recent90 & (recurring.monthly | recurring.fortnightly)
    fixed += np.bincount(chunk.dm[found], weights=recurring.amount[found], minlength=n)
    supplier_rows = outflow & recent90 & (kind == KIND["supplier_payment"])
    supplier = np.bincount(chunk.dm[supplier_rows], weights=chunk.dtotal[supplier_rows], minlength=n)
    classified = flows.classifies & flows.ok30
    inferred = (seen["rent"] | seen["payroll"]) & flows.ok30
    f["fixed_costs_to_revenue_90d"] = np.where(classified | inferred, div(fixed, flows.revenue_90d), np.nan)
    f["supplier_payments_to_revenue_90d"] = np.where(classified, div(supplier, flows.revenue_90d), np.nan)
