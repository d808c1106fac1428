"""Writes and reads of versioned credit policy (PolicyVersion rows holding PolicyParams)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction

from config import clock
from underwriting.engine.policy import PolicyError, PolicyParams
from underwriting.policies.models import PolicyVersion

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "PolicyError",
    "UnknownPolicyVersion",
    "policy_active",
    "policy_version_activate",
    "policy_version_create",
    "policy_version_get",
]

DEFAULTS_NOTE = "Built-in defaults, recorded automatically so every decision can cite a policy version."


class UnknownPolicyVersion(LookupError):
    pass


POLICY_LOCK = (310, 2)  # pg_advisory_xact_lock key of policy version writes


def _lock_versions() -> None:
    # Serialises creators and activators: a concurrent creator would otherwise compute the same next
    # number or leave two rows active for an instant. Locking the rows is not enough on a fresh
    # database (there are none: two first creators then deadlock on the unique indexes), hence the
    # advisory lock. SQLite ignores both but serialises writers itself.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", POLICY_LOCK)
    list(PolicyVersion.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


def _next_version_number() -> int:
    latest = PolicyVersion.objects.order_by("-version").values_list("version", flat=True).first()
    return (latest or 0) + 1


@transaction.atomic
def policy_version_create(
    *, params: dict, note: str, created_by: User | None = None, activate: bool = True
) -> PolicyVersion:
    """Records a new policy version (number = highest + 1) and, by default, makes it the active one.

    `params` is validated through PolicyParams.from_dict (missing keys take the defaults; unknown
    keys and out-of-range values raise PolicyError) and stored complete and normalised, so a later
    change of a default never changes what an old version meant.
    """
    policy = PolicyParams.from_dict(params)
    if not note or not note.strip():
        raise PolicyError(["note: say why this policy version exists"])
    _lock_versions()
    now = clock.now()
    if activate:
        PolicyVersion.objects.filter(is_active=True).update(is_active=False)
    return PolicyVersion.objects.create(
        version=_next_version_number(),
        params=policy.to_dict(),
        note=note.strip(),
        created_by=created_by,
        is_active=activate,
        activated_at=now if activate else None,
    )


@transaction.atomic
def policy_version_activate(*, version: int) -> PolicyVersion:
    """Makes an existing version the active one (a rollback, or a draft created with activate=False)."""
    _lock_versions()
    try:
        row = PolicyVersion.objects.get(version=version)
    except PolicyVersion.DoesNotExist:
        raise UnknownPolicyVersion(f"There is no policy version {version}.") from None
    PolicyParams.from_dict(row.params)  # refuse a row whose params no longer validate
    if not row.is_active:
        PolicyVersion.objects.filter(is_active=True).update(is_active=False)
        row.is_active, row.activated_at = True, clock.now()
        row.save(update_fields=["is_active", "activated_at"])
    return row


def policy_version_get(*, version: int) -> tuple[PolicyVersion, PolicyParams]:
    """A version by number with its parameters (replays read the version their decision cites)."""
    try:
        row = PolicyVersion.objects.get(version=version)
    except PolicyVersion.DoesNotExist:
        raise UnknownPolicyVersion(f"There is no policy version {version}.") from None
    return row, row.policy


def policy_active() -> tuple[PolicyVersion, PolicyParams]:
    """The active policy version and its parameters.

    When no version is active (a fresh database), the defaults are recorded as a new active version
    first, so the defaults a decision used are a row it can cite, not constants that may change.
    """
    row = PolicyVersion.objects.filter(is_active=True).first()
    if row is None:
        try:
            with transaction.atomic():
                _lock_versions()
                # Another process may have recorded them while this one waited: theirs is as good.
                row = PolicyVersion.objects.filter(is_active=True).first() or policy_version_create(
                    params=PolicyParams().to_dict(), note=DEFAULTS_NOTE
                )
        except IntegrityError:
            row = PolicyVersion.objects.get(is_active=True)
    return row, row.policy
