"""Input and output shapes of the partner API. Money is a string with 2 decimals ("1234.50").

Every input shape derives from `StrictIn`: a key the operation does not take is refused by name, never
dropped (docs/api.md, "Unknown fields"); dates are bounded by the project clock (`FUTURE_TOLERANCE`)."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from config import clock
from loans.applications.amounts import AMOUNT_PATTERN, AMOUNT_SIGN, AmountSyntaxError, amount_from_text
from loans.applications.models import Purpose
from loans.applications.representations import ApplicationOut
from loans.webhooks.models import DeliveryStatus, WebhookEventType
from underwriting.history.ingest.values import parse_datetime
from underwriting.kinds import DIRECTION_CODES, KIND_CODES
from underwriting.money import amount_text

MAX_TRANSACTIONS = 10_000
# How far ahead of the project clock a date or time may be: a partner's local calendar runs up to a day
# ahead of UTC (UTC+14), so "today" there may be tomorrow here; anything later is a typo (year 2999).
FUTURE_TOLERANCE = timedelta(days=1)


class StrictIn(serializers.Serializer):
    """The base of every request body: Stripe's strictness. A key that is not a field of the operation is
    a validation problem on that key (`unknown_field`), one the API only writes itself (an output field
    such as `id`, or an immutable one such as a merchant's `merchant_id` on PATCH) is `read_only`; either
    way nothing is written. Nested input shapes derive from it too, so a row's key is named with its path
    (`transactions[3].colour`). `read_only_from`: the representation whose other fields are read-only."""

    read_only_from: type[serializers.Serializer] | None = None

    def to_internal_value(self, data):
        extra = self._unexpected(data) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if extra and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **extra}) from None
            raise
        if extra:
            raise serializers.ValidationError(extra)
        return value

    def _unexpected(self, data: Mapping) -> dict:
        accepted = set(self.fields)
        written = set(self.read_only_from().fields) if self.read_only_from is not None else set()
        out = {}
        for key in data:
            if key in accepted:
                continue
            if key in written:
                out[key] = [ErrorDetail("This field is read-only: it cannot be set or changed here.", code="read_only")]
            else:
                takes = ", ".join(sorted(accepted)) or "no fields"
                out[key] = [ErrorDetail(f"Unknown field; this operation takes: {takes}.", code="unknown_field")]
        return out


class NoBodyIn(StrictIn):
    """Operations that take no body (accept an offer, rotate a secret): an empty or absent body only."""


def _not_far_ahead(value, field_name: str):
    if isinstance(value, datetime):
        limit, what = clock.now() + FUTURE_TOLERANCE, "now"
    else:
        limit, what = clock.today() + FUTURE_TOLERANCE, "today (UTC)"
    if value > limit:
        raise serializers.ValidationError(
            f"{value.isoformat()} is in the future: {field_name} may be at most one day after {what}.",
            code="future",
        )
    return value


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


class _MerchantDates(StrictIn):
    """Neither date far in the future, and a business is established on or before it was onboarded. On
    PATCH (`instance` set) a date left out is the stored one, and the pair is checked only when one of
    them changes (a merchant imported from CSV before this rule keeps its other edits possible)."""

    def validate_onboarded_on(self, value):
        return _not_far_ahead(value, "onboarded_on")

    def validate_established_on(self, value):
        return value if value is None else _not_far_ahead(value, "established_on")

    def validate(self, attrs):
        if "onboarded_on" not in attrs and "established_on" not in attrs:
            return attrs
        onboarded = attrs.get("onboarded_on", getattr(self.instance, "onboarded_on", None))
        established = attrs.get("established_on", getattr(self.instance, "established_on", None))
        if onboarded is not None and established is not None and established > onboarded:
            field = "established_on" if "established_on" in attrs else "onboarded_on"
            raise serializers.ValidationError(
                {field: ErrorDetail(f"established_on ({established.isoformat()}) must be on or before onboarded_on "
                                    f"({onboarded.isoformat()}).", code="date_order")}
            )
        return attrs


class MerchantCreateIn(_MerchantDates):
    """The merchants file's columns (docs/data-format.md); validated by the import's own rules."""

    read_only_from = MerchantOut

    merchant_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    onboarded_on = serializers.DateField()
    established_on = serializers.DateField(required=False, allow_null=True)
    registration_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


class MerchantUpdateIn(_MerchantDates):
    """Fields to change; those left out keep their value. `merchant_id` is the partner's key for the
    merchant and never changes (read-only here)."""

    read_only_from = MerchantOut

    name = serializers.CharField(max_length=200, required=False)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    onboarded_on = serializers.DateField(required=False)
    established_on = serializers.DateField(required=False, allow_null=True)
    registration_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


# --- transactions ------------------------------------------------------------------------------------
class TransactionIn(StrictIn):
    """One row of the transactions file. Values are checked by the import's rules (amount as a decimal
    string, occurred_at ISO 8601, currency the partner's). Unlike a file's extra columns, an unknown key
    is refused: a JSON row is built by code, where an extra key is a misspelt one."""

    merchant_id = serializers.CharField(max_length=64)
    transaction_id = serializers.CharField(max_length=64)
    occurred_at = serializers.CharField(max_length=40)
    amount = serializers.CharField(max_length=32)
    currency = serializers.CharField(max_length=3)
    direction = serializers.ChoiceField(choices=sorted(DIRECTION_CODES))
    kind = serializers.ChoiceField(choices=sorted(KIND_CODES))
    counterparty = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    balance_after = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)

    def validate_occurred_at(self, value):
        try:
            moment = datetime.fromisoformat(parse_datetime(value.strip())).replace(tzinfo=UTC)
        except ValueError:
            return value  # the import reports it, with its own message
        _not_far_ahead(moment, "occurred_at")
        return value


class TransactionBatchIn(StrictIn):
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


class ApplicationCreateIn(StrictIn):
    read_only_from = ApplicationOut

    merchant = serializers.UUIDField(required=False, help_text="The merchant's id (or give merchant_id).")
    merchant_id = serializers.CharField(required=False, max_length=64, help_text="Your merchant id.")
    amount = RequestedAmountField()
    term_months = serializers.IntegerField(min_value=1, max_value=60)
    purpose = serializers.ChoiceField(choices=Purpose.choices)

    def validate(self, attrs):
        if ("merchant" in attrs) == ("merchant_id" in attrs):
            raise serializers.ValidationError({"merchant": "Give exactly one of merchant or merchant_id."})
        return attrs


class ReasonIn(StrictIn):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DisbursementIn(StrictIn):
    disbursed_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="When the funds left (ISO 8601 with offset); absent: now. Never in the future.",
    )


# --- webhooks ----------------------------------------------------------------------------------------
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


class WebhookEndpointIn(StrictIn):
    read_only_from = WebhookEndpointWithSecretOut

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
