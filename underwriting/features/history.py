"""Plain-data inputs of the feature code: a merchant's history as known at a day, and a loan request.

Nothing here imports Django. `underwriting.history.loader` fills these from the rollup tables;
tests and the simulator bench may build them directly.

Days are integers: days since 1970-01-01 (UTC calendar days). Money is float64 in currency units
(the loader converts the stored integer minor units). Every array of a row group has the same length
and the rows are sorted by day (ascending), which makes a point-in-time cut a slice.

Point-in-time rule (docs/features.md): a history for `as_of` holds only rows of days strictly before
`as_of` (the UTC day of the decision) and only loans originated before it, each with the status it
had on that day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from underwriting.kinds import KIND_CODES, KIND_NAMES, CreditStatus, Direction

EPOCH = date(1970, 1, 1)
EPOCH_ORDINAL = EPOCH.toordinal()
NO_DAY = np.iinfo(np.int32).min  # "no such day" in int day arrays (e.g. a loan that never defaulted)

# Direction and kind codes: the same integers as underwriting.history.models.Direction / TransactionKind
# (tests check they agree), so rollup rows pass through unchanged.
IN, OUT = int(Direction.IN), int(Direction.OUT)
KINDS: tuple[str, ...] = KIND_NAMES
KIND = KIND_CODES

# Loan status as of the history's day.
UNKNOWN, CURRENT, REPAID, DEFAULTED = -1, 0, 1, 2
STATUS_CODE = {
    None: UNKNOWN, "": UNKNOWN, CreditStatus.CURRENT: CURRENT, CreditStatus.REPAID: REPAID, CreditStatus.DEFAULTED: DEFAULTED,
}


def day_number(d: date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return d.toordinal() - EPOCH_ORDINAL


def day_date(n: int) -> date:
    return date.fromordinal(int(n) + EPOCH_ORDINAL)


def add_months(d: date, months: int) -> date:
    """Same day of month, clamped to the month's end (the product's due-date rule)."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _i32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


def _i8(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int8)


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _cut(day: np.ndarray, before: int) -> int:
    return int(np.searchsorted(day, before, side="left"))


@dataclass(frozen=True, eq=False)
class DailyRows:
    """Daily rollup rows: per day, direction and kind, the count, the total and the largest amount."""

    day: np.ndarray  # int32
    direction: np.ndarray  # int8 (IN / OUT)
    kind: np.ndarray  # int8 (KIND codes)
    count: np.ndarray  # int32
    total: np.ndarray  # float64, currency units
    max: np.ndarray  # float64, currency units

    @classmethod
    def build(cls, day=(), direction=(), kind=(), count=(), total=(), max=()) -> DailyRows:
        rows = cls(_i32(day), _i8(direction), _i8(kind), _i32(count), _f64(total), _f64(max))
        return rows._sorted()

    def _sorted(self) -> DailyRows:
        if self.day.size > 1 and np.any(np.diff(self.day) < 0):
            o = np.argsort(self.day, kind="stable")
            return DailyRows(self.day[o], self.direction[o], self.kind[o], self.count[o], self.total[o], self.max[o])
        return self

    def since(self, day: int) -> DailyRows:
        k = _cut(self.day, day)
        return self if k == 0 else DailyRows(self.day[k:], self.direction[k:], self.kind[k:], self.count[k:],
                                             self.total[k:], self.max[k:])

    def before(self, day: int) -> DailyRows:
        k = _cut(self.day, day)
        return DailyRows(self.day[:k], self.direction[:k], self.kind[:k], self.count[:k], self.total[:k],
                         self.max[:k])


@dataclass(frozen=True, eq=False)
class CounterpartyRows:
    """Counterparty rollup rows: per day, direction and counterparty, the count and the total. The
    counterparty is an opaque int code: equal codes are the same counterparty within one history (the
    loader uses a hash of the name on PostgreSQL, the name's rank elsewhere); features never read the
    value itself."""

    day: np.ndarray  # int32
    direction: np.ndarray  # int8
    counterparty: np.ndarray  # int32 code
    count: np.ndarray  # int32
    total: np.ndarray  # float64

    @classmethod
    def build(cls, day=(), direction=(), counterparty=(), count=(), total=()) -> CounterpartyRows:
        rows = cls(_i32(day), _i8(direction), _i32(counterparty), _i32(count), _f64(total))
        if rows.day.size > 1 and np.any(np.diff(rows.day) < 0):
            o = np.argsort(rows.day, kind="stable")
            rows = cls(rows.day[o], rows.direction[o], rows.counterparty[o], rows.count[o], rows.total[o])
        return rows

    def since(self, day: int) -> CounterpartyRows:
        k = _cut(self.day, day)
        return self if k == 0 else CounterpartyRows(self.day[k:], self.direction[k:], self.counterparty[k:],
                                                    self.count[k:], self.total[k:])

    def before(self, day: int) -> CounterpartyRows:
        k = _cut(self.day, day)
        return CounterpartyRows(self.day[:k], self.direction[:k], self.counterparty[:k], self.count[:k],
                                self.total[:k])


@dataclass(frozen=True, eq=False)
class BalanceRows:
    """Days with a reported balance: the day's lowest and closing balance (currency units)."""

    day: np.ndarray  # int32
    min: np.ndarray  # float64
    close: np.ndarray  # float64

    @classmethod
    def build(cls, day=(), min=(), close=()) -> BalanceRows:
        rows = cls(_i32(day), _f64(min), _f64(close))
        if rows.day.size > 1 and np.any(np.diff(rows.day) < 0):
            o = np.argsort(rows.day, kind="stable")
            rows = cls(rows.day[o], rows.min[o], rows.close[o])
        return rows

    def before(self, day: int) -> BalanceRows:
        k = _cut(self.day, day)
        return BalanceRows(self.day[:k], self.min[:k], self.close[:k])


@dataclass(frozen=True, eq=False)
class MetricRows:
    """Marketplace observations: day, metric name (e.g. rating, dispute_rate) and value."""

    day: np.ndarray  # int32
    metric: np.ndarray  # str (numpy unicode)
    value: np.ndarray  # float64

    @classmethod
    def build(cls, day=(), metric=(), value=()) -> MetricRows:
        metric_arr = np.asarray(metric, dtype=str) if len(metric) else np.zeros(0, dtype="<U1")
        rows = cls(_i32(day), metric_arr, _f64(value))
        if rows.day.size > 1 and np.any(np.diff(rows.day) < 0):
            o = np.argsort(rows.day, kind="stable")
            rows = cls(rows.day[o], rows.metric[o], rows.value[o])
        return rows

    def since(self, day: int) -> MetricRows:
        k = _cut(self.day, day)
        return self if k == 0 else MetricRows(self.day[k:], self.metric[k:], self.value[k:])

    def before(self, day: int) -> MetricRows:
        k = _cut(self.day, day)
        return MetricRows(self.day[:k], self.metric[:k], self.value[:k])


@dataclass(frozen=True, eq=False)
class PriorLoans:
    """The merchant's loans in its credit record as known on the history's day (originated before it).

    `status` is the status on that day (CURRENT, REPAID, DEFAULTED or UNKNOWN); `defaulted_on` is
    NO_DAY unless the loan had defaulted before that day; `days_past_due` is NaN unless known on that
    day; `term_end` is the day of the last instalment (origination + term months).
    """

    originated_on: np.ndarray  # int32 day
    amount: np.ndarray  # float64
    term_months: np.ndarray  # int32
    status: np.ndarray  # int8
    defaulted_on: np.ndarray  # int32 day or NO_DAY
    days_past_due: np.ndarray  # float64, NaN = not known
    term_end: np.ndarray  # int32 day

    @classmethod
    def build(cls, originated_on=(), amount=(), term_months=(), status=(), defaulted_on=(), days_past_due=(),
              term_end=None) -> PriorLoans:
        orig = _i32(originated_on)
        terms = _i32(term_months)
        if term_end is None:
            term_end = [day_number(add_months(day_date(o), int(t))) for o, t in zip(orig, terms, strict=True)]
        n = orig.size
        dpd = _f64(days_past_due) if len(days_past_due) else np.full(n, np.nan)
        dflt = _i32(defaulted_on) if len(defaulted_on) else np.full(n, NO_DAY, dtype=np.int32)
        st = _i8(status) if len(status) else np.full(n, UNKNOWN, dtype=np.int8)
        loans = cls(orig, _f64(amount), terms, st, dflt, dpd, _i32(term_end))
        if n > 1 and np.any(np.diff(orig) < 0):
            o = np.argsort(orig, kind="stable")
            loans = cls(*(getattr(loans, f)[o] for f in cls.__dataclass_fields__))
        return loans

    @classmethod
    def from_record(cls, *, originated_on, amount, term_months, final_status, defaulted_on, days_past_due,
                    as_of_day: int, dpd_known: np.ndarray | None = None) -> PriorLoans:
        """Point-in-time view of loan records whose stored status is the latest one (`final_status`:
        STATUS codes; `defaulted_on`: day or NO_DAY). Keeps loans originated before `as_of_day` with:
        DEFAULTED only if defaulted_on < as_of_day; REPAID only if the record says repaid and the
        term ended before as_of_day; UNKNOWN when the record does not say; otherwise CURRENT.
        `days_past_due` is kept where `dpd_known` (the record's figure is as of a day before as_of)."""
        loans = cls.build(originated_on, amount, term_months, final_status, defaulted_on, days_past_due)
        if dpd_known is not None:
            dpd = np.where(np.asarray(dpd_known, dtype=bool), loans.days_past_due, np.nan)
            loans = replace(loans, days_past_due=dpd)
        return loans._as_of(as_of_day, final=True)

    def _as_of(self, day: int, final: bool = False) -> PriorLoans:
        keep = self.originated_on < day
        s = self.status[keep]
        dflt = self.defaulted_on[keep]
        end = self.term_end[keep]
        defaulted = (s == DEFAULTED) & (dflt != NO_DAY) & (dflt < day)
        repaid = (s == REPAID) & (end < day)
        status = np.where(s == UNKNOWN, UNKNOWN, np.where(defaulted, DEFAULTED, np.where(repaid, REPAID, CURRENT)))
        dpd = self.days_past_due[keep]
        if not final:
            dpd = np.full(dpd.size, np.nan)  # a figure as of a later day is not known earlier
        return PriorLoans(self.originated_on[keep], self.amount[keep], self.term_months[keep], _i8(status),
                          np.where(defaulted, dflt, NO_DAY).astype(np.int32), dpd, end)


@dataclass(frozen=True)
class LoanRequest:
    """The loan asked for: principal in currency units and term in months."""

    amount: float
    term_months: int


def _empty_daily() -> DailyRows:
    return DailyRows.build()


@dataclass(frozen=True, eq=False)
class MerchantHistory:
    """A merchant's profile and history as known on `as_of` (data of days strictly before it)."""

    as_of: date
    sector: str = ""
    region: str = ""
    established_on: date | None = None
    onboarded_on: date | None = None
    daily: DailyRows = field(default_factory=_empty_daily)
    counterparties: CounterpartyRows = field(default_factory=CounterpartyRows.build)
    balances: BalanceRows = field(default_factory=BalanceRows.build)
    metrics: MetricRows = field(default_factory=MetricRows.build)
    loans: PriorLoans = field(default_factory=PriorLoans.build)
    business_id: int | None = None
    # The first day with any transaction (rows may start later when a loader keeps only recent days).
    first_activity: date | None = None

    @property
    def as_of_day(self) -> int:
        return day_number(self.as_of)

    def truncated(self, as_of: date) -> MerchantHistory:
        """The same merchant as known on an earlier (or the same) day: rows of days before `as_of`,
        loans originated before it with their status on that day. Slices, no copies of row arrays."""
        if as_of > self.as_of:
            raise ValueError(f"cannot extend a history known on {self.as_of} to {as_of}")
        day = day_number(as_of)
        loans = self.loans if as_of == self.as_of else self.loans._as_of(day)
        first = self.first_activity if self.first_activity is not None and self.first_activity < as_of else None
        return replace(self, as_of=as_of, daily=self.daily.before(day), counterparties=self.counterparties.before(day),
                       balances=self.balances.before(day), metrics=self.metrics.before(day), loans=loans,
                       first_activity=first)

    @property
    def first_day(self) -> int | None:
        """Day number of the first known activity (first_activity, else the first rollup row)."""
        days = []
        if self.first_activity is not None:
            days.append(day_number(self.first_activity))
        if self.daily.day.size:
            days.append(int(self.daily.day[0]))
        return min(days) if days else None

    def check(self) -> MerchantHistory:
        """Raises ValueError when a row is on or after as_of (a point-in-time violation)."""
        day = self.as_of_day
        for name in ("daily", "counterparties", "balances", "metrics"):
            rows = getattr(self, name)
            if rows.day.size and int(rows.day[-1]) >= day:
                raise ValueError(f"{name} has rows on or after {self.as_of}")
        if self.loans.originated_on.size and int(self.loans.originated_on.max()) >= day:
            raise ValueError(f"a prior loan is originated on or after {self.as_of}")
        return self
