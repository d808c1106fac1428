"""Stored answers to partners' retried requests (the Idempotency-Key header): one row per key and
partner, so a retry gets the first answer instead of a second action (docs/api.md)."""

from django.db import models

from accounts.models import PartnerBank
from config.clock import ClockDateTimeField


class IdempotencyStatus(models.TextChoices):
    IN_FLIGHT = "in_flight", "in flight"
    COMPLETED = "completed", "completed"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one partner. The unique constraint, not a lock in a process, is what makes
    two concurrent requests with the same key run the operation once: the second insert fails."""

    partner = models.ForeignKey(PartnerBank, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and canonical body.")
    status = models.CharField(max_length=16, choices=IdempotencyStatus.choices, default=IdempotencyStatus.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_unique_partner_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
