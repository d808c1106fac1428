"""What every generated world shares: the rows it writes, the loans it books, and the histories it hands
to the feature code.

A world runs day by day over arrays of merchants (numpy, no per-merchant Python). It writes daily
rollup rows directly (per merchant, day, direction and kind: count, total and largest amount; and
per counterparty where the data names one), which is what the platform's import turns transactions
into (docs/data-format.md), and a closing balance per active merchant and day. Loans are booked by the
world's own lender; each has the world's true PD at origination and an outcome drawn from it once, so
the true PD is exactly the probability of the label given everything the world knew that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from underwriting.features import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    MerchantHistory,
    MetricRows,
    PriorLoans,
)
from underwriting.features.history import NO_DAY, day_date
from underwriting.kinds import Direction, TransactionKind

IN, OUT = int(Direction.IN), int(Direction.OUT)
K = TransactionKind
NO_CP = -1
START = date(2023, 1, 2)  # day 0 of every world (a Monday)
DAY0 = START.toordinal() - date(1970, 1, 1).toordinal()


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Rows:
    """Daily rollup rows appended day by day; `arrays()` concatenates them once."""

    def __init__(self) -> None:
        self._parts: list[tuple] = []

    def add(self, day: int, merchants: np.ndarray, direction: int, kind: int, total: np.ndarray, *,
            count: np.ndarray | None = None, largest: np.ndarray | None = None,
            counterparty: np.ndarray | None = None) -> None:
        merchants = np.asarray(merchants)
        total = np.round(np.broadcast_to(np.asarray(total, dtype=np.float64), merchants.shape), 2)
        keep = total > 0
        if not keep.any():
            return
        n = int(keep.sum())
        cnt = np.ones(n, np.int32) if count is None else np.maximum(
            np.broadcast_to(np.asarray(count), merchants.shape)[keep], 1).astype(np.int32)
        big = total[keep] if largest is None else np.minimum(
            np.broadcast_to(np.asarray(largest, dtype=np.float64), merchants.shape)[keep], total[keep])
        cp = np.full(n, NO_CP, np.int32) if counterparty is None else np.broadcast_to(
            np.asarray(counterparty), merchants.shape)[keep].astype(np.int32)
        self._parts.append((merchants[keep].astype(np.int32), np.full(n, day, np.int32),
                            np.full(n, direction, np.int8), np.full(n, kind, np.int8), cnt, total[keep],
                            np.round(big, 2), cp))

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("merchant", "day", "direction", "kind", "count", "total", "max", "counterparty")
        if not self._parts:
            return {n: np.zeros(0) for n in names}
        return {n: np.concatenate([p[i] for p in self._parts]) for i, n in enumerate(names)}


@dataclass
class Book:
    """The world lender's loans, one entry per loan in origination order."""

    merchant: list = field(default_factory=list)
    orig_day: list = field(default_factory=list)
    amount: list = field(default_factory=list)
    term: list = field(default_factory=list)
    true_pd: list = field(default_factory=list)
    y: list = field(default_factory=list)
    default_day: list = field(default_factory=list)  # world day of default (90 days past due), or -1
    parts: dict = field(default_factory=dict)  # each driver's part of the true logit, by name ("hidden": no data shows it)

    def add(self, day: int, merchants, amount, term, pd_, y, default_day, parts: dict) -> None:
        n = len(merchants)
        self.merchant.extend(np.asarray(merchants).tolist())
        self.orig_day.extend([day] * n)
        self.amount.extend(np.asarray(amount).tolist())
        self.term.extend(np.asarray(term).tolist())
        self.true_pd.extend(np.asarray(pd_).tolist())
        self.y.extend(np.asarray(y).tolist())
        self.default_day.extend(np.asarray(default_day).tolist())
        for key, values in parts.items():
            self.parts.setdefault(key, []).extend(np.broadcast_to(np.asarray(values, np.float64), (n,)).tolist())

    def arrays(self) -> dict[str, np.ndarray]:
        return {"merchant": np.array(self.merchant, np.int64), "orig_day": np.array(self.orig_day, np.int64),
                "amount": np.array(self.amount, np.float64), "term": np.array(self.term, np.int64),
                "true_pd": np.array(self.true_pd, np.float64), "y": np.array(self.y, np.int8),
                "default_day": np.array(self.default_day, np.int64),
                **{f"part_{k}": np.array(v, np.float64) for k, v in self.parts.items()}}


class Repayments:
    """Monthly instalments of running loans, one loan per merchant at a time (the world's own lender or
    another one): paid every 30 days until the term ends or the merchant stops paying."""

    def __init__(self, n: int) -> None:
        self.active = np.zeros(n, bool)
        self.next_due = np.zeros(n, np.int64)
        self.left = np.zeros(n, np.int64)
        self.instalment = np.zeros(n)
        self.stop = np.full(n, 1 << 30, np.int64)  # first day it is not paid (a defaulter's last)
        self.end = np.full(n, -(1 << 30), np.int64)  # the running or last loan's last instalment day

    def open(self, day: int, idx: np.ndarray, amount: np.ndarray, term: np.ndarray, monthly_rate: float,
             stop: np.ndarray | None = None) -> None:
        r = monthly_rate
        self.active[idx] = True
        self.next_due[idx] = day + 30
        self.left[idx] = term
        self.instalment[idx] = amount * r / (1 - (1 + r) ** (-term.astype(float)))
        self.stop[idx] = (1 << 30) if stop is None else stop
        self.end[idx] = day + 30 * term

    def due(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Merchants paying an instalment today and its amount; closes loans that are done."""
        idx = np.flatnonzero(self.active & (self.next_due == day))
        if not idx.size:
            return idx, np.zeros(0)
        paying = idx[day < self.stop[idx]]
        self.left[idx] -= 1
        self.next_due[idx] += 30
        done = idx[(self.left[idx] <= 0) | (day >= self.stop[idx])]
        self.active[done] = False
        return paying, self.instalment[paying]


def default_timing(rng: np.random.Generator, day: int, term: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(default day, last day paid) of each new loan: defaulted loans stop paying somewhere in their term
    and default 90 days later (docs/domain.md); the others never stop."""
    stop_after = np.maximum(1, (rng.uniform(0.05, 0.95, term.size) * 30 * term)).astype(np.int64)
    default_day = np.where(y == 1, day + stop_after + 90, -1)
    stop = np.where(y == 1, day + stop_after, 1 << 30)
    return default_day, stop


@dataclass
class Lender:
    """The world's own lender: one loan per merchant at a time, paid monthly from the merchant's account."""

    loans: Repayments
    counterparty: int
    monthly_rate: float

    def collect(self, day: int, rows: Rows, balance: np.ndarray) -> None:
        idx, instalment = self.loans.due(day)
        rows.add(day, idx, OUT, K.LOAN_REPAYMENT, instalment, counterparty=self.counterparty)
        balance[idx] -= instalment

    def lend(self, rng: np.random.Generator, day: int, ask: np.ndarray, amount: np.ndarray, term: np.ndarray,
             scored: tuple, *, book: Book, rows: Rows, balance: np.ndarray,
             gone_at_once: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Books the loans `ask` asked for, given the world's (logit, parts): the outcome is drawn
        from the true PD once, here. Returns (defaulted, last day paid). `gone_at_once` marks borrowers
        who, if they default, never pay an instalment (bust-out fraud)."""
        logit, parts = scored
        pd_ = sigmoid(logit)
        y = (rng.random(ask.size) < pd_).astype(np.int8)
        default_day, stop = default_timing(rng, day, term, y)
        if gone_at_once is not None:
            at_once = gone_at_once & (y == 1)
            stop = np.where(at_once, day + 1, stop)
            default_day = np.where(at_once, day + 91, default_day)
        book.add(day, ask, amount, term, pd_, y, default_day, parts)
        rows.add(day, ask, IN, K.LOAN_DISBURSEMENT, amount, counterparty=self.counterparty)
        balance[ask] += amount
        self.loans.open(day, ask, amount, term, self.monthly_rate, stop=stop)
        return y, stop


@dataclass
class World:
    """A generated world: its rows, its lender's book and what it knows of each merchant."""

    name: str
    days: int
    rows: dict  # Rows.arrays()
    balances: dict | None  # merchant, day, min, close (None: the data never reports a balance)
    metrics: dict | None  # merchant, day, metric, value
    loans: dict  # Book.arrays()
    sector: np.ndarray  # str per merchant
    region: np.ndarray
    established: np.ndarray  # world day (may be negative: before the data starts)
    onboarded: np.ndarray  # world day of the first row

    @property
    def n(self) -> int:
        return int(self.sector.size)


def _cuts(sorted_merchant: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(sorted_merchant, np.arange(n + 1))


def _by_merchant(a: dict, keys: tuple[str, ...]) -> dict:
    order = np.lexsort((a["day"], a["merchant"]))
    return {k: a[k][order] for k in keys}


def histories(world: World, as_of_day: int) -> list[MerchantHistory]:
    """One MerchantHistory per merchant as of world day `as_of_day` (rows of earlier days; the credit
    record with each loan's status on that day). Loans and rows after it are not in it; callers cut
    each loan's snapshot from these with `MerchantHistory.truncated`."""
    n = world.n
    r = world.rows
    live = r["day"] < as_of_day
    r = {k: v[live] for k, v in r.items()}
    d = _by_merchant(r, ("merchant", "day", "direction", "kind", "count", "total", "max", "counterparty"))
    dc = _cuts(d["merchant"], n)
    has_cp = d["counterparty"] != NO_CP
    c = {k: v[has_cp] for k, v in d.items()}
    cc = _cuts(c["merchant"], n)
    b = bc = None
    if world.balances is not None:
        live = world.balances["day"] < as_of_day
        b = _by_merchant({k: v[live] for k, v in world.balances.items()}, ("merchant", "day", "min", "close"))
        bc = _cuts(b["merchant"], n)
    m = mc = None
    if world.metrics is not None:
        live = world.metrics["day"] < as_of_day
        m = _by_merchant({k: v[live] for k, v in world.metrics.items()}, ("merchant", "day", "metric", "value"))
        mc = _cuts(m["merchant"], n)
    ln = world.loans
    keep = ln["orig_day"] < as_of_day
    lorder = np.flatnonzero(keep)[np.argsort(ln["merchant"][keep], kind="stable")]
    lc = _cuts(ln["merchant"][lorder], n)
    as_of = day_date(DAY0 + as_of_day)
    out = []
    for i in range(n):
        a, z = dc[i], dc[i + 1]
        ca, cz = cc[i], cc[i + 1]
        li = lorder[lc[i]:lc[i + 1]]
        defaulted = ln["y"][li] == 1
        status = np.where(defaulted, 2, 1)  # DEFAULTED / REPAID; as_of cuts what is not known yet
        loans = PriorLoans.from_record(
            originated_on=DAY0 + ln["orig_day"][li], amount=ln["amount"][li], term_months=ln["term"][li],
            final_status=status, defaulted_on=np.where(defaulted, DAY0 + ln["default_day"][li], NO_DAY),
            days_past_due=np.zeros(li.size), as_of_day=DAY0 + as_of_day, dpd_known=np.zeros(li.size, bool))
        kw = {}
        if b is not None:
            ba, bz = bc[i], bc[i + 1]
            kw["balances"] = BalanceRows.build(DAY0 + b["day"][ba:bz], b["min"][ba:bz], b["close"][ba:bz])
        if m is not None:
            ma, mz = mc[i], mc[i + 1]
            kw["metrics"] = MetricRows.build(DAY0 + m["day"][ma:mz], m["metric"][ma:mz], m["value"][ma:mz])
        out.append(MerchantHistory(
            as_of=as_of, sector=str(world.sector[i]), region=str(world.region[i]),
            established_on=day_date(DAY0 + int(world.established[i])),
            onboarded_on=day_date(DAY0 + int(world.onboarded[i])),
            daily=DailyRows.build(DAY0 + d["day"][a:z], d["direction"][a:z], d["kind"][a:z], d["count"][a:z],
                                  d["total"][a:z], d["max"][a:z]),
            counterparties=CounterpartyRows.build(DAY0 + c["day"][ca:cz], c["direction"][ca:cz],
                                                  c["counterparty"][ca:cz], c["count"][ca:cz], c["total"][ca:cz]),
            loans=loans, business_id=i, **kw))
    return out
