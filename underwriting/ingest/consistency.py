"""Consistency checks that fabricated transaction histories tend to fail.

A history an owner types or scripts looks plausible row by row; what it rarely gets right is the
arithmetic and the texture that real money movements have as a whole. Each check measures one such
property of one merchant's history, names it with a reason code (``DC_...``) and says in one plain
sentence, with the figures, what it found. A check that cannot be measured on the data (no balances,
too few days of sales) is reported as not applicable and never trips. A history tripping two or more
codes is declined, so every check must stay quiet on genuine data on its own: the thresholds below were
set by measurement with ``bench/bench_consistency.py`` (simulated worlds of several seeds and lengths,
their bank-statement variants, and hand-built genuine profiles of real-world shapes the simulator does
not produce), not guessed. The bench prints the false-positive rate per code and the detection on
fabricated variants; ``fixtures/uploads/README.md`` quotes the figures.

Pure Python and numpy: no Django, no database and no clock (``now`` is an argument), so the same checks
run in the import, in a decision, in a notebook or in a test.

The checks, in evaluation order, and why each separates fabricated from genuine data:

``DC_BALANCE_MISMATCH`` -- balances that do not add up
    A bank or payment account computes ``balance_after`` itself: each balance is the one before it plus
    or minus the amount, to the cent. A person who types balances, inflates the amounts of a real
    statement, or slots rows into a spreadsheet without redoing the rows below breaks that arithmetic;
    it is tedious by hand and easy to get wrong in a script. Genuine exports are consistent, but their
    order is not reliable: rows sharing a timestamp (a date-only statement puts a whole day on one
    instant) come in any order, a bank posts rows in its own order whatever their transaction times (a
    late card payment lands in the next day's ledger), and some exports list the newest row first. So
    the order is ignored and only the arithmetic is checked: the balance before each row (its balance
    minus its signed amount) must be the balance after exactly one other row (one to one, as in a
    ledger: two rows cannot both follow the same balance), dated at most 3 days with rows away, within
    one cent of rounding. Only rows whose own day and the previous day with rows carry a balance on every
    row are checkable (an export giving balances on some rows only cannot be chained); a day printing
    its closing balance on each of its rows counts as one row carrying the day's net amount. Not
    applicable below 10 checkable rows. Trips when at least 3 rows and at least 5% of the checkable rows
    fail. (A row lost from a genuine extract makes one fail.)

``DC_DUPLICATED_DAYS`` -- whole days repeated
    Copying a day or a week of rows and changing the dates is the quickest way to fill months. Real days
    almost never repeat exactly: the same number of rows, with the same amounts to the cent, directions
    and kinds. "Almost" depends on the business, and two patterns are genuine: a cafe whose slow days
    hold two coffees at the same price repeats by chance, and a school or a B2B firm paid the same fees
    on the same day every month repeats by design. So only days with two or more rows including money in
    count; a day counts as a repeat when its rows equal another day's that falls on a different day of
    the month (per distinct set of rows: the number of days of the month it appears on, minus one); and
    chance is measured on the same rows: shuffled across all days, and across the days of the same
    weekday (a weekly rhythm), 12 times each with a fixed seed, each day keeping its number of rows.
    Trips when at least 3 days repeat and the count exceeds the more generous shuffled mean plus 4
    shuffled standard deviations by more than 3 days. A copied month (every day on its own day of the
    month) is left to DC_REPEATED_AMOUNTS, which sees each day's takings repeat exactly.

``DC_CALENDAR_PATTERN`` -- a mechanical calendar
    A script decides which days exist; a business does not. Two patterns are measured:

    * gaps at a fixed interval: for each interval of 2 to 31 days that is not a multiple of 7, the days of
      one phase (day number modulo the interval) lack sales at least 90% of the time, over at least 10
      cycles, while the merchant has sales on at least 75% of the other days. A shop closed on Sundays
      or every other Monday follows the week and never counts; ``if i % 5 == 4: continue`` does. A
      trader working only some days of a cycle (a rural market every third day) has sales on far fewer
      than 75% of the other days and is not counted either.
    * the same number of rows nearly every day: at least 95% of 60 or more days with transactions have
      exactly the same number (two or more) of rows. A real account's days differ: rent, payroll,
      suppliers, fees, refunds and transfers arrive on their own schedules around the sales, and
      customers do not come in fixed numbers. One row a day (a daily card settlement) never counts.

``DC_ROUND_AMOUNTS`` -- takings in round figures
    Real takings are sums of many sales, so a day's total lands on any cent or, with whole-unit prices,
    on any unit; typed or scripted takings are "about 2,350". The check looks at each day's total of
    trading inflows (``sale``, ``card_payment`` and ``payout`` rows; when a file has none, every inflow
    except cash deposits, loans, interest and reversals), not at single rows: a cafe's 30.00 coffee is a
    price, not a rounded figure, and a day of coffees adds up to anything. Trips when at least 80% of the
    daily totals are whole multiples of 10 currency units. Chance: about 0.1% with cents, about 10% with
    whole-unit prices, about 50% when every price is a multiple of 5. Applicable with sales on at least
    60 days covering at least 40% of the span between the first and last sale: a B2B firm invoicing a
    few round sums a month is not this shape and is not judged on it.

``DC_REPEATED_AMOUNTS`` -- the same takings again and again
    ``random.choice([1800, 2200, 2500, 3000])`` yields few distinct daily figures, each far more often
    than the figures beside it; so does copying a month. Genuine daily totals spread smoothly: at the
    granularity the data has (cents, units, fives, tens...: the coarsest step of the 1-2-2.5-5 series
    that 90% of the totals sit on), an exact figure is about as frequent as each figure one to ten steps
    away. The check counts pairs of days with exactly the same total and compares them with pairs whose
    totals differ by 1 to 10 steps, per step. Trips when at least 30% of the days share their total with
    another day and exact pairs are at least 4 times as common per step as near ones. Same applicability
    as DC_ROUND_AMOUNTS.

``DC_FUTURE_DATES`` -- dated in the future
    A row dated after the moment of the check cannot be genuine: scripts counting nine months from the
    wrong start and mistyped years produce them. One day of grace: a local time written without its
    offset is read as UTC and can look up to 14 hours ahead.

The counterparty column is read but no check relies on it: a bank statement has none, and the checks
must hold on such data.

Known limits (each trips one code alone, which does not decline a history): a shop whose every price
is a multiple of 10 units (round takings); a business selling one fixed-price item a day, or a
subscription business with one payment a day (repeated takings); a stall working a fixed non-weekly
rota such as every other day (calendar); an export whose balances lag its dates by more than three days
with rows (balances). A careful faker who computes balances, uses cents and varies
everything passes all six; that is what the lower trust given to owner uploads is for.

Money is integer minor units (cents) throughout; floats appear only in the statistics.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .values import parse_amount_minor, parse_datetime, parse_direction, parse_kind, parse_signed_minor

IN, OUT = 1, 2
DAY_SECONDS = 86_400

CHECKS: dict[str, str] = {
    "DC_BALANCE_MISMATCH": "Balances do not add up",
    "DC_DUPLICATED_DAYS": "Whole days repeated",
    "DC_CALENDAR_PATTERN": "Mechanical calendar pattern",
    "DC_ROUND_AMOUNTS": "Takings in round figures",
    "DC_REPEATED_AMOUNTS": "The same takings again and again",
    "DC_FUTURE_DATES": "Transactions dated in the future",
}

# Trading inflows (the takings): what customers pay for goods and services.
TRADING_KINDS = frozenset({"sale", "card_payment", "payout"})
# When a file has no trading inflow, every inflow counts except these.
NOT_TAKINGS = frozenset({"cash_deposit", "loan_disbursement", "interest", "refund", "chargeback",
                         "cash_withdrawal", "loan_repayment"})

# DC_BALANCE_MISMATCH
BALANCE_MIN_CHECKABLE = 10
BALANCE_WINDOW_DAYS = 3  # days with rows either side where the row before may be dated (posting lags)
BALANCE_TOLERANCE_MINOR = 1
BALANCE_MIN_BROKEN = 3
BALANCE_BROKEN_SHARE = 0.05
# DC_DUPLICATED_DAYS
DUP_MIN_ROWS_PER_DAY = 2
DUP_MIN_REPEATS = 3
DUP_SHUFFLES = 12  # per way of shuffling
DUP_SIGMAS = 4.0
DUP_MARGIN = 3
DUP_SEED = 310
# DC_CALENDAR_PATTERN
GAP_PERIODS = tuple(p for p in range(2, 32) if p % 7)
GAP_MIN_CYCLES = 10
GAP_MISSING_SHARE = 0.90
GAP_OTHER_PRESENT = 0.75
COUNT_MIN_DAYS = 60
COUNT_SAME_SHARE = 0.95
# DC_ROUND_AMOUNTS and DC_REPEATED_AMOUNTS (daily totals of trading inflows)
TAKINGS_MIN_DAYS = 60
TAKINGS_MIN_COVERAGE = 0.40
ROUND_UNIT_MINOR = 1_000  # 10 currency units
ROUND_SHARE = 0.80
GRID_SHARE = 0.90
REPEAT_NEAR_STEPS = 10
REPEAT_MIN_SHARE = 0.30
REPEAT_SPIKE = 4.0
# DC_FUTURE_DATES
FUTURE_GRACE_SECONDS = DAY_SECONDS


@dataclass(frozen=True)
class CheckResult:
    code: str  # e.g. "DC_BALANCE_MISMATCH"
    tripped: bool
    applicable: bool  # False when the data cannot be checked (e.g. no balances reported) -> never tripped
    detail: str  # one plain-English sentence with the measured figures, for a loan officer
    # The statistics behind the decision, as (name, value) pairs: for the record and for calibration.
    measures: tuple[tuple[str, float], ...] = ()

    @property
    def title(self) -> str:
        return CHECKS.get(self.code, self.code)

    def as_dict(self) -> dict:
        return {"code": self.code, "title": self.title, "tripped": self.tripped, "applicable": self.applicable,
                "detail": self.detail, "measures": dict(self.measures)}


@dataclass(frozen=True)
class HistoryRows:
    """One merchant's transactions, in any order: column arrays of equal length (coerced on creation)."""

    occurred_at: np.ndarray  # datetime64[s] (UTC)
    amount_minor: np.ndarray  # int64, positive, cents
    direction: np.ndarray  # int8: 1 = in, 2 = out
    kind: np.ndarray  # object array of kind names ("sale", "transfer", ...)
    counterparty: np.ndarray  # object array, None where missing
    balance_minor: np.ndarray  # float64 cents, NaN where missing

    def __post_init__(self) -> None:
        dtypes = {"occurred_at": "datetime64[s]", "amount_minor": np.int64, "direction": np.int8,
                  "kind": object, "counterparty": object, "balance_minor": np.float64}
        sizes = set()
        for name, dtype in dtypes.items():
            value = np.asarray(getattr(self, name), dtype=dtype)
            if value.ndim != 1:
                raise ValueError(f"HistoryRows.{name} must be one-dimensional")
            object.__setattr__(self, name, value)
            sizes.add(value.size)
        if len(sizes) > 1:
            raise ValueError("every column of HistoryRows must have the same length")

    def __len__(self) -> int:
        return int(self.amount_minor.size)


def tripped_codes(results: Iterable[CheckResult]) -> list[str]:
    """The codes that tripped, in evaluation order."""
    return [r.code for r in results if r.tripped]


# --- shared preparation ------------------------------------------------------------------------------


def _utc_seconds(now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return int(now.astimezone(UTC).timestamp())


def _day_text(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def _units(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(int(minor))
    return f"{sign}{minor // 100:,}.{minor % 100:02d}"


@dataclass(frozen=True)
class _Prepared:
    """The rows in time order (ties keep the input order) and the columns every check uses."""

    seconds: np.ndarray  # int64 epoch seconds, non-decreasing
    day: np.ndarray  # int64 epoch days (UTC), non-decreasing
    amount: np.ndarray  # int64 minor units
    direction: np.ndarray  # int8
    kind: np.ndarray  # int64 index into kind_names
    kind_names: tuple[str, ...]
    signed: np.ndarray  # int64 minor units, + in, - out
    balance: np.ndarray  # float64 minor units, NaN where missing
    takings: np.ndarray  # bool: trading inflow


def _kind_codes(kind: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Lower-cased distinct kind names and each row's index into them (lowering only the distinct
    values: a file has a handful)."""
    if kind.size == 0:
        return (), np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(kind.astype(str), return_inverse=True)
    names, remap = np.unique(np.array([u.strip().lower() for u in uniq]), return_inverse=True)
    return tuple(str(n) for n in names), remap.reshape(-1)[inv.reshape(-1)].astype(np.int64)


def _prepare(rows: HistoryRows) -> _Prepared:
    secs = rows.occurred_at.astype(np.int64)
    order = np.argsort(secs, kind="stable")
    secs = secs[order]
    names, codes = _kind_codes(rows.kind)
    codes = codes[order]
    amount = rows.amount_minor[order]
    direction = rows.direction[order]
    inflow = direction == IN
    takings = inflow & np.isin(codes, [i for i, k in enumerate(names) if k in TRADING_KINDS])
    if not takings.any():
        takings = inflow & ~np.isin(codes, [i for i, k in enumerate(names) if k in NOT_TAKINGS])
    return _Prepared(seconds=secs, day=np.floor_divide(secs, DAY_SECONDS), amount=amount,
                     direction=direction, kind=codes, kind_names=names,
                     signed=np.where(inflow, amount, -amount), balance=rows.balance_minor[order], takings=takings)


def _day_segments(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, size and day of each run of equal days in a non-decreasing array."""
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if day.size else np.zeros(0, dtype=np.int64)
    return starts, np.diff(np.r_[starts, day.size]), day[starts]


def _day_of_month(day: np.ndarray) -> np.ndarray:
    d = day.astype("datetime64[D]")
    return (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


# --- DC_BALANCE_MISMATCH ------------------------------------------------------------------------------


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


def _check_balance(p: _Prepared) -> CheckResult:
    code = "DC_BALANCE_MISMATCH"
    has = ~np.isnan(p.balance)
    if not has.any():
        return CheckResult(code, False, False, "No balances are reported, so they cannot be checked.",
                           (("checkable", 0.0),))
    bal = np.rint(np.where(has, p.balance, 0.0)).astype(np.int64)
    signed = p.signed.copy()
    starts, sizes, _ = _day_segments(p.day)
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
    detail = (f"{broken} of {n_check} balances ({_pct(broken, n_check)}) do not follow from any earlier balance "
              f"and the amount, the first on {_day_text(first_day)}.")
    return CheckResult(code, tripped, True, detail, measures)


# --- DC_DUPLICATED_DAYS -------------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value (arithmetic wraps modulo 2**64)."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _repeats(h1: np.ndarray, h2: np.ndarray, starts: np.ndarray, sizes: np.ndarray, eligible: np.ndarray,
             dom: np.ndarray) -> tuple[np.ndarray, int]:
    """Each eligible day's signature (order-free: sums of its rows' hashes, and its size) and the number
    of repeats: per signature, the number of distinct days of the month it falls on, minus one."""
    s1 = np.add.reduceat(h1, starts)[eligible]
    s2 = np.add.reduceat(h2, starts)[eligible]
    sig = s1 ^ _mix(s2 + sizes[eligible].astype(np.uint64))
    with_dom = sig ^ _mix(dom.astype(np.uint64) + np.uint64(0x3100))
    return sig, int(np.unique(with_dom).size - np.unique(sig).size)


def _check_duplicated_days(p: _Prepared) -> CheckResult:
    code = "DC_DUPLICATED_DAYS"
    starts, sizes, days = _day_segments(p.day)
    if starts.size:
        has_inflow = np.add.reduceat((p.direction == IN).astype(np.int64), starts) > 0
    else:
        has_inflow = np.zeros(0, dtype=bool)
    eligible = (sizes >= DUP_MIN_ROWS_PER_DAY) & has_inflow
    n_days = int(eligible.sum())
    if n_days < 2:
        return CheckResult(code, False, False, f"{n_days} day has several transactions with money in, so no day "
                           "can repeat another.", (("days", float(n_days)),))
    dom = _day_of_month(days[eligible])
    key = ((p.amount * 4 + p.direction.astype(np.int64)) * max(len(p.kind_names), 1) + p.kind).astype(np.uint64)
    h1 = _mix(key ^ np.uint64(0x5EED0310))
    h2 = _mix(key ^ np.uint64(0xC0FFEE0310))
    sig, observed = _repeats(h1, h2, starts, sizes, eligible, dom)
    # Chance, two ways, keeping the more generous: rows shuffled across all days, and across the days of
    # the same weekday; each day keeps its number of rows.
    rng = np.random.default_rng(DUP_SEED)
    limit, chance = 0.0, 0.0
    for groups in (np.zeros(p.day.size, dtype=np.uint8), ((p.day + 3) % 7).astype(np.uint8)):
        positions = np.argsort(groups, kind="stable")  # a radix sort on one byte
        null = np.empty(DUP_SHUFFLES)
        for i in range(DUP_SHUFFLES):
            perm = rng.permutation(groups.size)
            source = perm[np.argsort(groups[perm], kind="stable")]  # a random order within each group
            s1 = np.empty_like(h1)
            s2 = np.empty_like(h2)
            s1[positions] = h1[source]
            s2[positions] = h2[source]
            null[i] = _repeats(s1, s2, starts, sizes, eligible, dom)[1]
        bound = float(null.mean() + DUP_SIGMAS * null.std())
        if bound >= limit:
            limit, chance = bound, float(null.mean())
    limit += DUP_MARGIN
    tripped = observed >= DUP_MIN_REPEATS and observed > limit
    measures = (("days", float(n_days)), ("repeats", float(observed)), ("chance", chance), ("limit", limit))
    if observed == 0:
        return CheckResult(code, False, True, f"None of the {n_days} days with several transactions repeats "
                           "another day's transactions.", measures)
    # An example for the officer: the earliest day repeating an earlier day on another day of the month.
    eligible_days = days[eligible]
    order = np.lexsort((eligible_days, sig))
    hits = np.flatnonzero((sig[order][1:] == sig[order][:-1]) & (dom[order][1:] != dom[order][:-1]))
    example = ""
    if hits.size:
        later, earlier = min((int(eligible_days[order][k + 1]), int(eligible_days[order][k])) for k in hits)
        example = f", e.g. {_day_text(later)} repeats {_day_text(earlier)} row for row"
    verb = "repeats" if observed == 1 else "repeat"
    detail = (f"{observed} of {n_days} days with several transactions {verb} another day's transactions "
              f"exactly (chance would give about {chance:.1f}){example}.")
    return CheckResult(code, tripped, True, detail, measures)


# --- DC_CALENDAR_PATTERN ------------------------------------------------------------------------------


def _check_calendar(p: _Prepared) -> CheckResult:
    code = "DC_CALENDAR_PATTERN"
    findings: list[str] = []
    applicable = False
    gap_share, count_share = 0.0, 0.0
    gap_checked = False  # an interval was long enough and the other days mostly had sales
    sale_days = np.unique(p.day[p.takings])
    if sale_days.size >= 2:
        first = int(sale_days[0])
        span = int(sale_days[-1]) - first + 1
        present = np.zeros(span, dtype=bool)
        present[sale_days - first] = True
        index = np.arange(span)
        best = None
        for period in GAP_PERIODS:
            if span < GAP_MIN_CYCLES * period:
                break
            applicable = True
            phase = index % period
            n_phase = np.bincount(phase, minlength=period)
            missing = np.bincount(phase, weights=~present, minlength=period)
            r = int(np.argmax(missing / n_phase))
            other_present = float(present[phase != r].mean())
            if other_present < GAP_OTHER_PRESENT:
                continue
            gap_checked = True
            share = float(missing[r] / n_phase[r])
            gap_share = max(gap_share, share)
            if share >= GAP_MISSING_SHARE and (best is None or share > best[1]):
                best = (period, share, int(missing[r]), int(n_phase[r]), other_present)
        if best is not None:
            period, _, miss, n_ph, other_present = best
            findings.append(f"one day in every {period} has no sales ({miss} of {n_ph} such days, while "
                            f"{other_present:.0%} of the other days have sales)")
    _, sizes, _ = _day_segments(p.day)
    count_checked = sizes.size >= COUNT_MIN_DAYS
    if count_checked:
        applicable = True
        counts = np.bincount(sizes, minlength=3)
        mode = 2 + int(np.argmax(counts[2:]))  # one row a day (a daily settlement) never counts
        count_share = float(counts[mode] / sizes.size)
        if count_share >= COUNT_SAME_SHARE:
            findings.append(f"{counts[mode]} of {sizes.size} days with transactions ({_pct(counts[mode], sizes.size)}) "
                            f"have exactly {mode}")
    measures = (("gap_share", gap_share), ("same_count_share", count_share))
    if not applicable:
        return CheckResult(code, False, False, "The history is too short to show a calendar pattern (sales over "
                           f"fewer than {GAP_MIN_CYCLES * GAP_PERIODS[0]} days and transactions on fewer than "
                           f"{COUNT_MIN_DAYS} days).", measures)
    if findings:
        return CheckResult(code, True, True, f"Days follow a mechanical pattern: {'; '.join(findings)}.",
                           measures)
    parts = []
    if gap_checked:
        parts.append(f"no interval other than the week leaves sales out of one of its days more than "
                     f"{gap_share:.0%} of the time")
    if count_checked:
        parts.append(f"no number of two or more transactions recurs on more than {count_share:.0%} of the days")
    return CheckResult(code, False, True, f"Days follow no mechanical pattern: {' and '.join(parts)}.", measures)


# --- DC_ROUND_AMOUNTS and DC_REPEATED_AMOUNTS ---------------------------------------------------------


@dataclass(frozen=True)
class _Takings:
    totals: np.ndarray  # int64 minor units, one per day with sales
    applicable: bool
    reason: str


def _takings(p: _Prepared) -> _Takings:
    day = p.day[p.takings]
    if day.size == 0:
        return _Takings(np.zeros(0, dtype=np.int64), False, "The history has no sales to check.")
    starts, _, days = _day_segments(day)
    totals = np.add.reduceat(p.amount[p.takings], starts)
    span = int(days[-1] - days[0] + 1)
    if totals.size < TAKINGS_MIN_DAYS or totals.size < TAKINGS_MIN_COVERAGE * span:
        return _Takings(totals, False, f"Sales arrive on {totals.size} of {span} days; daily takings are checked "
                        f"with sales on at least {TAKINGS_MIN_DAYS} days and {TAKINGS_MIN_COVERAGE:.0%} of them.")
    return _Takings(totals, True, "")


def _check_round(t: _Takings) -> CheckResult:
    code = "DC_ROUND_AMOUNTS"
    if not t.applicable:
        return CheckResult(code, False, False, t.reason, (("days", float(t.totals.size)),))
    n = t.totals.size
    whole = int((t.totals % 100 == 0).sum())
    round_ = int((t.totals % ROUND_UNIT_MINOR == 0).sum())
    share = round_ / n
    measures = (("days", float(n)), ("round_share", share), ("whole_unit_share", whole / n))
    detail = (f"{round_} of {n} days' takings ({_pct(round_, n)}) are whole multiples of "
              f"{ROUND_UNIT_MINOR // 100} currency units ({whole} are whole units).")
    return CheckResult(code, share >= ROUND_SHARE, True, detail, measures)


_STEPS = tuple(int(m * 10**e) for e in range(9) for m in (1, 2, 2.5, 5) if float(m * 10**e).is_integer())


def _granularity(values: np.ndarray) -> int:
    """The coarsest step (minor units, 1-2-2.5-5 series) that at least GRID_SHARE of the values sit on."""
    step = 1
    for candidate in _STEPS:
        if (values % candidate == 0).mean() >= GRID_SHARE:
            step = candidate
    return step


def _check_repeated(t: _Takings) -> CheckResult:
    code = "DC_REPEATED_AMOUNTS"
    if not t.applicable:
        return CheckResult(code, False, False, t.reason, (("days", float(t.totals.size)),))
    totals = np.sort(t.totals)
    n = totals.size
    values, counts = np.unique(totals, return_counts=True)
    repeated_days = int(counts[counts >= 2].sum())
    exact_pairs = int((counts * (counts - 1) // 2).sum())
    step = _granularity(totals)
    # Pairs 1..REPEAT_NEAR_STEPS steps apart: every pair within that width, minus the exact ones.
    reach = np.searchsorted(totals, totals + REPEAT_NEAR_STEPS * step, side="right")
    near_pairs = int((reach - np.arange(n) - 1).sum()) - exact_pairs
    spike = exact_pairs / max(near_pairs / (2 * REPEAT_NEAR_STEPS), 1.0)
    share = repeated_days / n
    measures = (("days", float(n)), ("repeated_share", share), ("spike", spike), ("distinct", float(values.size)),
                ("step_minor", float(step)))
    if repeated_days == 0:
        return CheckResult(code, False, True, f"All {n} days' takings are different figures.", measures)
    top = int(np.argmax(counts))
    detail = (f"{repeated_days} of {n} days' takings ({_pct(repeated_days, n)}) repeat another day's figure "
              f"exactly, {values.size} different figures in all ({_units(int(values[top]))} on {int(counts[top])} "
              f"days), exact repeats being {spike:.1f} times as common as near misses.")
    return CheckResult(code, share >= REPEAT_MIN_SHARE and spike >= REPEAT_SPIKE, True, detail, measures)


# --- DC_FUTURE_DATES ----------------------------------------------------------------------------------


def _check_future(p: _Prepared, now: int) -> CheckResult:
    code = "DC_FUTURE_DATES"
    n = p.amount.size
    if n == 0:
        return CheckResult(code, False, False, "The history has no transactions.", (("ahead", 0.0),))
    count = int((p.seconds > now + FUTURE_GRACE_SECONDS).sum())
    today = _day_text(now // DAY_SECONDS)
    if count == 0:
        return CheckResult(code, False, True, f"No transaction is dated after the check ({today}).",
                           (("ahead", 0.0),))
    latest = int(p.seconds[-1])
    return CheckResult(code, True, True, f"{count} of {n} transactions are dated after the check ({today}), the "
                       f"latest on {_day_text(latest // DAY_SECONDS)}, {(latest - now) // DAY_SECONDS} days ahead.",
                       (("ahead", float(count)),))


# --- entry points -------------------------------------------------------------------------------------


def history_checks(rows: HistoryRows, *, now: datetime) -> list[CheckResult]:
    """Every check of CHECKS on one merchant's history, one result per code, in CHECKS order."""
    now_s = _utc_seconds(now)
    p = _prepare(rows)
    takings = _takings(p)
    return [
        _check_balance(p),
        _check_duplicated_days(p),
        _check_calendar(p),
        _check_round(takings),
        _check_repeated(takings),
        _check_future(p, now_s),
    ]


_REQUIRED = ("occurred_at", "amount", "direction", "kind")


def _value(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None else ""


def rows_from_csv(path: str | Path, *, merchant_id: str | None = None) -> HistoryRows:
    """One history from a transactions file in the interchange format (docs/data-format.md).

    Header names are matched case-insensitively and without surrounding spaces, other columns are
    ignored, blank lines skipped, a UTF-8 byte-order mark tolerated. Amounts are decimals rounded half up
    to the cent; ``occurred_at`` is ISO 8601, converted to UTC (no offset: UTC). With ``merchant_id`` the
    rows of other merchants are skipped (the file then needs a merchant_id column); without it, a file
    naming several merchants is refused rather than read as one mixed history. A value the format
    rejects raises ValueError naming the line and the column.
    """
    seen: set[str] = set()
    occurred: list[str] = []
    amounts: list[int] = []
    directions: list[int] = []
    kinds: list[str] = []
    counterparties: list[str | None] = []
    balances: list[float] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: the file is empty")
        cols = {name.strip().lower(): i for i, name in enumerate(header)}
        required = _REQUIRED + (("merchant_id",) if merchant_id is not None else ())
        missing = [c for c in required if c not in cols]
        if missing:
            raise ValueError(f"{path}:1: required columns missing from the header: {', '.join(missing)}")
        i_merchant, i_cp, i_bal = cols.get("merchant_id"), cols.get("counterparty"), cols.get("balance_after")
        i_at, i_amount, i_dir, i_kind = (cols[c] for c in _REQUIRED)
        for record in reader:
            if not any(field.strip() for field in record):
                continue
            line = reader.line_num
            if len(record) != len(header):
                raise ValueError(f"{path}:{line}: the row has {len(record)} fields but the header has {len(header)}")
            if merchant_id is not None and record[i_merchant].strip() != merchant_id:
                continue
            if merchant_id is None and i_merchant is not None:
                seen.add(record[i_merchant].strip())
                if len(seen) > 1:
                    raise ValueError(f"{path}:{line}: merchant_id: the file holds several merchants "
                                     f"({', '.join(sorted(seen))}); name the one to read")
            column = "occurred_at"
            try:
                occurred.append(parse_datetime(_required(record[i_at]))[:19])
                column = "amount"
                amounts.append(parse_amount_minor(_required(record[i_amount])))
                column = "direction"
                directions.append(parse_direction(_required(record[i_dir])))
                column = "kind"
                kind = _required(record[i_kind])
                parse_kind(kind)
                kinds.append(kind.lower())
                column = "counterparty"
                counterparties.append(_value(record, i_cp) or None)
                column = "balance_after"
                balance = _value(record, i_bal)
                balances.append(float(parse_signed_minor(balance)) if balance else np.nan)
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: {column}: {exc}") from None
    return HistoryRows(
        occurred_at=np.array(occurred, dtype="datetime64[s]"),
        amount_minor=np.array(amounts, dtype=np.int64),
        direction=np.array(directions, dtype=np.int8),
        kind=np.array(kinds, dtype=object),
        counterparty=np.array(counterparties, dtype=object),
        balance_minor=np.array(balances, dtype=np.float64),
    )


def _required(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is missing")
    return value
