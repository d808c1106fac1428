"""Query filters of the list operations (django-filter; a bad value is a 400 problem)."""

import django_filters

from accounts.models import Business
from loans.api.fields import UtcDateTimeFilter
from loans.applications.models import Application, ApplicationStatus
from loans.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEventType
from underwriting.decisions.models import DecisionOutcome
from underwriting.history.ingest.values import DIRECTIONS, KINDS
from underwriting.history.models import Transaction


class MerchantFilter(django_filters.FilterSet):
    merchant_id = django_filters.CharFilter(field_name="external_id", max_length=64)

    class Meta:
        model = Business
        fields: list[str] = []


class TransactionFilter(django_filters.FilterSet):
    merchant_id = django_filters.CharFilter(field_name="business__external_id", max_length=64)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    direction = django_filters.ChoiceFilter(choices=[(k, k) for k in sorted(DIRECTIONS)], method="_direction")
    kind = django_filters.ChoiceFilter(choices=[(k, k) for k in sorted(KINDS)], method="_kind")

    class Meta:
        model = Transaction
        fields: list[str] = []

    def _direction(self, queryset, name, value):
        return queryset.filter(direction=DIRECTIONS[value])

    def _kind(self, queryset, name, value):
        return queryset.filter(kind=KINDS[value])


class ApplicationFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ApplicationStatus.choices)
    outcome = django_filters.ChoiceFilter(choices=DecisionOutcome.choices, field_name="decision__outcome")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    merchant_id = django_filters.CharFilter(field_name="business__external_id", max_length=64)

    class Meta:
        model = Application
        fields: list[str] = []


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.ChoiceFilter(choices=WebhookEventType.choices, field_name="event__event_type")
    endpoint = django_filters.UUIDFilter(field_name="endpoint__public_id")

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []
