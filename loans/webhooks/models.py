"""The webhook outbox: partners' endpoints, the events written in the same transaction as the change
they announce, one delivery per endpoint and every attempt (docs/webhooks.md)."""

import base64
import secrets
import uuid

from django.db import models

from accounts.models import PartnerBank
from config.clock import ClockDateTimeField


class WebhookEventType(models.TextChoices):
    APPLICATION_DECIDED = "application.decided"
    OFFER_ACCEPTED = "offer.accepted"
    LOAN_DISBURSED = "loan.disbursed"


def new_webhook_secret() -> str:
    # Standard Webhooks: "whsec_" + base64 of the key bytes (24 to 64 bytes).
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


class WebhookEndpoint(models.Model):
    """Where a partner wants its events. `secret` signs them (it must be readable to sign, so it is
    stored as is; it authenticates our messages to the partner, not the partner to us), and so does
    `previous_secret` for a while after a rotation."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = models.JSONField(default=list, blank=True, help_text="Empty: every event type.")
    secret = models.CharField(max_length=64, default=new_webhook_secret)
    # After a rotation the replaced secret signs too, beside the new one, until this time (a partner
    # holding either verifies); then it is no longer used.
    previous_secret = models.CharField(max_length=64, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success; 3 days of it disables."
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """An event, written in the same transaction as the change it reports (transactional outbox).
    Its id is the `webhook-id` of every delivery, so receivers can deduplicate retries."""

    event_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "created_at"], name="webhook_event_partner_created")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up: 3 days of failures, a 410, or the endpoint was disabled


class WebhookDelivery(models.Model):
    """One event to one endpoint. Sent by the beat-run task (loans.webhooks.tasks.webhook_deliveries_send), never
    by a long countdown on the broker."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_unique_event_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery and what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="", help_text="The first 2 KB.")
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.attempted_at:%Y-%m-%d %H:%M:%S} -> {self.status_code}"
