"""DC_BALANCE_MISMATCH: balances that do not add up (see consistency.py for the rationale)."""

from __future__ import annotations

import numpy as np

from underwriting.history.ingest.check_result import CheckResult, day_text, pct
from underwriting.history.ingest.history_rows import Prepared, day_segments

# DC_BALANCE_MISMATCH
BALANCE_MIN_CHECKABLE = 10
BALANCE_WINDOW_DAYS = 3  # days with rows either side where the row before may be dated (posting lags)
BALANCE_TOLERANCE_MINOR = 1
BALANCE_MIN_BROKEN = 3
BALANCE_BROKEN_SHARE = 0.05


def _match_runs(before_rank: list[int], after_rank: list[int]) -> tuple[list[int], list[int]]:
    """Greedy one-to-one matching of two ascending lists of day ranks within BALANCE_WINDOW_DAYS (optimal
    for intervals of equal width): the indexes of the befores left unmatched and of the afters used."""
    unmatched, used, j = [], [], 0
    for i, r in enumerate(before_rank):
        while j < len(after_rank) and after_rank[j] < r - BALANCE_WINDOW_DAYS:
            j += 1
        if j < len(after_rank) and after_rank[j] <= r + BALANCE_WINDOW_DAYS:
            used.append(j)
            j += 1
        else:
            unmatched.append(i)
    return unmatched, used


def _unmatched_befores(b_value: np.ndarray, b_rank: np.ndarray, a_value: np.ndarray, a_rank: np.ndarray,
                       a_used: np.ndarray) -> np.ndarray:
    """Indexes of the befores that find no unused after of the same value within the window; marks the
    afters used. Values held by one before and one after (nearly all of a genuine history) are settled
    vectorised, the rest value by value."""
    values, inverse = np.unique(np.r_[b_value, a_value[~a_used]], return_inverse=True)
    inverse = inverse.reshape(-1)
    free = np.flatnonzero(~a_used)
    b_id, a_id = inverse[:b_value.size], inverse[b_value.size:]
    nb = np.bincount(b_id, minlength=values.size)
    na = np.bincount(a_id, minlength=values.size)
    left = np.zeros(b_value.size, dtype=bool)
    simple = (nb == 1) & (na == 1)
    b_simple = np.flatnonzero(simple[b_id])
    a_of_value = np.full(values.size, -1, dtype=np.int64)
    a_simple = np.flatnonzero(simple[a_id])
    a_of_value[a_id[a_simple]] = free[a_simple]
    partner = a_of_value[b_id[b_simple]]
    ok = np.abs(a_rank[partner] - b_rank[b_simple]) <= BALANCE_WINDOW_DAYS
    a_used[partner[ok]] = True
    left[b_simple[~ok]] = True
    left[(na == 0)[b_id]] = True
    busy = np.flatnonzero((nb >= 1) & (na >= 1) & ~simple)
    if busy.size:
        b_busy = np.flatnonzero(np.isin(b_id, busy))
        a_busy = np.flatnonzero(np.isin(a_id, busy))
        b_busy = b_busy[np.lexsort((b_rank[b_busy], b_id[b_busy]))]
        a_busy = a_busy[np.lexsort((a_rank[free[a_busy]], a_id[a_busy]))]
        b_cuts = np.searchsorted(b_id[b_busy], busy)
        a_cuts = np.searchsorted(a_id[a_busy], busy)
        b_ends = np.r_[b_cuts[1:], b_busy.size]
        a_ends = np.r_[a_cuts[1:], a_busy.size]
        for k in range(busy.size):
            bs = b_busy[b_cuts[k]:b_ends[k]]
            as_ = free[a_busy[a_cuts[k]:a_ends[k]]]
            misses, taken = _match_runs(b_rank[bs].tolist(), a_rank[as_].tolist())
            left[bs[misses]] = True
            a_used[as_[taken]] = True
    return np.flatnonzero(left)


def check_balance(p: Prepared) -> CheckResult:
    code = "DC_BALANCE_MISMATCH"
    has = ~np.isnan(p.balance)
    if not has.any():
        return CheckResult(code, False, False, "No balances are reported, so they cannot be checked.",
                           (("checkable", 0.0),))
    bal = np.rint(np.where(has, p.balance, 0.0)).astype(np.int64)
    signed = p.signed.copy()
    starts, sizes, _ = day_segments(p.day)
    rank = np.repeat(np.arange(starts.size), sizes)  # index of the row's day among the days with rows
    complete = np.bincount(rank, weights=(~has).astype(np.float64), minlength=starts.size) == 0
    # Some exports print the day's closing balance on each of the day's rows: such a day (two or more rows,
    # one balance) is read as one row carrying the day's net amount.
    lo_bal = np.minimum.reduceat(np.where(has, bal, np.iinfo(np.int64).max), starts)
    hi_bal = np.maximum.reduceat(np.where(has, bal, np.iinfo(np.int64).min), starts)
    closing_only = complete & (sizes >= 2) & (lo_bal == hi_bal)
    keep = np.ones(bal.size, dtype=bool)
    if closing_only.any():
        net = np.add.reduceat(signed, starts)
        first = starts[closing_only]
        signed[first] = net[closing_only]
        keep[np.flatnonzero(closing_only[rank])] = False
        keep[first] = True
    # A row is checkable when its day and the previous day with rows give every balance.
    prev_complete = np.r_[False, complete[:-1]]
    checkable = keep & has & complete[rank] & prev_complete[rank] & (np.abs(signed) > BALANCE_TOLERANCE_MINOR)
    n_check = int(checkable.sum())
    if n_check < BALANCE_MIN_CHECKABLE:
        noun = "balance" if n_check == 1 else "balances"
        return CheckResult(code, False, False,
                           f"Only {n_check} {noun} can be checked against the balance before them (at least "
                           f"{BALANCE_MIN_CHECKABLE} are needed: every row of two consecutive days needs one).",
                           (("checkable", float(n_check)),))
    # Each checkable row's balance before it must be the balance after exactly one other row, dated within
    # BALANCE_WINDOW_DAYS days with rows either side (one cent of rounding allowed).
    b_idx = np.flatnonzero(checkable)
    b_value, b_rank = bal[b_idx] - signed[b_idx], rank[b_idx]
    a_idx = np.flatnonzero(keep & has)
    a_value, a_rank = bal[a_idx], rank[a_idx]
    used = np.zeros(a_idx.size, dtype=bool)
    left = _unmatched_befores(b_value, b_rank, a_value, a_rank, used)
    for shift in range(1, BALANCE_TOLERANCE_MINOR + 1):
        for sign in (-1, 1):
            if left.size == 0:
                break
            again = _unmatched_befores(b_value[left] + sign * shift, b_rank[left], a_value, a_rank, used)
            left = left[again]
    broken = int(left.size)
    share = broken / n_check
    tripped = broken >= BALANCE_MIN_BROKEN and share >= BALANCE_BROKEN_SHARE
    measures = (("checkable", float(n_check)), ("broken", float(broken)), ("broken_share", share))
    if broken == 0:
        return CheckResult(code, False, True, f"All {n_check} checkable balances follow from an earlier balance "
                           "and the amount.", measures)
    first_day = int(p.day[b_idx[left].min()])
    detail = (f"{broken} of {n_check} balances ({pct(broken, n_check)}) do not follow from any earlier balance "
              f"and the amount, the first on {day_text(first_day)}.")
    return CheckResult(code, tripped, True, detail, measures)
