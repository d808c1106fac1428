"""Input and output shapes of the partner API. Money is a string with 2 decimals ("1234.50")."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loans.applications.amounts import AMOUNT_PATTERN, AMOUNT_SIGN, AmountSyntaxError, amount_from_text
from loans.applications.models import Purpose
from loans.webhooks.models import DeliveryStatus, WebhookEventType
from underwriting.kinds import DIRECTION_CODES, KIND_CODES
from underwriting.money import amount_text

MAX_TRANSACTIONS = 10_000




# --- merchants ---------------------------------------------------------------------------------------
class MerchantOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    merchant_id = serializers.CharField(source="external_id")
    name = serializers.CharField(source="legal_name")
    category = serializers.CharField(source="sector")
    region = serializers.CharField()
    onboarded_on = serializers.DateField()
    established_on = serializers.DateField(allow_null=True)
    registration_number = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MerchantCreateIn(serializers.Serializer):
    """The merchants file's columns (docs/data-format.md); validated by the import's own rules."""

    merchant_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    onboarded_on = serializers.DateField()
    established_on = serializers.DateField(required=False, allow_null=True)
    registration_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


class MerchantUpdateIn(serializers.Serializer):
    """Fields to change; those left out keep their value."""

    name = serializers.CharField(max_length=200, required=False)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    onboarded_on = serializers.DateField(required=False)
    established_on = serializers.DateField(required=False, allow_null=True)
    registration_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


# --- transactions ------------------------------------------------------------------------------------
class TransactionIn(serializers.Serializer):
    """One row of the transactions file. Values are checked by the import's rules (amount as a decimal
    string, occurred_at ISO 8601, currency the partner's)."""

    merchant_id = serializers.CharField(max_length=64)
    transaction_id = serializers.CharField(max_length=64)
    occurred_at = serializers.CharField(max_length=40)
    amount = serializers.CharField(max_length=32)
    currency = serializers.CharField(max_length=3)
    direction = serializers.ChoiceField(choices=sorted(DIRECTION_CODES))
    kind = serializers.ChoiceField(choices=sorted(KIND_CODES))
    counterparty = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    balance_after = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)


class TransactionBatchIn(serializers.Serializer):
    transactions = TransactionIn(many=True, allow_empty=False, max_length=MAX_TRANSACTIONS)


class TransactionBatchOut(serializers.Serializer):
    import_id = serializers.UUIDField()
    received = serializers.IntegerField()
    inserted = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class TransactionOut(serializers.Serializer):
    merchant_id = serializers.CharField()
    transaction_id = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    amount = serializers.CharField(help_text="Decimal string, e.g. '128.50'.")
    currency = serializers.CharField()
    direction = serializers.ChoiceField(choices=sorted(DIRECTION_CODES))
    kind = serializers.ChoiceField(choices=sorted(KIND_CODES))
    counterparty = serializers.CharField(allow_null=True)
    balance_after = serializers.CharField(allow_null=True, help_text="Decimal string; may be negative.")


# --- decisions, applications, loans ------------------------------------------------------------------
@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "5000.00",
                      "description": "A plain decimal with at most 2 decimals, e.g. \"5000.00\" (a JSON integer is "
                                     "accepted too). No exponent, sign, \"inf\" or \"nan\"."})
class RequestedAmountField(serializers.Field):
    """The requested amount, by the owner's form's own rule (loans.applications.amounts): "5000", "5000.00" or
    "5,000.00" as a string, or a JSON integer. A JSON fraction is refused, because `1e5` reaches the
    server as the float 100000.0 and cannot be told apart from a plain amount: money is sent as text."""

    default_error_messages = {
        "type": "Send the amount as a string, for example \"5000.00\" (or a whole number).",
        "too_long": "Send the amount with at most 32 characters.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("type")
        if isinstance(data, int):
            if data < 0:
                raise serializers.ValidationError(AMOUNT_SIGN, code="invalid")
            return Decimal(data)
        if len(data) > 32:
            self.fail("too_long")
        try:
            return amount_from_text(data)
        except AmountSyntaxError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None

    def to_representation(self, value):
        return amount_text(value)


class ApplicationCreateIn(serializers.Serializer):
    merchant = serializers.UUIDField(required=False, help_text="The merchant's id (or give merchant_id).")
    merchant_id = serializers.CharField(required=False, max_length=64, help_text="Your merchant id.")
    amount = RequestedAmountField()
    term_months = serializers.IntegerField(min_value=1, max_value=60)
    purpose = serializers.ChoiceField(choices=Purpose.choices)

    def validate(self, attrs):
        if ("merchant" in attrs) == ("merchant_id" in attrs):
            raise serializers.ValidationError({"merchant": "Give exactly one of merchant or merchant_id."})
        return attrs


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DisbursementIn(serializers.Serializer):
    disbursed_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="When the funds left (ISO 8601 with offset); absent: now. Never in the future.",
    )


# --- webhooks ----------------------------------------------------------------------------------------
class WebhookEndpointIn(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), required=False, default=list,
        max_length=len(WebhookEventType.values), help_text="Empty or absent: every event type.",
    )

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http or https URL.")
        return value


class WebhookEndpointOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices))
    is_enabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation, when the replaced secret stops signing deliveries (24 hours on); until "
        "then every delivery carries a signature with each secret. Null if the secret was never rotated.",
    )
    created_at = serializers.DateTimeField()


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret = serializers.CharField(help_text="whsec_...: verify signatures with it (Standard Webhooks).")


class WebhookDeliveryOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    endpoint = serializers.UUIDField(source="endpoint.public_id")
    event_id = serializers.CharField(source="event.event_id")
    event_type = serializers.ChoiceField(choices=WebhookEventType.choices, source="event.event_type")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempt_count = serializers.IntegerField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
