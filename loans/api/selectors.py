"""Reads of the partner API. Every one filters on the caller's partner: another partner's id is a 404."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Business, PartnerBank
from loans.applications import selectors as loans_selectors
from loans.applications.models import Application, Loan
from loans.webhooks.models import WebhookDelivery, WebhookEndpoint
from underwriting.history.models import Transaction


def _get(queryset: QuerySet, **lookup):
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError):
        raise Http404 from None


def merchant_list_for_partner(*, partner: PartnerBank) -> QuerySet[Business]:
    return Business.objects.filter(partner=partner).order_by("-created_at", "-id")


def merchant_get_for_partner(*, partner: PartnerBank, public_id) -> Business:
    return _get(merchant_list_for_partner(partner=partner), public_id=public_id)


def transaction_list_for_partner(*, partner: PartnerBank) -> QuerySet[Transaction]:
    # Transactions carry no partner column; their merchant does (a join on the merchant's primary key).
    return Transaction.objects.filter(business__partner=partner)


def application_list_for_partner(*, partner: PartnerBank) -> QuerySet[Application]:
    # The partner scoping is loans.selectors'; the API's answers also show versions and the loan.
    return loans_selectors.application_list_for_partner(partner=partner).select_related(
        "decision__model_version", "decision__policy_version", "loan")


def application_get_for_partner(*, partner: PartnerBank, public_id) -> Application:
    return _get(application_list_for_partner(partner=partner), public_id=public_id)


def loan_get_for_partner(*, partner: PartnerBank, public_id) -> Loan:
    return _get(loans_selectors.loan_list_for_partner(partner=partner), public_id=public_id)


def webhook_endpoint_list_for_partner(*, partner: PartnerBank) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner=partner).order_by("-created_at", "-id")


def webhook_endpoint_get_for_partner(*, partner: PartnerBank, public_id) -> WebhookEndpoint:
    return _get(webhook_endpoint_list_for_partner(partner=partner), public_id=public_id)


def webhook_delivery_list_for_partner(*, partner: PartnerBank) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(endpoint__partner=partner)
        .select_related("event", "endpoint")
        .order_by("-created_at", "-id")
    )
