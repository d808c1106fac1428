"""The application state machine: the transition map, its errors and the one service that moves an
application (row lock, legal move, who/when/why recorded, the change announced to the partner's webhooks).
See docs/adr/0004-application-state-machine.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from accounts.models import PartnerBank, User
from config import clock
from loans.applications.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
)
from loans.applications.representations import LOAN_UNREAD, application_event_data
from loans.webhooks.services import webhook_event_emit, webhook_events_emit

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


def owner_actor(user: User) -> str:
    return f"owner:{user.email}"


def partner_actor(partner: PartnerBank) -> str:
    return f"partner:{partner.slug}"


# ---- the transition service ---------------------------------------------------------------------


@dataclass(frozen=True)
class Passed:
    """A state a move passed through earlier in the caller's transaction (the decision task's pick-up):
    checked against the map and recorded with its own time and reason, but the row is written once,
    with the final state. Nobody can see the row in between: the caller's transaction holds its lock."""

    status: str
    at: datetime
    reason: str


def application_transition(
    *,
    application: Application,
    to_status: str,
    actor: str,
    user: User | None = None,
    reason: str = "",
    changes: dict | None = None,
    locked: bool = False,
    via: Passed | None = None,
) -> Application:
    """Move `application` to `to_status`, with `changes` (field: value) saved in the same write.

    Locks the row first, so two concurrent moves are serialised and the second sees the first's
    result (and is refused if it no longer applies). Returns the locked, updated instance and also
    updates the caller's instance in place.

    `locked=True` says the caller's open transaction already holds the row lock and `application` was
    read under it (`select_for_update`): the move is checked against that instance and written in the
    caller's transaction, without reading the row a second time or a savepoint. The decision task and
    the owner's and partner's moves lock first anyway; this saves each move three statements.
    `via`: a state passed through on the way (see Passed); both steps must be on the map."""
    move = {"to_status": to_status, "actor": actor, "user": user, "reason": reason, "changes": changes, "via": via}
    if locked:
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("locked=True needs the caller's transaction, holding the row lock")
        return _move(application, **move)
    with transaction.atomic():
        current = Application.objects.select_for_update().get(pk=application.pk)
        try:
            _move(current, **move)
        except IllegalTransition:
            refresh_from(application, current)  # the caller sees why: the status it really has
            raise
    refresh_from(application, current)
    return current


def _move(application: Application, *, to_status: str, actor: str, user: User | None, reason: str,
          changes: dict | None, via: Passed | None) -> Application:
    """The move itself, on an instance read under the row lock: refused (nothing written, the instance
    untouched) unless TRANSITIONS allows every step; otherwise the status and `changes` written (those
    fields only) with one record per step."""
    steps = [(via.status, via.at, via.reason)] if via is not None else []
    steps.append((to_status, None, reason))
    status = application.status
    for step, _at, _reason in steps:
        if step not in TRANSITIONS[status]:
            raise IllegalTransition(application, step)
        status = step
    now = clock.now()
    records, status = [], application.status
    for step, at, why in steps:
        records.append(ApplicationTransition(application=application, from_status=status, to_status=step,
                                             at=at or now, actor_user=user, actor=actor[:160], reason=why))
        status = step
    application.status = to_status
    for name, value in (changes or {}).items():
        setattr(application, name, value)
    application.save(update_fields=["status", "updated_at", *(changes or {})])
    ApplicationTransition.objects.bulk_create(records)
    return application


def refresh_from(target: Application, source: Application) -> None:
    if target is not source:
        for field in Application._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


def application_event_emit(*, event_type: str, application: Application, now: datetime | None = None,
                           loan=LOAN_UNREAD):
    """Announces a change of the application to its partner's webhooks, in the caller's transaction.
    `loan`: the application's loan, or None, when the caller knows it (saves reading it again)."""
    return webhook_event_emit(event_type=event_type, partner_id=application.partner_id,
                              data=application_event_data(application, loan=loan), now=now)


def application_events_emit(*, event_type: str, applications: list[Application], loan=LOAN_UNREAD):
    """`application_event_emit` for several applications at once (a batch of decisions: `loan=None`)."""
    return webhook_events_emit(event_type=event_type, items=[
        (application.partner_id, application_event_data(application, loan=loan)) for application in applications
    ])


def check_offer_open(application: Application, to_status: str) -> None:
    if to_status not in TRANSITIONS[application.status]:
        raise IllegalTransition(application, to_status)
    if application.offer_expires_at is not None and application.offer_expires_at <= clock.now():
        raise OfferExpired(
            application,
            to_status,
            f"This offer expired on {application.offer_expires_at:%d %B %Y}. You can apply again.",
        )
