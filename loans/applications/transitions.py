"""The application state machine: the transition map, its errors and the one service that moves an
application (row lock, legal move, who/when/why recorded, the change announced to the partner's webhooks).
See docs/adr/0004-application-state-machine.md."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.models import PartnerBank, User
from config import clock
from loans.applications.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
)
from loans.applications.representations import application_event_data
from loans.webhooks.services import webhook_event_emit

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
        refresh_from(application, locked)
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
    refresh_from(application, locked)
    return locked


def refresh_from(target: Application, source: Application) -> None:
    if target is not source:
        for field in Application._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))


def application_event_emit(*, event_type: str, application: Application, now: datetime | None = None):
    """Announces a change of the application to its partner's webhooks, in the caller's transaction."""
    return webhook_event_emit(event_type=event_type, partner_id=application.partner_id,
                              data=application_event_data(application), now=now)


def check_offer_open(application: Application, to_status: str) -> None:
    if to_status not in TRANSITIONS[application.status]:
        raise IllegalTransition(application, to_status)
    if application.offer_expires_at is not None and application.offer_expires_at <= clock.now():
        raise OfferExpired(
            application,
            to_status,
            f"This offer expired on {application.offer_expires_at:%d %B %Y}. You can apply again.",
        )
