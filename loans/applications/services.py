"""Writes of the loans app: applications and their state machine, offers, loans and schedules, and the
owner's business profile on the platform's own channel.

Every state change goes through `application_transition`, which locks the row, checks the move
against TRANSITIONS and records who, when and why. docs/adr/0004-application-state-machine.md
explains the choices (the pipeline, retries, the sweeper, simulated disbursement).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from accounts.models import Business, User
from config import clock
from loans.applications import selectors
from loans.applications.amounts import (
    AMOUNT_NOT_A_NUMBER,
    AMOUNT_TOO_PRECISE,
    AmountSyntaxError,
    amount_from_text,
)
from loans.applications.draining import drainer_nudge
from loans.applications.exposure import exposure_read, parties_lock
from loans.applications.models import (
    Application,
    ApplicationTransition,
    Channel,
    Purpose,
)
from loans.applications.transitions import (
    ACTOR_SWEEPER,
    ACTOR_WORKER,
    IllegalTransition,
    Passed,
    S,
    application_event_emit,
    application_transition,
    check_offer_open,
    refresh_from,
)
from loans.background import DECIDE_APPLICATION, DECIDE_WAITING, task_queue_or_log
from underwriting.decisions.models import Decision, DecisionOutcome
from underwriting.decisions.services import decision_make
from underwriting.engine.policy import PolicyParams
from underwriting.money import has_whole_cents, to_cents
from underwriting.policies.services import policy_active

logger = logging.getLogger(__name__)

_OUTCOME_STATUS = {
    DecisionOutcome.APPROVED: S.APPROVED,
    DecisionOutcome.COUNTER_OFFER: S.COUNTER_OFFERED,
    DecisionOutcome.DECLINED: S.DECLINED,
}


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


# ---- submission ----------------------------------------------------------------------------------


def _parse_amount(amount) -> Decimal:
    """The requested amount: a Decimal or an int as given, or text written as `loans.applications.amounts` says
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


def application_validate(*, business: Business, amount, term_months, purpose: str,
                         policy: PolicyParams | None = None) -> tuple[Decimal, int]:
    """Checks a request against the product bounds of the active policy (`policy`, when the caller read
    it for this request already); raises ValidationError with one message per field (the web form and
    the API show them next to the field)."""
    if policy is None:
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


def application_submit(
    *,
    business: Business,
    amount: Decimal,
    term_months: int,
    purpose: str,
    channel: str,
    applicant: User | None = None,
    actor: str,
    policy: PolicyParams | None = None,
) -> Application:
    """Stores an application with its `as_of` (now) and queues its decision once the row is committed.
    `policy`: the active policy's parameters, when the caller read them for this request already.

    Validation runs first, outside the locking transaction: on a fresh database it records the default
    policy version, and that write must not be held open while waiting for a business's lock (two
    submissions would wait on each other)."""
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    value, term = application_validate(business=business, amount=amount, term_months=term_months, purpose=purpose,
                                       policy=policy)
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
    """After the submission commits: a worker already deciding waiting applications takes this one too
    (loans/applications/draining.py says why none is missed); otherwise one is asked to start."""
    if not drainer_nudge():
        task_queue_or_log(DECIDE_WAITING)


def application_decision_enqueue(application_id: int) -> None:
    """Queues the one-application decision task (`application_decide`) for this application now."""
    task_queue_or_log(DECIDE_APPLICATION, application_id)


# ---- deciding ------------------------------------------------------------------------------------


PICK_UP_REASON = "The decision engine picked the application up."


class DecisionDeferred(Exception):
    """The decision could not be made now (no active model, engine or database error); the
    application stays in `deciding` and is retried. Never an approval by default."""


def application_decide(*, application_id: int) -> Application:
    """The decision task's body. Safe to run twice and concurrently: the row lock serialises runs,
    and a decided (or withdrawn) application is returned unchanged.

    The pick-up (`submitted` -> `deciding`), the decision and the state it leads to commit together in
    one transaction (one commit on the decision's critical path). When the decision fails, that
    transaction rolls back and a second one records the pick-up and the failed attempt's count and
    error, so they survive the failure they record.
    """
    # Read before any lock is taken: on a fresh database this records the default policy (see submit).
    policy = policy_active()
    try:
        with transaction.atomic():
            application = (
                Application.objects.select_for_update(of=("self",))
                .select_related("business__partner")
                .get(pk=application_id)
            )
            # The pick-up is recorded with the decision's own write (Passed): one UPDATE of the row.
            picked_up = None
            if application.status == S.SUBMITTED:
                picked_up = Passed(status=S.DECIDING, at=clock.now(), reason=PICK_UP_REASON)
            elif application.status != S.DECIDING:
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
                policy=policy,
            )
            application = application_decision_apply(application, decision, picked_up=picked_up)
    except Exception as exc:
        now = clock.now()
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("decision of application %s failed (%s); it stays in deciding", application_id, error)
        with transaction.atomic():
            application = Application.objects.select_for_update().get(pk=application_id)
            if application.status == S.SUBMITTED:
                _pick_up(application)
            Application.objects.filter(pk=application_id, status=S.DECIDING).update(
                attempts=F("attempts") + 1,
                last_error=error[:2000],
                last_attempt_at=now,
                updated_at=now,
            )
        raise DecisionDeferred(error) from exc
    return application


def _pick_up(application: Application) -> None:
    """`submitted` -> `deciding`, on the caller's instance, read under the row lock its transaction
    holds (updated in place)."""
    application_transition(
        application=application,
        to_status=S.DECIDING,
        actor=ACTOR_WORKER,
        reason=PICK_UP_REASON,
        locked=True,
    )


def application_decision_apply(application: Application, decision: Decision, *, picked_up: Passed | None,
                               emit: bool = True) -> Application:
    """Moves the application to the state its decision leads to; `emit`: announce it here (a batch
    announces all of its decisions at once instead)."""
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
        application=application, to_status=to_status, actor=ACTOR_WORKER, reason=reason, changes=changes,
        locked=True, via=picked_up,
    )
    if emit:
        # Decided this instant, so no loan yet: the event need not look for one.
        application_event_emit(event_type="application.decided", application=application, loan=None)
    return application


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


@transaction.atomic
def offer_reject(*, application: Application, actor: str, user: User | None = None, reason: str = "") -> Application:
    locked = Application.objects.select_for_update().get(pk=application.pk)
    try:
        check_offer_open(locked, S.REJECTED)
        application_transition(
            application=locked,
            to_status=S.REJECTED,
            actor=actor,
            user=user,
            reason=reason or "The applicant turned the offer down.",
            locked=True,
        )
    except IllegalTransition:
        refresh_from(application, locked)  # the caller sees why: the status it really has
        raise
    refresh_from(application, locked)
    return locked


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
        transaction.on_commit(lambda: [application_decision_enqueue(pk) for pk in stuck])
    return len(stuck)
