"""The loan product's money: annuity instalment, amortisation schedule and APR with a fee.

Pure functions on `Decimal` (never float for money); see docs/pricing.md and docs/domain.md ("Money and
the loan product"). Every stored amount is rounded half-up to the cent at the moment it is computed,
so what a schedule shows is exactly what is owed: the rows sum to the totals with no residue.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from underwriting.money import ZERO, to_cents

__all__ = [
    "Schedule",
    "ScheduleRow",
    "amortisation_schedule",
    "annuity_instalment",
    "due_date",
    "effective_apr",
    "estimated_outstanding",
    "monthly_irr",
    "origination_fee",
]

# Intermediate precision: 40 significant digits keep (1 + r)^-n exact far beyond the cent for any
# amount and term the product allows, so the only rounding is the deliberate one to the cent.
_WORK = Context(prec=40)


def _check_inputs(principal: Decimal, apr: Decimal, term_months: int) -> None:
    if not isinstance(principal, Decimal) or not isinstance(apr, Decimal):
        raise TypeError("principal and apr must be Decimal (never float for money)")
    if principal <= 0 or principal != to_cents(principal):
        raise ValueError(f"principal must be a positive amount with at most 2 decimals, got {principal}")
    if apr < 0:
        raise ValueError(f"apr must be a non-negative fraction (0.18 for 18%), got {apr}")
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise ValueError(f"term_months must be a positive integer, got {term_months!r}")


def annuity_instalment(principal: Decimal, apr: Decimal, term_months: int) -> Decimal:
    """The level monthly payment that repays `principal` over `term_months` at `apr`/12 a month.

    `apr` is a fraction (Decimal("0.18") for 18%). Rounded half-up to the cent; the schedule's last
    instalment absorbs the difference that rounding leaves.
    """
    _check_inputs(principal, apr, term_months)
    with localcontext(_WORK):
        if apr == 0:
            exact = principal / term_months
        else:
            r = apr / 12
            exact = principal * r / (1 - (1 + r) ** -term_months)
    return to_cents(exact)


def due_date(disbursed_on: dt.date, number: int) -> dt.date:
    """The `number`-th monthly due date: the disbursement's day of month, clamped to the month's end.

    Clamped from the original day every month (Jan 31 -> Feb 28 -> Mar 31), so a short month never
    drags the later due dates earlier.
    """
    month_index = disbursed_on.month - 1 + number
    year, month = disbursed_on.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(disbursed_on.day, calendar.monthrange(year, month)[1]))


def months_elapsed(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (0 when `end` is earlier), by the due-date calendar."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and due_date(start, months) > end:
        months -= 1
    return max(months, 0)


def estimated_outstanding(*, amount: Decimal, originated_on: dt.date, term_months: int, on: dt.date) -> Decimal:
    """The principal an imported loan still owes on `on`, when the book says only that it is current:
    straight-line over its term (counting it as fully drawn would overstate a nearly repaid loan, and
    the book has no repayments to do better). Rounded half-up to the cent."""
    remaining = max(0, int(term_months) - months_elapsed(originated_on, on)) if term_months > 0 else 0
    return to_cents(Decimal(amount) * remaining / max(int(term_months), 1))


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    number: int
    due_on: dt.date
    payment: Decimal
    principal: Decimal
    interest: Decimal
    balance_after: Decimal

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "due_on": self.due_on.isoformat(),
            "payment": str(self.payment),
            "principal": str(self.principal),
            "interest": str(self.interest),
            "balance_after": str(self.balance_after),
        }


@dataclass(frozen=True, slots=True)
class Schedule:
    """A repayment schedule. Invariants: sum(payment) == total_repayable == principal +
    total_interest, sum(row principal) == principal, the last balance is 0.00, and every payment but
    the last equals `instalment`."""

    principal: Decimal
    apr: Decimal
    term_months: int
    disbursed_on: dt.date
    instalment: Decimal
    total_interest: Decimal
    total_repayable: Decimal
    rows: tuple[ScheduleRow, ...]

    @property
    def last_payment(self) -> Decimal:
        return self.rows[-1].payment

    def as_dict(self) -> dict:
        return {
            "principal": str(self.principal),
            "apr": str(self.apr),
            "term_months": self.term_months,
            "disbursed_on": self.disbursed_on.isoformat(),
            "instalment": str(self.instalment),
            "total_interest": str(self.total_interest),
            "total_repayable": str(self.total_repayable),
            "rows": [row.as_dict() for row in self.rows],
        }


def amortisation_schedule(
    *, principal: Decimal, apr: Decimal, term_months: int, disbursed_on: dt.date
) -> Schedule:
    """The schedule of a fixed-rate amortising loan disbursed on `disbursed_on`.

    Each month's interest is the open balance times apr/12, rounded to the cent; the payment is the
    annuity instalment, except the last, which is whatever clears the balance plus its interest. The
    last payment therefore differs from the others by the accumulated rounding (a few cents).
    """
    instalment = annuity_instalment(principal, apr, term_months)
    rows: list[ScheduleRow] = []
    balance = principal
    with localcontext(_WORK):
        monthly_rate = apr / 12
        for number in range(1, term_months + 1):
            interest = to_cents(balance * monthly_rate)
            if number == term_months:
                payment, principal_part = balance + interest, balance
            else:
                payment, principal_part = instalment, instalment - interest
            balance -= principal_part
            rows.append(
                ScheduleRow(
                    number=number,
                    due_on=due_date(disbursed_on, number),
                    payment=payment,
                    principal=principal_part,
                    interest=interest,
                    balance_after=balance,
                )
            )
    total_interest = sum((row.interest for row in rows), ZERO)
    return Schedule(
        principal=principal,
        apr=apr,
        term_months=term_months,
        disbursed_on=disbursed_on,
        instalment=instalment,
        total_interest=total_interest,
        total_repayable=principal + total_interest,
        rows=tuple(rows),
    )


def origination_fee(principal: Decimal, fee_rate: Decimal) -> Decimal:
    """The origination fee for `principal` at `fee_rate` (a fraction), rounded half-up to the cent."""
    if fee_rate < 0 or fee_rate >= 1:
        raise ValueError(f"fee_rate must be a fraction in [0, 1), got {fee_rate}")
    return to_cents(principal * fee_rate)


def _present_value(payments: list[Decimal], rate: Decimal) -> tuple[Decimal, Decimal]:
    """PV of monthly payments at a monthly rate and its derivative with respect to the rate."""
    v = 1 / (1 + rate)
    discount, pv, dpv = Decimal(1), Decimal(0), Decimal(0)
    for k, payment in enumerate(payments, start=1):
        discount *= v
        pv += payment * discount
        dpv -= k * payment * discount * v
    return pv, dpv


def monthly_irr(*, financed: Decimal, payments: list[Decimal], guess: Decimal = Decimal(0)) -> Decimal:
    """The monthly rate at which the payments (one a month, the first a month from now) are worth
    `financed` today, unrounded (40 significant digits).

    Newton's method safeguarded by bisection on a bracketing interval: the present value falls
    strictly as the rate rises, so the root is unique and the bracket always holds it.
    """
    if financed <= 0 or not payments or any(p < 0 for p in payments):
        raise ValueError("need a positive amount financed and non-negative payments")
    with localcontext(_WORK):
        if sum(payments) == financed:
            return Decimal(0)
        lo, hi = Decimal("-0.99"), Decimal(1)
        # 100% a month is above any realistic IRR; widen only for pathological inputs.
        while _present_value(payments, hi)[0] > financed:
            lo, hi = hi, hi * 2
        rate = guess if lo < guess < hi else (lo + hi) / 2
        for _ in range(400):
            pv, dpv = _present_value(payments, rate)
            excess = pv - financed
            if excess == 0:
                break
            if excess > 0:
                lo = rate
            else:
                hi = rate
            candidate = rate - excess / dpv
            if not (lo < candidate < hi):
                candidate = (lo + hi) / 2
            if abs(candidate - rate) < Decimal("1e-30"):
                rate = candidate
                break
            rate = candidate
        return +rate


def effective_apr(*, principal: Decimal, fee: Decimal, schedule: Schedule) -> Decimal:
    """The APR to disclose, in percent with 2 decimals (Decimal("19.56")).

    With a fee: the US Regulation Z actuarial method (12 CFR 1026, Appendix J). The borrower
    receives `principal - fee` at t=0 and pays the schedule's payments at the end of each monthly
    unit period; APR = the monthly internal rate of return x 12 (a nominal annual rate, not
    compounded), rounded half-up to 0.01 percentage points. Due dates clamped to a month's end are
    still one unit period apart, as Appendix J treats monthly periods.

    Without a fee the finance charge is the interest alone and the APR is the contract rate
    (docs/domain.md, "Money and the loan product": the IRR is shown when there is a fee). The IRR of the cent-rounded schedule
    differs from it only by the interest rounding: at most about 12/principal percentage points
    (0.012 at 1,000.00), well inside Regulation Z's 1/8-point tolerance, but enough to show 17.99
    for an 18% loan now and then, which would disclose a rate the contract does not charge.
    """
    if principal != schedule.principal:
        raise ValueError(f"principal {principal} is not the schedule's principal {schedule.principal}")
    if fee < 0 or fee != to_cents(fee) or fee >= principal:
        raise ValueError(f"fee must be an amount in [0, principal) with at most 2 decimals, got {fee}")
    if fee == 0:
        return to_cents(schedule.apr * 100)
    rate = monthly_irr(
        financed=principal - fee, payments=[row.payment for row in schedule.rows], guess=schedule.apr / 12
    )
    return to_cents(rate * 1200)
