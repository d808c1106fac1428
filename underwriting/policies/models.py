"""Stored policy versions: the parameters every decision was made under (docs/domain.md)."""

from django.conf import settings
from django.db import models

from config.clock import ClockDateTimeField
from underwriting.engine.policy import PolicyParams


class PolicyVersion(models.Model):
    """One version of the credit policy's parameters (underwriting/engine/policy.py, docs/pricing.md).

    Written only by `policy_version_create` (policy_services.py) and never edited afterwards:
    decisions cite the version they used, and a replay reads the same parameters back. Exactly one
    version is active platform-wide.
    """

    version = models.PositiveIntegerField(unique=True)
    params = models.JSONField(help_text="PolicyParams.to_dict(): every parameter, Decimals as strings.")
    note = models.TextField(help_text="Why this version exists.")
    derivation = models.JSONField(
        default=dict, blank=True,
        help_text="When derived from a risk appetite: the target bad rate, the model version and the "
                  "validation figures the cut-off and caps were read from (docs/pricing.md). Empty when set by hand.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="policyversion_one_active"
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="policyversion_version_positive"),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version}{' (active)' if self.is_active else ''}"

    @property
    def policy(self):
        """The parameters as a validated PolicyParams."""

        return PolicyParams.from_dict(self.params)
