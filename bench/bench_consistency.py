"""Bench: false positives and detection of the consistency checks (underwriting.history.ingest.consistency).

    python bench/bench_consistency.py [--merchants 1000] [--seeds 1 2 3] [--months 9 24] [--profiles 300]

No database. Prints, per code, the share of genuine histories that trip it (false positives) on:

* simulated worlds (`generate_world`, every merchant of every seed and length) as the simulator writes
  them, as a coarse bank-statement variant (kinds collapsed to card_payment / transfer / other, no
  counterparty, no balance) and as a dated statement (date-only timestamps, newest row first, balances
  kept, kinds collapsed);
* hand-built genuine profiles of real-world shapes the simulator does not produce: a cafe selling
  single items at a handful of whole-unit prices (one row per sale), the same with every price a
  multiple of 5, a shop closed on Sundays and for a holiday week, a restaurant settling 2-5 payment
  channels a day, a B2B firm invoicing a few round sums a month, a tutoring school paid round fees, a
  cash market depositing round hundreds, a date-only statement listed newest first, and a bank export
  sorted by time whose balances follow the posting order (any order within the day, 3% of rows posted
  the next day) with one row lost;

then the detection (share tripping each code, and two or more) on fabricated variants: what a person
types or scripts, from crude to careful. Finally the time to check a 50,000-row history.
Thresholds in the module are set so every genuine set stays at or below ~1% per code.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from underwriting.history.ingest.check_result import CHECKS  # noqa: E402
from underwriting.history.ingest.consistency import history_checks  # noqa: E402
from underwriting.history.ingest.history_rows import HistoryRows  # noqa: E402

START = date(2026, 2, 1)
DAYS = 273  # nine months, as the simulator's default window
START_S = int(datetime(START.year, START.month, START.day, tzinfo=UTC).timestamp())
NOW = datetime(2026, 11, 1, tzinfo=UTC)
BANK_KIND = {
    "sale": "card_payment", "refund": "card_payment", "chargeback": "card_payment", "fee": "card_payment",
    "card_payment": "card_payment", "cash_deposit": "other", "cash_withdrawal": "other", "interest": "other",
    "payout": "other", "supplier_payment": "transfer", "payroll": "transfer", "rent": "transfer",
    "tax": "transfer", "transfer": "transfer", "loan_disbursement": "transfer", "loan_repayment": "transfer",
    "other": "other",
}


# --- simulated worlds --------------------------------------------------------------------------------


def sim_histories(world, variant: str) -> Iterator[HistoryRows]:
    """One HistoryRows per simulated merchant: 'sim' (as written), 'bank' or 'statement'."""
    from underwriting.simulator.params import TRANSACTION_KINDS
    from underwriting.simulator.writers import balances_after

    tx = world.tx
    start_s = int(datetime(world.start.year, world.start.month, world.start.day, tzinfo=UTC).timestamp())
    secs = start_s + tx["day"].astype(np.int64) * 86_400 + tx["sec"]
    if variant == "statement":
        secs = start_s + tx["day"].astype(np.int64) * 86_400
    names = np.array(TRANSACTION_KINDS, dtype=object)
    kinds = names[tx["kind"]]
    if variant in ("bank", "statement"):
        kinds = np.array([BANK_KIND[k] for k in TRANSACTION_KINDS], dtype=object)[tx["kind"]]
    cps = np.array([*world.counterparties, None], dtype=object)[tx["counterparty"]]
    if variant != "sim":
        cps = np.full(tx["kind"].size, None, dtype=object)
    bal = balances_after(world).astype(np.float64)
    if variant == "bank":
        bal = np.full(bal.size, np.nan)
    direction = np.where(tx["direction"] == 0, 1, 2).astype(np.int8)
    m = tx["merchant"]
    bounds = np.flatnonzero(np.r_[True, m[1:] != m[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        sl = slice(lo, hi) if variant != "statement" else slice(hi - 1, lo - 1 if lo else None, -1)
        yield HistoryRows(occurred_at=secs[sl].astype("datetime64[s]"), amount_minor=tx["amount"][sl],
                          direction=direction[sl], kind=kinds[sl], counterparty=cps[sl], balance_minor=bal[sl])


# --- building blocks of hand-built histories --------------------------------------------------------


class Book:
    """Rows of one merchant, balances computed at the end in time order (consistent, like a bank)."""

    def __init__(self, rng: np.random.Generator, opening: int):
        self.rng = rng
        self.opening = opening
        self.rows: list[tuple[int, int, int, str, str | None]] = []  # seconds, amount, direction, kind, cp

    def add(self, day: int, hour_lo: float, hour_hi: float, amount: int, direction: int, kind: str,
            cp: str | None = None) -> None:
        if amount <= 0:
            return
        sec = int(self.rng.uniform(hour_lo, hour_hi) * 3600)
        self.rows.append((START_S + day * 86_400 + sec, int(amount), direction, kind, cp))

    def monthly_bills(self, days: int, level: int, *, rent_day: int = 3, pay_day: int = 10) -> None:
        """Rent and payroll (round, fixed), utilities and fees (cents), suppliers every 7-14 days."""
        rent = int(round(level * self.rng.uniform(0.08, 0.15), -5))  # whole hundreds
        payroll = int(round(level * self.rng.uniform(0.15, 0.3), -5))
        every = int(self.rng.integers(7, 15))
        phase = int(self.rng.integers(0, every))
        for d in range(days):
            dom = (START.toordinal() + d)
            day_of_month = date.fromordinal(dom).day
            if day_of_month == rent_day:
                self.add(d, 9, 11, rent, 2, "rent")
            if day_of_month == pay_day:
                self.add(d, 9, 12, payroll, 2, "payroll")
            if day_of_month == 20:
                self.add(d, 0, 24, int(level * 0.012 * self.rng.lognormal(0, 0.15)), 2, "card_payment")
            if day_of_month == 1:
                self.add(d, 1, 3, int(level * 0.006 * self.rng.lognormal(0, 0.1)), 2, "fee")
            if (d + phase) % every == 0:
                self.add(d, 9, 17, int(level * 0.4 * every / 30 * self.rng.lognormal(0, 0.1)), 2,
                         "supplier_payment")

    def history(self, *, balances: bool = True, newest_first: bool = False, date_only: bool = False) -> HistoryRows:
        rows = sorted(self.rows, key=lambda r: r[0])
        secs = np.array([r[0] for r in rows], dtype=np.int64)
        amount = np.array([r[1] for r in rows], dtype=np.int64)
        direction = np.array([r[2] for r in rows], dtype=np.int8)
        kind = np.array([r[3] for r in rows], dtype=object)
        cp = np.array([r[4] for r in rows], dtype=object)
        signed = np.where(direction == 1, amount, -amount)
        bal = (self.opening + np.cumsum(signed)).astype(np.float64)
        if not balances:
            bal = np.full(bal.size, np.nan)
        if date_only:
            secs = secs - secs % 86_400
        if newest_first:
            secs, amount, direction, kind, cp, bal = (a[::-1] for a in (secs, amount, direction, kind, cp, bal))
        return HistoryRows(occurred_at=secs.astype("datetime64[s]"), amount_minor=amount, direction=direction,
                           kind=kind, counterparty=cp, balance_minor=bal)


def _weekday(d: int) -> int:
    return date.fromordinal(START.toordinal() + d).weekday()


# --- genuine profiles --------------------------------------------------------------------------------


def cafe(rng: np.random.Generator, *, step: int = 1, per_day: float | None = None) -> HistoryRows:
    """One row per sale at a handful of whole-unit prices (step 5: every price a multiple of 5)."""
    n_prices = int(rng.integers(6, 16))
    lo, hi = (3, 10) if step == 5 else (12, 48)
    prices = np.unique(rng.integers(lo, hi, size=n_prices)) * step * 100
    weights = 1 / np.arange(1, prices.size + 1) ** rng.uniform(0.5, 1.2)
    weights = rng.permutation(weights / weights.sum())
    per_day = per_day or rng.uniform(15, 140)
    closed_dow = int(rng.integers(0, 7)) if rng.random() < 0.3 else -1
    kind = "sale" if rng.random() < 0.5 else "card_payment"
    cp = "WeChat Pay" if rng.random() < 0.5 else None
    book = Book(rng, int(rng.integers(500_000, 3_000_000)))
    for d in range(DAYS):
        if _weekday(d) == closed_dow or rng.random() < 0.03:
            continue
        k = rng.poisson(per_day * (1.25 if _weekday(d) >= 5 else 1.0) * rng.lognormal(0, 0.2))
        for a in rng.choice(prices, size=k, p=weights):
            book.add(d, -1, 12, int(a), 1, kind, cp)  # 7:00-20:00 Beijing time
    book.monthly_bills(DAYS, int(per_day * 30 * prices.mean()))
    return book.history(balances=rng.random() < 0.7)


def sunday_shop(rng: np.random.Generator) -> HistoryRows:
    """A daily card settlement, closed on Sundays, a week at Spring Festival, round cash deposits."""
    level = rng.lognormal(np.log(1500 * 100), 0.6)
    vol = rng.uniform(0.15, 0.45)
    holiday = int(rng.integers(0, DAYS - 8))
    book = Book(rng, int(rng.integers(500_000, 5_000_000)))
    cash = 0
    for d in range(DAYS):
        if _weekday(d) == 6 or holiday <= d < holiday + 7 or rng.random() < 0.03:
            continue
        takings = level * rng.lognormal(-vol**2 / 2, vol)
        book.add(d, 13, 16, int(takings * 0.8), 1, "sale", "UnionPay settlement")
        cash += int(takings * 0.2)
        if _weekday(d) == 5 and cash > 10_000:
            deposit = cash // 10_000 * 10_000  # notes of 100
            book.add(d, 8, 10, deposit, 1, "cash_deposit")
            cash -= deposit
    book.monthly_bills(DAYS, int(level * 26))
    return book.history(balances=rng.random() < 0.8)


def multichannel(rng: np.random.Generator) -> HistoryRows:
    """A restaurant settling 2-5 payment channels every day it opens, closed most Mondays."""
    channels = ["Meituan", "Eleme", "Alipay", "WeChat Pay", "UnionPay"][: int(rng.integers(2, 6))]
    level = rng.lognormal(np.log(900 * 100), 0.5, size=len(channels))
    book = Book(rng, int(rng.integers(500_000, 5_000_000)))
    for d in range(DAYS):
        if (_weekday(d) == 0 and rng.random() < 0.9) or rng.random() < 0.03:
            continue
        for name, lv in zip(channels, level, strict=True):
            if rng.random() < 0.97:
                book.add(d, 14, 16, int(lv * rng.lognormal(-0.03, 0.25)), 1, "sale", name)
    book.monthly_bills(DAYS, int(level.sum() * 26))
    return book.history(balances=True)


def b2b(rng: np.random.Generator) -> HistoryRows:
    """A firm invoicing 3-10 clients a few round sums a month, paid by transfer or booked as sales."""
    clients = int(rng.integers(3, 11))
    fee = rng.choice([5_000, 8_000, 10_000, 12_000, 15_000, 20_000, 25_000, 30_000, 50_000], size=clients) * 100
    pay_day = rng.integers(1, 29, size=clients)
    kind = "transfer" if rng.random() < 0.5 else "sale"
    book = Book(rng, int(rng.integers(2_000_000, 10_000_000)))
    for d in range(DAYS):
        dom = date.fromordinal(START.toordinal() + d).day
        for c in range(clients):
            if dom == pay_day[c] + (0 if rng.random() < 0.7 else 1):
                book.add(d, 9, 17, int(fee[c]), 1, kind, f"Client {c}")
    book.monthly_bills(DAYS, int(fee.sum()))
    return book.history(balances=True)


def tutoring(rng: np.random.Generator) -> HistoryRows:
    """A tutoring school: 40-200 students paying a round monthly fee in the first ten days."""
    students = int(rng.integers(40, 200))
    fees = rng.choice([800, 1_000, 1_200, 1_500, 2_000], size=students) * 100
    pay_day = rng.integers(1, 11, size=students)
    book = Book(rng, int(rng.integers(2_000_000, 10_000_000)))
    for d in range(DAYS):
        dom = date.fromordinal(START.toordinal() + d).day
        for s in np.flatnonzero(pay_day == dom):
            if rng.random() < 0.95:
                book.add(d, 0, 12, int(fees[s]), 1, "sale")
    book.monthly_bills(DAYS, int(fees.sum()))
    return book.history(balances=True)


def cash_market(rng: np.random.Generator) -> HistoryRows:
    """A market stall: small card sales and a cash deposit of whole hundreds most evenings."""
    level = rng.lognormal(np.log(1200 * 100), 0.5)
    book = Book(rng, int(rng.integers(200_000, 2_000_000)))
    for d in range(DAYS):
        if rng.random() < 0.08:
            continue
        takings = level * rng.lognormal(-0.05, 0.3)
        book.add(d, 12, 14, int(takings * 0.3), 1, "sale", "Alipay settlement")
        book.add(d, 9, 10, int(takings * 0.7) // 10_000 * 10_000, 1, "cash_deposit")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history(balances=rng.random() < 0.5)


def dated_statement(rng: np.random.Generator) -> HistoryRows:
    """A daily settlement exported by a bank: date-only rows, newest first, balances kept."""
    level = rng.lognormal(np.log(1500 * 100), 0.6)
    book = Book(rng, int(rng.integers(500_000, 5_000_000)))
    for d in range(DAYS):
        if rng.random() < 0.07:
            continue
        book.add(d, 13, 16, int(level * rng.lognormal(-0.05, 0.3)), 1, "card_payment")
        if rng.random() < 0.2:
            book.add(d, 1, 10, int(level * rng.lognormal(-2, 0.5)), 2, "transfer")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history(newest_first=True, date_only=True)


def posting_order_export(rng: np.random.Generator) -> HistoryRows:
    """A bank export sorted by transaction time whose balances follow the bank's posting order: within a
    day in any order, 3% of rows posted the next day, and one row lost from the extract."""
    level = rng.lognormal(np.log(1500 * 100), 0.6)
    book = Book(rng, int(rng.integers(500_000, 5_000_000)))
    for d in range(DAYS):
        if rng.random() < 0.07:
            continue
        book.add(d, 13, 16, int(level * rng.lognormal(-0.05, 0.3)), 1, "sale")
        for _ in range(rng.poisson(0.6)):
            book.add(d, 8, 20, int(level * rng.lognormal(-1.5, 0.7)), int(rng.choice([1, 2])), "transfer")
    book.monthly_bills(DAYS, int(level * 28))
    rows = sorted(book.rows, key=lambda r: r[0])
    posted_day = np.array([r[0] // 86_400 + (rng.random() < 0.03) for r in rows])
    posting = np.lexsort((rng.random(len(rows)), posted_day))  # any order within the posting day
    signed = np.array([r[1] if r[2] == 1 else -r[1] for r in rows], dtype=np.int64)
    bal = np.empty(len(rows))
    bal[posting] = book.opening + np.cumsum(signed[posting])
    keep = np.ones(len(rows), dtype=bool)
    keep[rng.integers(len(rows))] = False
    return HistoryRows(np.array([r[0] for r in rows], dtype=np.int64).astype("datetime64[s]")[keep],
                       np.array([r[1] for r in rows])[keep], np.array([r[2] for r in rows])[keep],
                       np.array([r[3] for r in rows], dtype=object)[keep], np.full(keep.sum(), None),
                       bal[keep])


GENUINE_PROFILES: dict[str, Callable[[np.random.Generator], HistoryRows]] = {
    "cafe (whole-unit prices)": cafe,
    "cafe (prices in fives)": lambda rng: cafe(rng, step=5),
    "closed Sundays + holiday": sunday_shop,
    "restaurant, 2-5 channels": multichannel,
    "B2B, round invoices": b2b,
    "tutoring, round fees": tutoring,
    "cash market": cash_market,
    "dated bank statement": dated_statement,
    "export in posting order, a row lost": posting_order_export,
}


# --- fabricated variants -----------------------------------------------------------------------------


def _fake_book(rng: np.random.Generator) -> tuple[Book, float]:
    level = rng.uniform(1500, 4000) * 100
    return Book(rng, int(rng.integers(10, 80)) * 100_000), level


def fake_rounded_spreadsheet(rng: np.random.Generator) -> HistoryRows:
    """Daily takings typed/scripted to the nearest 10, bills slotted in with a hand-worked balance."""
    book, level = _fake_book(rng)
    for d in range(DAYS):
        if _weekday(d) == 6:
            continue
        takings = round(level * (1.3 if _weekday(d) >= 4 else 1.0) * rng.uniform(0.8, 1.2), -3)
        book.add(d, 19, 21, int(takings), 1, "sale")
    book.monthly_bills(DAYS, int(level * 26))
    h = book.history()
    # Balances were worked out for the takings first; each bill got "balance before - amount" but the
    # rows after it were never updated.
    takings_only = np.where(h.direction == 1, h.amount_minor, 0)
    bal = book.opening + np.cumsum(takings_only)
    prev = np.r_[book.opening, bal[:-1]]
    bal = np.where(h.direction == 2, prev - h.amount_minor, bal).astype(np.float64)
    return HistoryRows(h.occurred_at, h.amount_minor, h.direction, h.kind, h.counterparty, bal)


def fake_choice_list(rng: np.random.Generator) -> HistoryRows:
    """Takings picked from a short list of figures; balances computed correctly."""
    figures = rng.choice(np.arange(15, 45) * 10_000, size=int(rng.integers(4, 9)), replace=False)
    book, _ = _fake_book(rng)
    for d in range(DAYS):
        if rng.random() < 0.05:
            continue
        book.add(d, 18, 21, int(rng.choice(figures)), 1, "sale")
    book.monthly_bills(DAYS, int(figures.mean() * 28))
    return book.history()


def fake_copied_weeks(rng: np.random.Generator) -> HistoryRows:
    """Two weeks of plausible per-sale rows (with cents) copied forward to fill nine months; balances
    recomputed correctly."""
    book, level = _fake_book(rng)
    template = []
    for d in range(14):
        for _ in range(int(rng.integers(3, 9))):
            template.append((d, rng.uniform(10, 20), int(rng.uniform(30, 400) * 100)))
    for d0 in range(0, DAYS, 14):
        for d, hour, amount in template:
            if d0 + d < DAYS:
                book.add(d0 + d, hour, hour, amount, 1, "sale")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history()


def fake_copied_month(rng: np.random.Generator) -> HistoryRows:
    """One plausible month of per-sale rows (with cents) pasted into the following months on the same
    dates; balances recomputed correctly."""
    book, level = _fake_book(rng)
    template = {dom: [(rng.uniform(10, 20), int(rng.uniform(30, 400) * 100)) for _ in range(int(rng.integers(3, 9)))]
                for dom in range(1, 32)}
    for d in range(DAYS):
        for hour, amount in template[date.fromordinal(START.toordinal() + d).day]:
            book.add(d, hour, hour, amount, 1, "sale")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history()


def fake_scripted_gaps(rng: np.random.Generator) -> HistoryRows:
    """A careful script (cents, varying counts, correct balances) that skips every n-th day."""
    every = int(rng.choice([3, 4, 5, 6, 8, 9, 10]))
    book, level = _fake_book(rng)
    for d in range(DAYS):
        if d % every == every - 1:
            continue
        for _ in range(int(rng.integers(2, 7))):
            book.add(d, 8, 20, int(rng.uniform(50, 800) * 100), 1, "sale")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history()


def fake_fixed_count(rng: np.random.Generator) -> HistoryRows:
    """Exactly k sales every day (for i in range(k)), amounts with cents, correct balances, rent only."""
    k = int(rng.integers(2, 8))
    book, _ = _fake_book(rng)
    for d in range(DAYS):
        for _ in range(k):
            book.add(d, 8, 20, int(rng.uniform(50, 800) * 100), 1, "sale")
    return book.history()


def fake_future(rng: np.random.Generator) -> HistoryRows:
    """Nine months counted from the wrong start: the last weeks lie after the application."""
    h = fake_careful(rng)
    return HistoryRows(h.occurred_at + np.timedelta64(30 * 86_400, "s"), h.amount_minor, h.direction, h.kind,
                       h.counterparty, h.balance_minor)


def fake_careful(rng: np.random.Generator) -> HistoryRows:
    """The careful faker: log-normal takings with cents, Poisson counts, weekly rhythm, correct balances.
    Nothing here is inconsistent; the checks are not expected to catch it (policy must)."""
    book, level = _fake_book(rng)
    for d in range(DAYS):
        if rng.random() < 0.05:
            continue
        for _ in range(max(1, rng.poisson(4))):
            book.add(d, 8, 20, int(level / 4 * rng.lognormal(-0.1, 0.5)), 1, "sale")
    book.monthly_bills(DAYS, int(level * 28))
    return book.history()


FABRICATED: dict[str, Callable[[np.random.Generator], HistoryRows]] = {
    "rounded takings, spreadsheet balances": fake_rounded_spreadsheet,
    "takings from a short list": fake_choice_list,
    "two weeks copied forward": fake_copied_weeks,
    "one month copied forward": fake_copied_month,
    "script skipping every n-th day": fake_scripted_gaps,
    "exactly k sales a day": fake_fixed_count,
    "dated into the future": fake_future,
    "careful faker (control)": fake_careful,
}


def inflated(history: HistoryRows, rng: np.random.Generator) -> HistoryRows:
    """A genuine history whose sales were multiplied (x1.5-3) with the balances left as they were."""
    factor = rng.uniform(1.5, 3.0)
    sales = (history.direction == 1) & np.isin(history.kind, ["sale", "card_payment"])
    amount = np.where(sales, (history.amount_minor * factor).astype(np.int64), history.amount_minor)
    return HistoryRows(history.occurred_at, amount, history.direction, history.kind, history.counterparty,
                       history.balance_minor)


# --- reporting ---------------------------------------------------------------------------------------


# The statistic each threshold applies to, read from CheckResult.measures: name -> (code, value, limit).
MARGINS: dict[str, tuple[str, Callable[[dict], float | None], str]] = {
    "balance: broken share": ("DC_BALANCE_MISMATCH", lambda m: m["broken_share"], ">= 5% and >= 3 rows"),
    "duplicated: repeats over chance limit": ("DC_DUPLICATED_DAYS", lambda m: m["repeats"] - m["limit"],
                                              "> 0 and >= 3 repeats"),
    "calendar: phase missing share": ("DC_CALENDAR_PATTERN", lambda m: m["gap_share"], ">= 0.90"),
    "calendar: same-count share": ("DC_CALENDAR_PATTERN", lambda m: m["same_count_share"], ">= 0.95"),
    "round: share of round takings": ("DC_ROUND_AMOUNTS", lambda m: m["round_share"], ">= 0.80"),
    "repeated: repeated-days share": ("DC_REPEATED_AMOUNTS", lambda m: m["repeated_share"], ">= 0.30 and"),
    "repeated: spike (when share >= 0.30)": ("DC_REPEATED_AMOUNTS",
                                             lambda m: m["spike"] if m["repeated_share"] >= 0.3 else None,
                                             ">= 4.0"),
}


class Tally:
    def __init__(self) -> None:
        self.n = 0
        self.tripped = dict.fromkeys(CHECKS, 0)
        self.applicable = dict.fromkeys(CHECKS, 0)
        self.two_plus = 0
        self.examples: dict[str, str] = {}
        self.margins: dict[str, list[float]] = {name: [] for name in MARGINS}

    def merge(self, other: Tally) -> None:
        self.n += other.n
        self.two_plus += other.two_plus
        for c in CHECKS:
            self.tripped[c] += other.tripped[c]
            self.applicable[c] += other.applicable[c]
            if c in other.examples:
                self.examples.setdefault(c, other.examples[c])
        for name in MARGINS:
            self.margins[name].extend(other.margins[name])

    def add(self, history: HistoryRows) -> None:
        results = history_checks(history, now=NOW)
        self.n += 1
        hits = 0
        for r in results:
            self.applicable[r.code] += r.applicable
            if r.applicable:
                m = dict(r.measures)
                for name, (code, fn, _) in MARGINS.items():
                    if code == r.code and (v := fn(m)) is not None:
                        self.margins[name].append(v)
            if r.tripped:
                self.tripped[r.code] += 1
                hits += 1
                self.examples.setdefault(r.code, r.detail)
        self.two_plus += hits >= 2


def header() -> str:
    short = [c.removeprefix("DC_")[:10] for c in CHECKS]
    return f"{'set':44s} {'n':>6s} " + " ".join(f"{s:>10s}" for s in short) + f" {'2+ codes':>9s}"


def line(name: str, t: Tally) -> str:
    cells = [f"{100 * t.tripped[c] / t.n:9.2f}%" for c in CHECKS]
    return f"{name:44s} {t.n:6d} " + " ".join(cells) + f" {100 * t.two_plus / t.n:8.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--months", type=int, nargs="+", default=[9, 24])
    parser.add_argument("--profiles", type=int, default=300, help="histories per hand-built profile")
    parser.add_argument("--examples", action="store_true", help="print one detail per tripped code")
    args = parser.parse_args()

    from underwriting.simulator.service import generate_world

    print("False positives on genuine histories (share tripping each code):")
    print(header())
    totals: dict[str, Tally] = {}
    genuine = Tally()
    for months in args.months:
        for seed in args.seeds:
            world = generate_world(merchants=args.merchants, months=months, seed=seed)
            for variant in ("sim", "bank", "statement"):
                t = Tally()
                for h in sim_histories(world, variant):
                    t.add(h)
                totals.setdefault(variant, Tally()).merge(t)
                genuine.merge(t)
                print(line(f"simulated {months}m seed {seed} ({variant})", t))
    for variant, t in totals.items():
        print(line(f"all simulated ({variant})", t))
        if args.examples:
            for c, d in t.examples.items():
                print(f"    {c}: {d}")
    rng = np.random.default_rng(2026)
    for name, make in GENUINE_PROFILES.items():
        t = Tally()
        for _ in range(args.profiles):
            t.add(make(rng))
        genuine.merge(t)
        print(line(name, t))
        if args.examples:
            for c, d in t.examples.items():
                print(f"    {c}: {d}")
    print(line("all genuine", genuine))
    print("\nMargins: each threshold's statistic over every applicable genuine history")
    print(f"  {'statistic':40s} {'n':>6s} {'p99':>8s} {'p99.9':>8s} {'max':>8s}  trips when")
    for name, (_, _, limit) in MARGINS.items():
        v = np.array(genuine.margins[name])
        if v.size:
            print(f"  {name:40s} {v.size:6d} {np.quantile(v, 0.99):8.3f} {np.quantile(v, 0.999):8.3f} "
                  f"{v.max():8.3f}  {limit}")
        else:
            print(f"  {name:40s} {0:6d}")
    applicable = totals.get("sim")
    if applicable is not None:
        print("\nApplicable share on simulated histories (sim / bank):")
        for c in CHECKS:
            print(f"  {c:22s} {100 * applicable.applicable[c] / applicable.n:6.1f}% / "
                  f"{100 * totals['bank'].applicable[c] / totals['bank'].n:6.1f}%")

    print("\nDetection on fabricated histories:")
    print(header())
    for name, make in FABRICATED.items():
        t = Tally()
        for _ in range(args.profiles):
            t.add(make(rng))
        print(line(name, t))
        if args.examples:
            for c, d in t.examples.items():
                print(f"    {c}: {d}")
    world = generate_world(merchants=min(args.merchants, 300), months=9, seed=args.seeds[0])
    t = Tally()
    for h in sim_histories(world, "sim"):
        t.add(inflated(h, rng))
    print(line("simulated history, sales inflated", t))

    print("\nTiming (history_checks, mean of 5 calls):")
    busy = None
    while busy is None or len(busy) < 50_000:
        busy = cafe(np.random.default_rng(len(busy) if busy is not None else 0), per_day=220)
    busy = HistoryRows(*(getattr(busy, f)[:50_000] for f in (
        "occurred_at", "amount_minor", "direction", "kind", "counterparty", "balance_minor")))
    secs = busy.occurred_at.astype(np.int64)
    cases = {
        "50,000-row cafe, timestamps": busy,
        "50,000-row cafe, date-only (ties)": HistoryRows((secs - secs % 86_400).astype("datetime64[s]"),
                                                         busy.amount_minor, busy.direction, busy.kind,
                                                         busy.counterparty, busy.balance_minor),
        "50,000-row cafe, sales inflated": inflated(busy, np.random.default_rng(1)),
    }
    for name, h in cases.items():
        history_checks(h, now=NOW)
        t0 = time.perf_counter()
        for _ in range(5):
            history_checks(h, now=NOW)
        print(f"  {name:40s} {(time.perf_counter() - t0) / 5 * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
