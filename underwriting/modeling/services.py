"""Writes of the audit console on the underwriting side: promoting a model version (docs/adr/0006)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import User
from config import clock
from underwriting.modeling.artifact import ArtifactError
from underwriting.modeling.models import ModelActivation, ModelVersion
from underwriting.modeling.registry import RegistryError, model_version_activate

PROMOTE_PERMISSION = "underwriting.add_modelactivation"


class PromotionError(ValueError):
    """The promotion was refused; nothing changed."""


@transaction.atomic
def model_version_promote(*, model_version: ModelVersion, promoted_by: User | None, reason: str,
                          via: str = "audit console") -> ModelActivation:
    """Makes `model_version` the active model of its scope (its partner's, or the platform's, ADR 0012)
    and records who promoted it, when, why and how (`via`); `previous_version` is the scope's.
    The one way a model becomes active: the audit console and `manage.py train_model` both call it.

    Only a risk operator may (PROMOTE_PERMISSION); `promoted_by=None` is the server's command line,
    whose operator holds the shell. Past decisions keep the version they cite: activation flips
    registry flags only (modeling/registry.py), so no decision row is touched."""
    if promoted_by is not None and not (promoted_by.is_active and promoted_by.has_perm(PROMOTE_PERMISSION)):
        raise PermissionDenied("Only risk operators promote models.")
    reason = (reason or "").strip()
    if not reason:
        raise PromotionError("A promotion needs a reason (why this model should decide from now on).")
    previous = (ModelVersion.objects.filter(is_active=True, partner_id=model_version.partner_id)
                .exclude(pk=model_version.pk).first())
    if previous is None and model_version.is_active:
        raise PromotionError(f"Model {model_version.version} is already the active model of its scope.")
    try:
        activated = model_version_activate(model_version=model_version, activated_by=promoted_by, note=reason)
    except (RegistryError, ArtifactError) as exc:
        raise PromotionError(f"Model {model_version.version} cannot be promoted: {exc}") from exc
    return ModelActivation.objects.create(
        model_version=activated,
        previous_version=previous,
        activated_by=promoted_by,
        via=via,
        reason=reason,
        activated_at=activated.activated_at or clock.now(),
    )
