"""Booking a loan: an accepted offer becomes a loan with its schedule (the offer's money, identical), within
the exposure caps, and is paid out now or when the lender confirms it (docs/provenance.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import PartnerBank, User
from config import clock
from loans.applications.exposure import exposure_read, parties_lock
from loans.applications.models import (
    Application,
    Loan,
    LoanInstalment,
    LoanStatus,
)
from loans.applications.transitions import (
    ACTOR_SIMULATED_DISBURSEMENT,
    ExposureLimitReached,
    S,
    application_event_emit,
    application_transition,
    check_offer_open,
    refresh_from,
)
from underwriting.decisions.models import Decision
from underwriting.engine.exposure import SCOPE_WORDS
from underwriting.engine.product import amortisation_schedule
from underwriting.history.services import (
    credit_record_loan_open,
)
from underwriting.money import money_text
from underwriting.policies.services import policy_active


def platform_loan_id(public_id) -> str:
    """The id under which a platform loan stands in the business's credit record."""
    return f"310-{public_id.hex}"


def _simulates_disbursement(partner: PartnerBank) -> bool:
    return partner.slug in settings.SIMULATED_DISBURSEMENT_PARTNERS


def _may_pay_out_unconfirmed(decision: Decision) -> bool:
    """Whether the policy the decision used lets a loan on its history's provenance be paid out
    without the partner confirming it (docs/provenance.md: never for an owner's own upload)."""
    return decision.policy_version.policy.terms_for(decision.context.get("provenance")).auto_disburse


@transaction.atomic
def offer_accept(*, application: Application, actor: str, user: User | None = None) -> Loan:
    """Accepts the offer: the loan is created with the decision's terms and its schedule.

    On a channel whose disbursement is simulated (settings.SIMULATED_DISBURSEMENT_PARTNERS: the
    platform's own channel and the demo marketplace) the funds "leave" at once, in the same
    transaction: the owner sees a disbursed loan with real due dates, and no second process can
    leave it half done, unless the policy wants a person to confirm loans on the history's provenance
    (an owner's own upload): then, like every loan of other partners, it waits for `loan_disburse`
    (the partner's API call, the admin's confirmation or `manage.py confirm_disbursement`)."""
    locked = (
        Application.objects.select_for_update(of=("self",)).select_related("decision", "partner").get(pk=application.pk)
    )
    check_offer_open(locked, S.ACCEPTED)
    decision = locked.decision
    _check_exposure_caps(locked, decision.offered_amount)
    application_transition(
        application=locked,
        to_status=S.ACCEPTED,
        actor=actor,
        user=user,
        reason=f"Offer of {decision.offered_amount} over {decision.term_months} months accepted.",
        locked=True,
    )
    refresh_from(application, locked)
    loan = _loan_create(application=locked, decision=decision, disbursed_on=clock.today())
    application_event_emit(event_type="offer.accepted", application=locked)
    if _simulates_disbursement(locked.partner) and _may_pay_out_unconfirmed(decision):
        loan = loan_disburse(loan=loan, actor=ACTOR_SIMULATED_DISBURSEMENT)
        refresh_from(application, Application.objects.get(pk=locked.pk))
    return loan


def _check_exposure_caps(application: Application, amount: Decimal) -> None:
    """Re-reads exposure now, under a lock on the business and its related parties, and refuses the
    acceptance if the loan would break a cap of the active policy (docs/exposure.md)."""
    _, policy = policy_active()
    parties = parties_lock(business=application.business)
    exposure = exposure_read(parties=parties, now=clock.now(), exclude_application_id=application.pk)
    if exposure.open_platform_loans >= policy.max_open_loans:
        raise ExposureLimitReached(
            application, S.ACCEPTED,
            f"There is already {exposure.open_platform_loans} open loan(s) with us for {_scope_words(exposure)}; "
            f"at most {policy.max_open_loans} at a time, so this offer cannot be accepted now.",
        )
    party = exposure.binding(amount=amount)
    if party is not None and party.total + amount > policy.exposure_cap:
        raise ExposureLimitReached(
            application, S.ACCEPTED,
            f"With this loan, {SCOPE_WORDS[party.scope]} would owe or have on offer "
            f"{money_text(party.total + amount, application.partner.currency)}, above the maximum of "
            f"{money_text(policy.exposure_cap, application.partner.currency)}; this offer cannot be accepted now.",
        )


def _scope_words(exposure) -> str:
    worst = max(exposure.parties, key=lambda p: p.open_platform_loans)
    return SCOPE_WORDS[worst.scope]


def _loan_create(*, application: Application, decision: Decision, disbursed_on: date) -> Loan:
    principal = decision.offered_amount
    apr = decision.apr
    schedule = amortisation_schedule(
        principal=principal, apr=apr / Decimal(100), term_months=decision.term_months, disbursed_on=disbursed_on
    )
    # The loan must cost exactly what the offer said; dates move with disbursement, money never does.
    if (schedule.instalment, schedule.total_repayable) != (decision.instalment, decision.total_repayable):
        raise RuntimeError(
            f"loan schedule {schedule.instalment}/{schedule.total_repayable} differs from the offer "
            f"{decision.instalment}/{decision.total_repayable} of decision {decision.public_id}"
        )
    fee = decision.origination_fee or Decimal("0.00")
    loan = Loan.objects.create(
        application=application,
        partner_id=application.partner_id,
        business_id=application.business_id,
        currency=application.partner.currency,
        principal=principal,
        origination_fee=fee,
        disbursed_amount=principal - fee,
        apr=apr,
        effective_apr=decision.effective_apr,
        term_months=decision.term_months,
        instalment=schedule.instalment,
        total_interest=schedule.total_interest,
        total_repayable=schedule.total_repayable,
        status=LoanStatus.AWAITING_DISBURSEMENT,
    )
    LoanInstalment.objects.bulk_create(
        LoanInstalment(
            loan=loan,
            number=row.number,
            due_on=row.due_on,
            amount=row.payment,
            principal=row.principal,
            interest=row.interest,
            balance_after=row.balance_after,
        )
        for row in schedule.rows
    )
    return loan


@transaction.atomic
def loan_disburse(*, loan: Loan, actor: str, disbursed_at: datetime | None = None) -> Loan:
    """The funds have left: the loan runs from today (due dates re-anchored on the disbursement day,
    clamped to month end), the application becomes `disbursed`, and the loan enters the business's
    credit record so the next decision sees the exposure."""
    loan = Loan.objects.select_for_update(of=("self",)).select_related("application").get(pk=loan.pk)
    now = clock.now()
    disbursed_at = disbursed_at or now
    if disbursed_at > now:
        raise ValidationError({"disbursed_at": "The payout cannot be in the future."})
    if disbursed_at < loan.created_at.replace(hour=0, minute=0, second=0, microsecond=0):
        raise ValidationError({"disbursed_at": f"The payout cannot be before the offer was accepted "
                                               f"({loan.created_at:%Y-%m-%d})."})
    application_transition(
        application=loan.application,
        to_status=S.DISBURSED,
        actor=actor,
        reason=f"{loan.disbursed_amount} paid out.",
    )
    disbursed_on = disbursed_at.date()
    schedule = amortisation_schedule(
        principal=loan.principal, apr=loan.apr / Decimal(100), term_months=loan.term_months, disbursed_on=disbursed_on
    )
    rows = {row.number: row for row in schedule.rows}
    instalments = list(loan.instalments.all())
    for instalment in instalments:
        instalment.due_on = rows[instalment.number].due_on
    LoanInstalment.objects.bulk_update(instalments, ["due_on"])
    loan.status = LoanStatus.DISBURSED
    loan.disbursed_at = disbursed_at
    loan.save(update_fields=["status", "disbursed_at", "updated_at"])
    # docs/domain.md: loans write servicing facts into the business's credit record (underwriting owns it).
    credit_record_loan_open(
        business=loan.business,
        loan_id=platform_loan_id(loan.public_id),
        originated_on=disbursed_on,
        amount=loan.principal,
        term_months=loan.term_months,
    )
    application_event_emit(event_type="loan.disbursed", application=loan.application)
    return loan
