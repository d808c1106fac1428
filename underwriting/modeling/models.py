"""The model registry's rows: every trained model version and every activation of one."""

from django.conf import settings
from django.db import models

from accounts.models import PartnerBank
from config.clock import ClockDateTimeField


class ModelVersion(models.Model):
    """A trained model in the store (docs/adr/0003-model-artifacts-and-registry.md).

    The artifact directory is the source of truth for the model itself; this row records where it
    is, its checksum (so a swapped directory is refused at load), what it was trained on, and which
    version decides. A version belongs to one partner or to the platform (`partner` empty); at most one
    version is active per scope, and a partner's applications are decided by its own active version,
    else by the platform's (docs/adr/0012-model-scope.md). Decisions keep the version they used, so
    activating another never rewrites the past.
    """

    version = models.CharField(max_length=64, unique=True)
    partner = models.ForeignKey(
        PartnerBank, null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions",
        help_text="The partner whose applications this version decides; empty: the platform's fallback.")
    artifact_path = models.CharField(max_length=512)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the artifact's manifest.json.")
    created_at = ClockDateTimeField(auto_now_add=True)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_window = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    report_path = models.CharField(max_length=512, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activation_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True, partner__isnull=True),
                                    name="modelversion_one_active_platform"),
            models.UniqueConstraint(fields=["partner"], condition=models.Q(is_active=True),
                                    name="modelversion_one_active_per_partner"),
        ]

    def __str__(self) -> str:
        scope = f" for {self.partner.slug}" if self.partner_id else ""
        return f"model {self.version}{scope}{' (active)' if self.is_active else ''}"



class ModelActivation(models.Model):
    """One promotion of a model version: who, when, why, and which version it replaced. Append-only;
    the `add` permission on it is the risk operator's right to promote."""

    model_version = models.ForeignKey("underwriting.ModelVersion", on_delete=models.PROTECT, related_name="activations")
    previous_version = models.ForeignKey(
        "underwriting.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Empty for a promotion made from the server's command line (train_model without --by): whoever
    # holds the shell is the operator; `via` says which path it took.
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    via = models.CharField(max_length=64, default="audit console")
    reason = models.TextField()
    activated_at = models.DateTimeField()

    class Meta:
        ordering = ["-activated_at", "-id"]
        verbose_name = "model promotion"

    def __str__(self) -> str:
        return f"{self.model_version_id} promoted at {self.activated_at:%Y-%m-%d %H:%M}"
