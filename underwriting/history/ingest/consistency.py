"""Consistency checks that fabricated transaction histories tend to fail.

A history an owner types or scripts looks plausible row by row; what it rarely gets right is the
arithmetic and the texture that real money movements have as a whole. Each check measures one such
property of one merchant's history, names it with a reason code (``DC_...``) and says in one plain
sentence, with the figures, what it found. A check that cannot be measured on the data (no balances,
too few days of sales) is reported as not applicable and never trips. A history tripping two or more
codes is declined, so every check must stay quiet on genuine data on its own: the thresholds (beside
each check, in balances.py, day_patterns.py, takings.py and below) were set by measurement with
``bench/bench_consistency.py`` (simulated worlds of several seeds and lengths,
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

from datetime import datetime

from underwriting.history.ingest.balances import check_balance
from underwriting.history.ingest.check_result import CheckResult, day_text
from underwriting.history.ingest.day_patterns import check_calendar, check_duplicated_days
from underwriting.history.ingest.history_rows import DAY_SECONDS, HistoryRows, Prepared, prepare, utc_seconds
from underwriting.history.ingest.takings import check_repeated, check_round, takings_of

# DC_FUTURE_DATES
FUTURE_GRACE_SECONDS = DAY_SECONDS


def _check_future(p: Prepared, now: int) -> CheckResult:
    code = "DC_FUTURE_DATES"
    n = p.amount.size
    if n == 0:
        return CheckResult(code, False, False, "The history has no transactions.", (("ahead", 0.0),))
    count = int((p.seconds > now + FUTURE_GRACE_SECONDS).sum())
    today = day_text(now // DAY_SECONDS)
    if count == 0:
        return CheckResult(code, False, True, f"No transaction is dated after the check ({today}).",
                           (("ahead", 0.0),))
    latest = int(p.seconds[-1])
    return CheckResult(code, True, True, f"{count} of {n} transactions are dated after the check ({today}), the "
                       f"latest on {day_text(latest // DAY_SECONDS)}, {(latest - now) // DAY_SECONDS} days ahead.",
                       (("ahead", float(count)),))


# --- entry points -------------------------------------------------------------------------------------


def history_checks(rows: HistoryRows, *, now: datetime) -> list[CheckResult]:
    """Every check of CHECKS on one merchant's history, one result per code, in CHECKS order."""
    now_s = utc_seconds(now)
    p = prepare(rows)
    takings = takings_of(p)
    return [
        check_balance(p),
        check_duplicated_days(p),
        check_calendar(p),
        check_round(takings),
        check_repeated(takings),
        _check_future(p, now_s),
    ]
