"""Writes and reads of versioned credit policy (PolicyVersion rows holding PolicyParams)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction

from config import clock
from underwriting.engine.appetite import Appetite, AppetiteError, derive_appetite
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
    "policy_version_from_appetite",
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
    *, params: dict, note: str, created_by: User | None = None, activate: bool = True, derivation: dict | None = None
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
        derivation=derivation or {},
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


def _appetite_changes(appetite: Appetite) -> dict:
    """The parameters an appetite sets: the cut-off always, a sizing cap only where the book showed one."""
    # Up to the next 0.01 point, so the chosen row's own cut-off is inside the policy's.
    changes = {"max_pd": Decimal(repr(appetite.max_pd)).quantize(Decimal("0.0001"), rounding=ROUND_CEILING)}
    for name in ("max_instalment_share", "revenue_multiple", "max_debt_service_share"):
        value = getattr(appetite, name)
        if value is not None:
            changes[name] = Decimal(str(round(value, 2)))
    return changes


def appetite_preview(*, target_bad_rate: Decimal, record: dict, base: PolicyParams) -> tuple[Appetite, PolicyParams]:
    """What `policy_version_from_appetite` would record, storing nothing (the command's --dry-run)."""
    try:
        appetite = derive_appetite(record, float(target_bad_rate))
    except AppetiteError as exc:
        raise PolicyError([f"target_bad_rate: {exc}"]) from None
    return appetite, base.replace(**_appetite_changes(appetite))


@transaction.atomic
def policy_version_from_appetite(
    *, target_bad_rate: Decimal, record: dict, model_version: str, note: str = "",
    created_by: User | None = None, activate: bool = True,
) -> PolicyVersion:
    """A new policy version whose approval cut-off (`max_pd`) and sizing caps (`max_instalment_share`,
    `revenue_multiple`) are read from a model's out-of-fold validation (`record`: the model's
    metrics["appetite"], engine/appetite.py) for `target_bad_rate`; every other parameter is the active
    version's. The version's `derivation` keeps the target, the model and the figures behind it."""
    _, base = policy_active()
    appetite, policy = appetite_preview(target_bad_rate=target_bad_rate, record=record, base=base)
    said = (f"Risk appetite {float(target_bad_rate):.2%} bad rate on model {model_version}: approve up to PD "
            f"{appetite.max_pd:.2%} ({appetite.approval_rate:.0%} of its validation loans approved, "
            f"{appetite.bad_rate:.2%} of them defaulted)")
    derivation = {**appetite.as_dict(), "target_bad_rate": str(target_bad_rate), "model_version": model_version,
                  "validation_loans": record.get("loans")}
    return policy_version_create(params=policy.to_dict(), note=f"{said}. {note}".strip(), created_by=created_by,
                                 activate=activate, derivation=derivation)
