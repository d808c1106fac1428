"""Writes of the loans app: applications and their state machine, offers, loans and schedules, and the
owner's business profile on the platform's own channel.

Every state change goes through `application_transition`, which locks the row, checks the move
against TRANSITIONS and records who, when and why. docs/adr/0004-application-state-machine.md
explains the choices (the pipeline, retries, the sweeper, simulated disbursement).
"""

from __future__ import annotations

import csv
import logging
import tempfile
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from accounts.models import Business, PartnerBank, User
from config import clock
from loans import selectors
from loans.amounts import AMOUNT_NOT_A_NUMBER, AMOUNT_TOO_PRECISE, AmountSyntaxError, amount_from_text
from loans.background import DECIDE_APPLICATION, task_queue
from loans.exposure import exposure_read, parties_lock
from loans.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    Channel,
    Loan,
    LoanInstalment,
    LoanStatus,
    Purpose,
)
from loans.uploads import owner_upload_prepare
from underwriting.decisions.models import Decision, DecisionOutcome
from underwriting.decisions.services import decision_make
from underwriting.engine.exposure import SCOPE_WORDS
from underwriting.engine.product import amortisation_schedule
from underwriting.history.ingest.consistency import history_checks
from underwriting.history.ingest.history_csv import rows_from_csv
from underwriting.history.services import (
    HistoryImportError,
    ImportIssue,
    ImportResult,
    credit_record_loan_open,
    history_import,
)
from underwriting.money import has_whole_cents, money_text, to_cents
from underwriting.policies.services import policy_active
from underwriting.provenance import Provenance

logger = logging.getLogger(__name__)

S = ApplicationStatus

# The state machine (docs/domain.md). Anything not listed here is refused with IllegalTransition.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset({S.DECIDING, S.WITHDRAWN}),
    S.DECIDING: frozenset({S.APPROVED, S.COUNTER_OFFERED, S.DECLINED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.ACCEPTED, S.REJECTED, S.EXPIRED}),
    S.COUNTER_OFFERED: frozenset({S.ACCEPTED, S.REJECTED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.DISBURSED}),
    S.DECLINED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.DISBURSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

_OUTCOME_STATUS = {
    DecisionOutcome.APPROVED: S.APPROVED,
    DecisionOutcome.COUNTER_OFFER: S.COUNTER_OFFERED,
    DecisionOutcome.DECLINED: S.DECLINED,
}

ACTOR_WORKER = "system:worker"
ACTOR_SWEEPER = "system:sweeper"
ACTOR_SIMULATED_DISBURSEMENT = "system:simulated-disbursement"


class IllegalTransition(Exception):
    """A move the state machine does not allow (nothing was changed)."""

    def __init__(self, application: Application, to_status: str, message: str | None = None):
        self.application = application
        self.from_status = application.status
        self.to_status = to_status
        super().__init__(
            message
            or f"An application that is {S(application.status).label.lower()} cannot become "
            f"{S(to_status).label.lower()}."
        )


class OfferExpired(IllegalTransition):
    """The offer's validity has ended (the sweeper will record the expiry)."""


class ExposureLimitReached(IllegalTransition):
    """Accepting would take the business or its related parties over a policy cap (open loans or total
    exposure, docs/exposure.md): refused, nothing changed; the offer stays as it was."""


class ApplicationInProgress(Exception):
    """The business already has an application being decided or an offer open (docs/exposure.md):
    a new one is refused, nothing is stored. `existing` is that application."""

    def __init__(self, existing: Application):
        self.existing = existing
        if existing.status in (S.SUBMITTED, S.DECIDING):
            what = "an application that is still being decided"
        else:
            what = f"an open offer (valid until {existing.offer_expires_at:%d %B %Y})"
        super().__init__(
            f"This business already has {what}. Accept, reject or withdraw it before applying again."
        )


def owner_actor(user: User) -> str:
    return f"owner:{user.email}"


def partner_actor(partner: PartnerBank) -> str:
    return f"partner:{partner.slug}"


# ---- the transition service ---------------------------------------------------------------------


@transaction.atomic
def application_transition(
    *,
    application: Application,
    to_status: str,
    actor: str,
    user: User | None = None,
    reason: str = "",
    changes: dict | None = None,
) -> Application:
    """Move `application` to `to_status`, with `changes` (field: value) saved in the same write.

    Locks the row first, so two concurrent moves are serialised and the second sees the first's
    result (and is refused if it no longer applies). Returns the locked, updated instance and also
    updates the caller's instance in place."""
    locked = Application.objects.select_for_update().get(pk=application.pk)
    if to_status not in TRANSITIONS[locked.status]:
        _refresh(application, locked)
        raise IllegalTransition(locked, to_status)
    now = clock.now()
    from_status = locked.status
    locked.status = to_status
    for name, value in (changes or {}).items():
        setattr(locked, name, value)
    locked.save()
    ApplicationTransition.objects.create(
        application=locked,
        from_status=from_status,
        to_status=to_status,
        at=now,
        actor_user=user,
        actor=actor[:160],
        reason=reason,
    )
    _refresh(application, locked)
    return locked


def _refresh(target: Application, source: Application) -> None:
    if target is not source:
        for field in Application._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


# ---- submission ----------------------------------------------------------------------------------


def _parse_amount(amount) -> Decimal:
    """The requested amount: a Decimal or an int as given, or text written as `loans.amounts` says
    (the owner's form and the partner API apply the same rule). A float is refused (money is never a
    binary fraction), and so is anything with an exponent, a sign, or more than 2 decimals."""
    if isinstance(amount, str):
        try:
            value = amount_from_text(amount)
        except AmountSyntaxError as exc:
            raise ValidationError({"amount": str(exc)}) from None
    elif isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int) and not isinstance(amount, bool):
        value = Decimal(amount)
    else:
        raise ValidationError({"amount": AMOUNT_NOT_A_NUMBER})
    if not value.is_finite():
        raise ValidationError({"amount": AMOUNT_NOT_A_NUMBER})
    try:
        exact = has_whole_cents(value)
    except InvalidOperation:  # more digits than a Decimal context holds: far above any product maximum
        raise ValidationError({"amount": "The amount is too large."}) from None
    if not exact:
        raise ValidationError({"amount": AMOUNT_TOO_PRECISE})
    return to_cents(value)


def application_validate(*, business: Business, amount, term_months, purpose: str) -> tuple[Decimal, int]:
    """Checks a request against the product bounds of the active policy; raises ValidationError with
    one message per field (the web form and the API show them next to the field)."""
    _, policy = policy_active()
    errors: dict[str, str] = {}
    try:
        value = _parse_amount(amount)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        value = None
    currency = business.partner.currency
    if value is not None:
        if value < policy.min_amount:
            errors["amount"] = f"The smallest loan is {policy.min_amount:,} {currency}."
        elif value > policy.max_amount:
            errors["amount"] = f"The largest loan is {policy.max_amount:,} {currency}."
    if isinstance(term_months, bool) or not isinstance(term_months, int):
        try:
            term_months = int(str(term_months).strip())
        except ValueError:
            term_months = None
    if term_months is None or not policy.min_term_months <= term_months <= policy.max_term_months:
        errors["term_months"] = (
            f"Choose a term from {policy.min_term_months} to {policy.max_term_months} months."
        )
    if purpose not in Purpose.values:
        errors["purpose"] = "Choose what the money is for."
    # A blocked business is not refused here: the engine declines it as a knock-out, decided and recorded.
    if errors:
        raise ValidationError(errors)
    return value, term_months


def platform_loan_id(public_id) -> str:
    """The id under which a platform loan stands in the business's credit record."""
    return f"310-{public_id.hex}"


def application_submit(
    *,
    business: Business,
    amount: Decimal,
    term_months: int,
    purpose: str,
    channel: str,
    applicant: User | None = None,
    actor: str,
) -> Application:
    """Stores an application with its `as_of` (now) and queues its decision once the row is committed.

    Validation runs first, outside the locking transaction: on a fresh database it records the default
    policy version, and that write must not be held open while waiting for a business's lock (two
    submissions would wait on each other)."""
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    value, term = application_validate(business=business, amount=amount, term_months=term_months, purpose=purpose)
    with transaction.atomic():
        return _application_store(business=business, value=value, term=term, purpose=purpose, channel=channel,
                                  applicant=applicant, actor=actor)


def _application_store(*, business: Business, value: Decimal, term: int, purpose: str, channel: str,
                       applicant: User | None, actor: str) -> Application:
    # One application at a time per business: the row lock makes a second, concurrent submission wait
    # for the first to commit, and then see it.
    Business.objects.select_for_update().filter(pk=business.pk).values_list("pk", flat=True).get()
    in_progress = selectors.application_in_progress(business=business)
    if in_progress is not None:
        raise ApplicationInProgress(in_progress)
    application = Application.objects.create(
        partner_id=business.partner_id,
        business=business,
        applicant=applicant,
        channel=channel,
        amount=value,
        term_months=term,
        purpose=purpose,
        status=S.SUBMITTED,
        as_of=clock.now(),
    )
    ApplicationTransition.objects.create(
        application=application,
        from_status="",
        to_status=S.SUBMITTED,
        at=application.created_at,
        actor_user=applicant,
        actor=actor[:160],
        reason=f"Applied for {value} over {term} months via {channel}.",
    )
    application_id = application.pk
    transaction.on_commit(lambda: _enqueue_decision(application_id))
    return application


def _enqueue_decision(application_id: int) -> None:
    try:
        task_queue(DECIDE_APPLICATION, application_id)
    except Exception:
        # The application is committed; if the broker is down the sweeper re-queues it later.
        logger.exception("could not queue the decision of application %s; the sweeper will retry", application_id)


# ---- deciding ------------------------------------------------------------------------------------


class DecisionDeferred(Exception):
    """The decision could not be made now (no active model, engine or database error); the
    application stays in `deciding` and is retried. Never an approval by default."""


def application_decide(*, application_id: int) -> Application:
    """The decision task's body. Safe to run twice and concurrently: the row lock serialises runs,
    and a decided (or withdrawn) application is returned unchanged.

    Not one atomic block on purpose: the move to `deciding` and a failed attempt's count and error
    must survive the failure they record; the decision and its state change commit together.
    """
    policy_active()  # records the default policy, if none yet, before any lock is taken (see submit)
    with transaction.atomic():
        application = Application.objects.select_for_update().get(pk=application_id)
        if application.status == S.SUBMITTED:
            application = application_transition(
                application=application,
                to_status=S.DECIDING,
                actor=ACTOR_WORKER,
                reason="The decision engine picked the application up.",
            )
        elif application.status != S.DECIDING:
            return application
    try:
        with transaction.atomic():
            application = (
                Application.objects.select_for_update(of=("self",)).select_related("business").get(pk=application_id)
            )
            if application.status != S.DECIDING:
                return application
            # Exposure at this instant, under a lock on the business and its related parties, held
            # until the decision (and the offer it may open) commits: docs/exposure.md.
            parties = parties_lock(business=application.business)
            exposure = exposure_read(parties=parties, now=clock.now(), exclude_application_id=application.pk)
            decision = decision_make(
                business=application.business,
                amount=application.amount,
                term_months=application.term_months,
                as_of=application.as_of,
                application_ref=application.public_id,
                exposure=exposure,
            )
            application = _apply_decision(application, decision)
    except Exception as exc:
        now = clock.now()
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("decision of application %s failed (%s); it stays in deciding", application_id, error)
        with transaction.atomic():
            Application.objects.filter(pk=application_id, status=S.DECIDING).update(
                attempts=F("attempts") + 1,
                last_error=error[:2000],
                last_attempt_at=now,
                updated_at=now,
            )
        raise DecisionDeferred(error) from exc
    return application


def _apply_decision(application: Application, decision: Decision) -> Application:
    to_status = _OUTCOME_STATUS[decision.outcome]
    changes: dict = {"decision": decision, "decided_at": decision.created_at, "last_error": ""}
    if to_status != S.DECLINED:
        validity = decision.policy_version.policy.offer_validity_days
        changes["offer_expires_at"] = decision.created_at + timedelta(days=validity)
    reason = {
        S.APPROVED: f"Approved: {decision.offered_amount} over {decision.term_months} months at {decision.apr}% APR.",
        S.COUNTER_OFFERED: f"Counter-offer of {decision.offered_amount} (requested {decision.requested_amount}).",
        S.DECLINED: "Declined: " + "; ".join(r.get("label", "") for r in decision.reasons[:4]),
    }[to_status]
    application = application_transition(
        application=application, to_status=to_status, actor=ACTOR_WORKER, reason=reason, changes=changes
    )
    _emit("application.decided", application)
    return application


def _emit(event_type: str, application: Application) -> None:
    from loans.webhooks_services import webhook_event_emit

    webhook_event_emit(event_type=event_type, application=application)


# ---- the applicant's moves -----------------------------------------------------------------------


@transaction.atomic
def application_withdraw(
    *, application: Application, actor: str, user: User | None = None, reason: str = ""
) -> Application:
    return application_transition(
        application=application,
        to_status=S.WITHDRAWN,
        actor=actor,
        user=user,
        reason=reason or "Withdrawn by the applicant before the decision.",
    )


def _check_offer_open(application: Application, to_status: str) -> None:
    if to_status not in TRANSITIONS[application.status]:
        raise IllegalTransition(application, to_status)
    if application.offer_expires_at is not None and application.offer_expires_at <= clock.now():
        raise OfferExpired(
            application,
            to_status,
            f"This offer expired on {application.offer_expires_at:%d %B %Y}. You can apply again.",
        )


@transaction.atomic
def offer_reject(*, application: Application, actor: str, user: User | None = None, reason: str = "") -> Application:
    locked = Application.objects.select_for_update().get(pk=application.pk)
    _check_offer_open(locked, S.REJECTED)
    return application_transition(
        application=application,
        to_status=S.REJECTED,
        actor=actor,
        user=user,
        reason=reason or "The applicant turned the offer down.",
    )


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
    _check_offer_open(locked, S.ACCEPTED)
    decision = locked.decision
    _check_exposure_caps(locked, decision.offered_amount)
    application_transition(
        application=locked,
        to_status=S.ACCEPTED,
        actor=actor,
        user=user,
        reason=f"Offer of {decision.offered_amount} over {decision.term_months} months accepted.",
    )
    _refresh(application, locked)
    loan = _loan_create(application=locked, decision=decision, disbursed_on=clock.today())
    _emit("offer.accepted", locked)
    if _simulates_disbursement(locked.partner) and _may_pay_out_unconfirmed(decision):
        loan = loan_disburse(loan=loan, actor=ACTOR_SIMULATED_DISBURSEMENT)
        _refresh(application, Application.objects.get(pk=locked.pk))
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
    _emit("loan.disbursed", loan.application)
    return loan


# ---- housekeeping (Celery beat) ------------------------------------------------------------------


def offers_expire(*, now: datetime | None = None) -> int:
    """Expires every open offer past its validity. Returns how many expired."""
    now = now or clock.now()
    expired = 0
    due = Application.objects.filter(
        status__in=[S.APPROVED, S.COUNTER_OFFERED], offer_expires_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            application = Application.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if application is None or application.status not in (S.APPROVED, S.COUNTER_OFFERED):
                continue
            application_transition(
                application=application,
                to_status=S.EXPIRED,
                actor=ACTOR_SWEEPER,
                reason=f"The offer's validity ended on {application.offer_expires_at:%Y-%m-%d %H:%M} UTC.",
            )
            expired += 1
    return expired


@transaction.atomic
def applications_requeue_stuck(*, older_than_seconds: int = 60) -> int:
    """Re-queues the decision of every application left in submitted/deciding for longer than
    `older_than_seconds` (a lost message, a dead worker, a broker outage, no active model). Touches
    each so the next sweep waits another interval. Returns how many were re-queued."""
    now = clock.now()
    stuck = list(
        Application.objects.select_for_update(skip_locked=True)
        .filter(status__in=[S.SUBMITTED, S.DECIDING], updated_at__lt=now - timedelta(seconds=older_than_seconds))
        .order_by("updated_at")
        .values_list("pk", flat=True)[:1000]
    )
    if stuck:
        Application.objects.filter(pk__in=stuck).update(updated_at=now)
        transaction.on_commit(lambda: [_enqueue_decision(pk) for pk in stuck])
    return len(stuck)


# ---- the owner's business on the platform's own channel ------------------------------------------


def own_channel_partner() -> PartnerBank:
    partner, _ = PartnerBank.objects.get_or_create(
        slug=settings.OWN_CHANNEL_PARTNER,
        defaults={"name": "310 Lending (direct)", "currency": settings.OWN_CHANNEL_CURRENCY},
    )
    return partner


@transaction.atomic
def business_create_for_owner(
    *,
    owner: User,
    legal_name: str,
    registration_number: str = "",
    sector: str = "",
    region: str = "",
    established_on: date | None = None,
) -> Business:
    """A business of the platform's own channel, owned by `owner`; its merchant id is generated."""
    business = Business(
        partner=own_channel_partner(),
        external_id=f"W{uuid.uuid4().hex[:12].upper()}",
        legal_name=legal_name.strip(),
        registration_number=registration_number.strip(),
        sector=sector.strip(),
        region=region.strip(),
        established_on=established_on,
        onboarded_on=clock.today(),
        owner=owner,
    )
    business.full_clean()
    business.save()
    return business


class HistoryLinkError(Exception):
    """The history could not be linked; `errors` are row-level problems (nothing was imported), the
    first MAX_UPLOAD_ERRORS of `error_count`."""

    def __init__(self, message: str, errors: list[ImportIssue] | None = None, error_count: int = 0):
        self.errors = errors or []
        self.error_count = error_count or len(self.errors)
        super().__init__(message)


# How many of an upload's problems the owner's page lists (with the total); the import keeps 1,000.
MAX_UPLOAD_ERRORS = 50


def business_history_upload(*, business: Business, upload, actor: str) -> ImportResult:
    """Imports an uploaded transactions file (interchange format) for `business`. All or nothing:
    any invalid row and nothing is imported; HistoryLinkError lists the problems by line and column.

    Every row is the business's own: the file needs no merchant_id column, and a row naming another
    merchant is refused (loans/uploads.py). Its problems and the import's are found in one pass and
    reported together: one upload lists every problem of the file (up to MAX_UPLOAD_ERRORS shown)."""
    if upload.size == 0:
        raise HistoryLinkError("The file is empty.")
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        original = Path(folder) / "upload.csv"
        with open(original, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        prepared = owner_upload_prepare(
            source=original, target=Path(folder) / "transactions.csv", merchant_id=business.external_id
        )
        try:
            return history_import(
                partner=business.partner, transactions=prepared.path, source="web",
                provenance=Provenance.OWNER_UPLOAD, known_issues=prepared.issues,
                checks={business.external_id: _consistency_checks(prepared.path, business)},
            )
        except HistoryImportError as exc:
            errors, count = list(exc.errors), exc.error_count
            if prepared.issues and _NO_DATA_ROWS in errors:
                # Every row was left out for a problem listed already: the file had rows.
                errors.remove(_NO_DATA_ROWS)
                count -= 1
            errors = [_as_owner_sees_it(issue, business) for issue in errors[:MAX_UPLOAD_ERRORS]]
            raise HistoryLinkError(str(exc), errors, count) from None


_NO_DATA_ROWS = ImportIssue("transactions.csv", 1, None, "the file has a header but no data rows", "transactions")


def _as_owner_sees_it(issue: ImportIssue, business: Business) -> ImportIssue:
    """The import's messages, for the owner: the merchant they name is always the owner's own business
    (whose internal id means nothing to them), and "the partner" is that business."""
    reason = issue.reason.replace(f' of merchant "{business.external_id}"', "")
    reason = reason.replace("is not this partner's currency", "is not this business's currency")
    return ImportIssue(issue.file, issue.line, issue.column, reason, issue.kind)


def _consistency_checks(path: Path, business: Business) -> list[dict]:
    """The file's consistency checks (docs/provenance.md), stored with the batch it adds. A file the
    checks cannot read is left to the import, which names its bad lines."""
    try:
        rows = rows_from_csv(path, merchant_id=business.external_id)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        # The import accepted a file the checks could not read: flag it rather than call it clean.
        return [{"code": "DC_UNCHECKED", "title": "The file could not be checked", "tripped": True,
                 "applicable": False, "detail": f"The consistency checks could not read the file: {exc}"}]
    return [result.as_dict() for result in history_checks(rows, now=clock.now())]


@transaction.atomic
def business_claim_demo(*, owner: User, merchant_id: str, replacing: Business | None = None) -> Business:
    """The owner takes over an unowned simulated merchant of the demo marketplace (its history comes
    with it). Refused, with nothing changed, if it does not exist or already has an owner.

    The rule when it is claimed from one of the owner's businesses' "Link history" page (`replacing`):
    the demo merchant replaces that business. A demo merchant is a whole simulated business, its name,
    sector, age, marketplace metrics and credit record included, and the engine decides from all of
    them, so its history cannot be moved onto another business; instead the business the owner added
    (which has nothing yet: no transactions, no application) is removed, and the demo merchant takes
    its place on the dashboard. A business that already has history or an application cannot be
    replaced: the claim is refused (a demo merchant can be claimed from a newly added business)."""
    merchant_id = merchant_id.strip()
    business = (
        Business.objects.select_for_update()
        .filter(partner__slug=settings.DEMO_MERCHANTS_PARTNER, external_id=merchant_id)
        .first()
    )
    if business is None:
        raise ValidationError({"merchant_id": f"There is no demo merchant with the ID {merchant_id!r}."})
    if business.owner_id is not None and business.owner_id != owner.pk:
        raise ValidationError({"merchant_id": "This demo merchant is already linked to another account."})
    if replacing is not None and replacing.pk != business.pk:
        _business_replace_check(owner=owner, business=replacing)
        replacing.delete()
    business.owner = owner
    business.save(update_fields=["owner", "updated_at"])
    return business


def _business_replace_check(*, owner: User, business: Business) -> None:
    locked = Business.objects.select_for_update().filter(pk=business.pk, owner=owner).first()
    if locked is None:
        raise ValidationError({"merchant_id": "This business is not yours."})
    if not selectors.business_replaceable_by_demo(business=locked):
        raise ValidationError({"merchant_id": (
            f"{locked.legal_name} already has its own history or applications, so a demo merchant cannot "
            "replace it. Add a new business to try a demo merchant."
        )})
