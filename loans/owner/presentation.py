"""Turns stored decisions into what an owner reads: headings, figures, reasons and advice.

Nothing here decides anything; it only phrases the decision's own record (its reasons come from its
own SHAP values or failed rules, ordered by how much each weighed)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from config import clock
from loans.applications.models import Application, ApplicationStatus
from underwriting.engine.outcomes import KnockOut, Outcome
from underwriting.engine.product import amortisation_schedule
from underwriting.money import money_text

S = ApplicationStatus

HEADINGS = {
    S.SUBMITTED: "Deciding…",
    S.DECIDING: "Deciding…",
    S.APPROVED: "Approved",
    S.COUNTER_OFFERED: "Counter-offer",
    S.DECLINED: "Declined",
    S.ACCEPTED: "Approved",
    S.DISBURSED: "Approved",
    S.REJECTED: "Approved",
    S.EXPIRED: "Approved",
    S.WITHDRAWN: "Withdrawn",
}

# What the applicant can do about each family of reasons. Which of them is shown, and in what order,
# comes from the decision: the family that weighed most against this application comes first.
FAMILY_ADVICE = {
    "scale": "More sales through the accounts linked here: a larger business can carry a larger loan.",
    "growth": "A few more months of steady or rising sales before applying again.",
    "volatility": "More even sales from month to month (for example by smoothing seasonal dips).",
    "refunds": "Fewer refunds and chargebacks.",
    "cashflow": "A healthier balance, with more money coming in than going out each month.",
    "obligations": "Rent, payroll and supplier payments made regularly and on time.",
    "concentration": "Sales spread over more customers, so one customer matters less.",
    "reputation": "A better marketplace rating and fewer disputes.",
    "tenure": "More trading history: apply again after a few more months of activity.",
    "debt": "Repaying existing loans on time, or paying them down, before borrowing more.",
    "anomaly": "A few weeks of normal trading: unusual recent activity weighed against this application.",
    "burden": "A smaller amount, or a longer term, so the loan is smaller relative to your sales.",
    "price": "A longer term: the same risk needs a lower rate when it is spread over more months.",
    "limit": "A smaller amount or a longer term, so the monthly repayment fits your cash flow.",
    "overall": "More months of steady sales and cash flow; then apply again.",
}

RULE_ADVICE = {
    KnockOut.REQUEST_BOUNDS: "An amount and a term within the product's limits.",
    KnockOut.HISTORY_SHORT: "Link more transaction history (older statements, or wait until more months are on record).",
    KnockOut.TOO_YOUNG: "Apply again when the business has traded for longer.",
    KnockOut.BLOCKED: "This business cannot borrow through the platform at the moment; contact support to review it.",
    KnockOut.ARREARS: "Bringing your existing loans up to date; a default within the last year also stops a new loan.",
    KnockOut.FRAUD_SIGNAL: "A few weeks of normal trading: recent inflows were unusually high compared with before.",
    KnockOut.OPEN_LOANS: "Repaying the loan you have with us first: one loan at a time per business, owner and company.",
    KnockOut.HISTORY_CHECKS: "Linking the business's history through your bank or marketplace, or uploading its "
    "statements exactly as exported: the uploaded file did not pass our consistency checks.",
}


RULE_LABELS = {
    KnockOut.REQUEST_BOUNDS: "Outside the product's limits",
    KnockOut.HISTORY_SHORT: "Not enough transaction history",
    KnockOut.TOO_YOUNG: "Business too young",
    KnockOut.BLOCKED: "Business not eligible",
    KnockOut.ARREARS: "Existing loans",
    KnockOut.FRAUD_SIGNAL: "Unusual recent inflows",
    KnockOut.OPEN_LOANS: "A loan already open",
    KnockOut.HISTORY_CHECKS: "Uploaded history failed its checks",
}


def decision_reasons(decision) -> list[dict]:
    """The decision's reasons as shown: a failed rule gets a plain label instead of "Policy rule"."""
    shown = []
    for reason in decision.reasons:
        label = reason.get("label", "")
        if reason.get("family") == "policy":
            label = RULE_LABELS.get(reason.get("feature"), label)
        shown.append({"label": label, "text": reason.get("text", "")})
    return shown


def decision_advice(decision) -> list[str]:
    """What would most improve the outcome, most important first, from the decision's own reasons
    (failed rules first; then SHAP families by contribution, as the engine ranked them)."""
    advice: list[str] = []
    for reason in decision.reasons:
        family, feature = reason.get("family"), reason.get("feature")
        text = RULE_ADVICE.get(feature) if family == "policy" else FAMILY_ADVICE.get(family)
        if text is None:
            text = f"Improving “{reason.get('label', family)}”."
        if text not in advice:
            advice.append(text)
    return advice[:3]


@dataclass(frozen=True)
class ScheduleRowView:
    number: int
    due_on: object
    payment: Decimal
    principal: Decimal
    interest: Decimal
    balance_after: Decimal


def offer_schedule(decision) -> list[ScheduleRowView]:
    """The offer's schedule with due dates counted from today (the day it would be paid out if
    accepted now); the money is the decision's, to the cent."""
    schedule = amortisation_schedule(
        principal=decision.offered_amount,
        apr=decision.apr / Decimal(100),
        term_months=decision.term_months,
        disbursed_on=clock.today(),
    )
    return [
        ScheduleRowView(r.number, r.due_on, r.payment, r.principal, r.interest, r.balance_after)
        for r in schedule.rows
    ]


# The demo marketplace's sector slugs (underwriting/simulator/params.py) as an owner reads them; any
# other value (an owner types their own) is shown as typed, made readable.
SECTOR_LABELS = {
    "grocery": "Grocery",
    "restaurants": "Restaurants",
    "apparel": "Clothing and apparel",
    "electronics": "Electronics",
    "beauty": "Beauty",
    "home_goods": "Home goods",
    "services": "Services",
    "pharmacy": "Pharmacy",
    "travel": "Travel",
}


def readable(value: str, labels: dict[str, str] | None = None) -> str:
    """A stored slug as words: "home_goods" -> "Home goods", "south" -> "South"; "" stays ""."""
    value = (value or "").strip()
    if not value:
        return ""
    known = (labels or {}).get(value.lower())
    if known:
        return known
    words = " ".join(value.replace("_", " ").split())
    return words[:1].upper() + words[1:]


def sector_label(value: str) -> str:
    return readable(value, SECTOR_LABELS)


@dataclass(frozen=True)
class TimelineEntry:
    at: object
    text: str


def application_timeline(application: Application, transitions, loan=None) -> list[TimelineEntry]:
    """What happened to the application, in the owner's words. Phrased from the application, its
    decision and its loan, never from the audit trail's own reasons (they are written for officers:
    channel names, amounts without their currency)."""
    currency = application.partner.currency
    decision = application.decision
    phrases = {
        S.SUBMITTED: f"You applied for {money_text(application.amount, currency)} over {application.term_months} months.",
        S.DECIDING: "Our decision engine started on it.",
        S.DECLINED: "Declined.",
        S.ACCEPTED: "You accepted the offer.",
        S.REJECTED: "You turned the offer down.",
        S.EXPIRED: "The offer expired.",
        S.WITHDRAWN: "You withdrew the application.",
        S.DISBURSED: f"{money_text(loan.disbursed_amount, currency)} paid out." if loan is not None else "Paid out.",
    }
    if decision is not None and decision.offered_amount is not None:
        offer = f"{money_text(decision.offered_amount, currency)} over {decision.term_months} months"
        phrases[S.APPROVED] = f"Approved: {offer} at {decision.effective_apr:.2f}% APR."
        phrases[S.COUNTER_OFFERED] = (f"Counter-offer: {offer} at {decision.effective_apr:.2f}% APR, instead of "
                                      f"{money_text(decision.requested_amount, currency)}.")
    return [TimelineEntry(t.at, phrases.get(t.to_status, S(t.to_status).label + ".")) for t in transitions]


def application_heading(application: Application) -> str:
    # After the offer (accepted, paid out, rejected, expired) the heading still says what was offered.
    if application.decision_id and application.status in (S.ACCEPTED, S.DISBURSED, S.REJECTED, S.EXPIRED):
        return "Counter-offer" if application.decision.outcome == Outcome.COUNTER_OFFER else "Approved"
    return HEADINGS[application.status]
