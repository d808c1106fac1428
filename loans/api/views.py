"""The partner API's views: each operation validates its input, calls one selector or service, and
formats the result. Tenancy: every lookup goes through a `*_for_partner` selector (404 otherwise)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiScope, Business
from loans.api import selectors
from loans.api import serializers as s
from loans.api.errors import ApiProblem, FieldErrors
from loans.api.filters import ApplicationFilter, DeliveryFilter, MerchantFilter, TransactionFilter
from loans.api.idempotency import idempotent
from loans.api.pagination import CreatedCursorPagination, OccurredCursorPagination
from loans.api.services import (
    MerchantExists,
    RowsRejected,
    merchant_create,
    merchant_update,
    transactions_ingest,
)
from loans.api.waiting import WAIT_PARAMETER, WaitIn, wait_for_decision
from loans.applications import booking as applications_booking
from loans.applications import services as applications_services
from loans.applications import transitions as applications_transitions
from loans.applications.models import Application, Channel
from loans.applications.representations import ApplicationOut, DecisionOut, LoanOut
from loans.webhooks.models import WebhookDelivery, WebhookEndpoint
from loans.webhooks.services import (
    WebhookUrlRefused,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
)
from underwriting.history.models import Transaction


def _partner(request):
    return request.auth.partner


class _PartnerListView(generics.ListAPIView):
    # A list over `partner_queryset(partner)`; the schema generator calls it with no partner.

    model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.partner_queryset(_partner(self.request))

    def partner_queryset(self, partner):
        raise NotImplementedError


def _rows_rejected(exc: RowsRejected) -> FieldErrors:
    return FieldErrors(exc.errors)


def _django_validation(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "message_dict"):
        return ValidationError(dict(exc.message_dict))
    return ValidationError(exc.messages)


def _conflict(detail: str, slug: str = "invalid-state", title: str = "Action not allowed in this state"):
    return ApiProblem(detail, status_code=409, slug=slug, title=title)


# --- merchants ---------------------------------------------------------------------------------------
class MerchantsView(_PartnerListView):
    model = Business
    serializer_class = s.MerchantOut
    pagination_class = CreatedCursorPagination
    filterset_class = MerchantFilter

    def partner_queryset(self, partner):
        return selectors.merchant_list_for_partner(partner=partner)

    @extend_schema(operation_id="merchants_list", summary="List merchants", tags=["merchants"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="merchants_create", summary="Create a merchant", tags=["merchants"],
        request=s.MerchantCreateIn, responses={201: s.MerchantOut},
    )
    @idempotent
    def post(self, request):
        data = s.MerchantCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            merchant = merchant_create(partner=_partner(request), data=data.validated_data)
        except MerchantExists:
            raise _conflict(
                f"Merchant {data.validated_data['merchant_id']!r} exists; update it with PATCH /api/v1/merchants/{{id}}.",
                slug="merchant-exists", title="Merchant exists",
            ) from None
        except RowsRejected as exc:
            raise _rows_rejected(exc) from None
        return Response(
            s.MerchantOut(merchant).data, status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/merchants/{merchant.public_id}"},
        )


class MerchantDetailView(APIView):
    @extend_schema(operation_id="merchants_retrieve", summary="Retrieve a merchant", tags=["merchants"],
                   responses={200: s.MerchantOut})
    def get(self, request, merchant_id):
        merchant = selectors.merchant_get_for_partner(partner=_partner(request), public_id=merchant_id)
        return Response(s.MerchantOut(merchant).data)

    @extend_schema(operation_id="merchants_update", summary="Update a merchant", tags=["merchants"],
                   request=s.MerchantUpdateIn, responses={200: s.MerchantOut})
    def patch(self, request, merchant_id):
        merchant = selectors.merchant_get_for_partner(partner=_partner(request), public_id=merchant_id)
        data = s.MerchantUpdateIn(merchant, data=request.data)  # the stored dates, for the date order
        data.is_valid(raise_exception=True)
        try:
            merchant = merchant_update(merchant=merchant, changes=data.validated_data)
        except RowsRejected as exc:
            raise _rows_rejected(exc) from None
        return Response(s.MerchantOut(merchant).data)


# --- transactions ------------------------------------------------------------------------------------
class TransactionsView(_PartnerListView):
    model = Transaction
    serializer_class = s.TransactionOut
    pagination_class = OccurredCursorPagination
    filterset_class = TransactionFilter

    def partner_queryset(self, partner):
        return selectors.transaction_list_for_partner(partner=partner).select_related("business")

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        currency = _partner(request).currency
        rows = [
            {
                "merchant_id": t.business.external_id,
                "transaction_id": t.transaction_id,
                "occurred_at": t.occurred_at,
                "amount": _minor(t.amount_minor),
                "currency": currency,
                "direction": t.get_direction_display(),
                "kind": t.get_kind_display(),
                "counterparty": t.counterparty,
                "balance_after": None if t.balance_after_minor is None else _minor(t.balance_after_minor),
            }
            for t in page
        ]
        return self.get_paginated_response(s.TransactionOut(rows, many=True).data)

    @extend_schema(operation_id="transactions_list", summary="List transactions", tags=["transactions"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="transactions_ingest", tags=["transactions"],
        summary=f"Ingest up to {s.MAX_TRANSACTIONS} transactions (all or nothing)",
        request=s.TransactionBatchIn, responses={201: s.TransactionBatchOut},
    )
    @idempotent
    def post(self, request):
        data = s.TransactionBatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        rows = [dict(row) for row in data.validated_data["transactions"]]
        try:
            result = transactions_ingest(partner=_partner(request), rows=rows)
        except RowsRejected as exc:
            raise _rows_rejected(exc) from None
        return Response(
            s.TransactionBatchOut(
                {"import_id": result.import_id, "received": result.received, "inserted": result.inserted,
                 "unchanged": result.unchanged}
            ).data,
            status=status.HTTP_201_CREATED,
        )


def _minor(value: int) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{value // 100}.{value % 100:02d}"


# --- applications ------------------------------------------------------------------------------------
class ApplicationsView(_PartnerListView):
    model = Application
    serializer_class = ApplicationOut
    pagination_class = CreatedCursorPagination
    filterset_class = ApplicationFilter

    def partner_queryset(self, partner):
        return selectors.application_list_for_partner(partner=partner)

    @extend_schema(operation_id="applications_list", summary="List applications", tags=["applications"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="applications_create", summary="Submit an application", tags=["applications"],
        request=s.ApplicationCreateIn, responses={201: ApplicationOut}, parameters=[WAIT_PARAMETER],
    )
    @idempotent
    def post(self, request):
        wait = WaitIn(data=request.query_params)
        wait.is_valid(raise_exception=True)
        data = s.ApplicationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        partner = _partner(request)
        v = data.validated_data
        if "merchant" in v:
            merchant = _merchant_or_400(lambda: selectors.merchant_get_for_partner(partner=partner, public_id=v["merchant"]), "merchant")
        else:
            merchant = _merchant_or_400(
                lambda: selectors.merchant_list_for_partner(partner=partner).get(external_id=v["merchant_id"]),
                "merchant_id",
            )
        try:
            application = applications_services.application_submit(
                business=merchant, amount=v["amount"], term_months=v["term_months"], purpose=v["purpose"],
                channel=Channel.API, applicant=None, actor=applications_transitions.partner_actor(partner),
            )
        except DjangoValidationError as exc:
            raise _django_validation(exc) from None
        except applications_services.ApplicationInProgress as exc:
            raise ApiProblem(str(exc), status_code=409, slug="application-in-progress",
                             title="An application is already in progress",
                             extensions={"application": str(exc.existing.public_id)}) from None
        return Response(
            ApplicationOut(application).data, status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/applications/{application.public_id}"},
        )

    def after_commit(self, request, response):
        """`?wait=`: the decision task is queued on the commit of the submission, so the wait runs after
        it, outside the key's transaction (the stored answer, for a replay, is the submitted application)."""
        seconds = WaitIn(data=request.query_params)
        seconds.is_valid(raise_exception=True)
        if not seconds.validated_data["wait"]:
            return response
        application = wait_for_decision(
            partner=_partner(request), public_id=response.data["id"], seconds=seconds.validated_data["wait"]
        )
        return Response(ApplicationOut(application).data, status=status.HTTP_201_CREATED,
                        headers={"Location": response["Location"]})


def _merchant_or_400(get, field: str):
    try:
        return get()
    except Exception as exc:  # Http404 or DoesNotExist: the merchant is not this partner's
        if exc.__class__.__name__ in ("Http404", "DoesNotExist"):
            raise ValidationError({field: "No such merchant."}) from None
        raise


class ApplicationDetailView(APIView):
    @extend_schema(operation_id="applications_retrieve", summary="Retrieve an application",
                   tags=["applications"], responses={200: ApplicationOut}, parameters=[WAIT_PARAMETER])
    def get(self, request, application_id):
        wait = WaitIn(data=request.query_params)
        wait.is_valid(raise_exception=True)
        application = wait_for_decision(
            partner=_partner(request), public_id=application_id, seconds=wait.validated_data["wait"]
        )
        return Response(ApplicationOut(application).data)


class ApplicationDecisionView(APIView):
    @extend_schema(operation_id="applications_decision_retrieve", summary="Retrieve the decision",
                   tags=["applications"], responses={200: DecisionOut})
    def get(self, request, application_id):
        application = selectors.application_get_for_partner(partner=_partner(request), public_id=application_id)
        if application.decision is None:
            raise ApiProblem(
                "The application has no decision yet; retry, or use ?wait= on GET /applications/{id}.",
                status_code=404, slug="not-decided", title="Not decided yet",
            )
        return Response(DecisionOut(application.decision).data)


def _transition(request, application_id, action):
    application = selectors.application_get_for_partner(partner=_partner(request), public_id=application_id)
    try:
        return application, action(application)
    except applications_transitions.IllegalTransition as exc:
        if isinstance(exc, applications_transitions.OfferExpired):
            raise _conflict(str(exc), slug="offer-expired") from None
        if isinstance(exc, applications_transitions.ExposureLimitReached):
            raise _conflict(str(exc), slug="exposure-limit", title="A lending limit would be exceeded") from None
        raise _conflict(str(exc)) from None


class ApplicationWithdrawView(APIView):
    @extend_schema(operation_id="applications_withdraw", summary="Withdraw an undecided application",
                   tags=["applications"], request=s.ReasonIn, responses={200: ApplicationOut})
    @idempotent
    def post(self, request, application_id):
        data = s.ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        actor = applications_transitions.partner_actor(_partner(request))
        application, _ = _transition(
            request, application_id,
            lambda a: applications_services.application_withdraw(application=a, actor=actor, reason=data.validated_data["reason"]),
        )
        application = selectors.application_get_for_partner(partner=_partner(request), public_id=application_id)
        return Response(ApplicationOut(application).data)


class OfferAcceptView(APIView):
    @extend_schema(operation_id="offers_accept", summary="Accept the offer (creates the loan)",
                   tags=["offers"], request=None, responses={201: LoanOut})
    @idempotent
    def post(self, request, application_id):
        s.NoBodyIn(data=request.data).is_valid(raise_exception=True)
        actor = applications_transitions.partner_actor(_partner(request))
        _, loan = _transition(
            request, application_id, lambda a: applications_booking.offer_accept(application=a, actor=actor)
        )
        loan = selectors.loan_get_for_partner(partner=_partner(request), public_id=loan.public_id)
        return Response(
            LoanOut(loan).data, status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/loans/{loan.public_id}"},
        )


class OfferRejectView(APIView):
    @extend_schema(operation_id="offers_reject", summary="Reject the offer", tags=["offers"],
                   request=s.ReasonIn, responses={200: ApplicationOut})
    @idempotent
    def post(self, request, application_id):
        data = s.ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        actor = applications_transitions.partner_actor(_partner(request))
        _transition(
            request, application_id,
            lambda a: applications_services.offer_reject(application=a, actor=actor, reason=data.validated_data["reason"]),
        )
        application = selectors.application_get_for_partner(partner=_partner(request), public_id=application_id)
        return Response(ApplicationOut(application).data)


class LoanDetailView(APIView):
    @extend_schema(operation_id="loans_retrieve", summary="Retrieve a loan with its schedule", tags=["loans"],
                   responses={200: LoanOut})
    def get(self, request, loan_id):
        loan = selectors.loan_get_for_partner(partner=_partner(request), public_id=loan_id)
        return Response(LoanOut(loan).data)


class LoanDisbursementView(APIView):
    @extend_schema(operation_id="loans_disburse", summary="Confirm the loan was paid out", tags=["loans"],
                   request=s.DisbursementIn, responses={200: LoanOut},
                   description="The partner confirms the funds left: the loan runs from that day (due dates "
                   "re-anchored on it) and enters the merchant's credit record. Loans on an owner's own "
                   "uploaded history always wait for this confirmation (docs/provenance.md).")
    @idempotent
    def post(self, request, loan_id):
        data = s.DisbursementIn(data=request.data)
        data.is_valid(raise_exception=True)
        partner = _partner(request)
        loan = selectors.loan_get_for_partner(partner=partner, public_id=loan_id)
        try:
            applications_booking.loan_disburse(loan=loan, actor=applications_transitions.partner_actor(partner),
                                        disbursed_at=data.validated_data["disbursed_at"])
        except applications_transitions.IllegalTransition as exc:
            raise _conflict(str(exc)) from None
        except DjangoValidationError as exc:
            raise _django_validation(exc) from None
        loan = selectors.loan_get_for_partner(partner=partner, public_id=loan_id)
        return Response(LoanOut(loan).data)


# --- webhooks ----------------------------------------------------------------------------------------
class _SecretBearing:
    """Answers that carry an endpoint's signing secret: never cached (`no-store`), and the secret is not
    kept in the stored idempotent answer; a replay reads the endpoint's secret as it is now."""

    idempotency_unstored = ("secret",)

    def replay_unstored(self, request, response):
        try:
            endpoint = selectors.webhook_endpoint_get_for_partner(partner=_partner(request), public_id=response.data["id"])
        except Http404:
            return response  # deleted since: the stored answer, without a secret
        headers = {h: response[h] for h in ("Location",) if response.has_header(h)}
        return Response(s.WebhookEndpointWithSecretOut(endpoint).data, status=response.status_code,
                        headers={**headers, **NO_STORE})


NO_STORE = {"Cache-Control": "no-store"}


class WebhookEndpointsView(_SecretBearing, _PartnerListView):
    model = WebhookEndpoint
    read_scope = ApiScope.ADMIN
    write_scope = ApiScope.ADMIN
    serializer_class = s.WebhookEndpointOut
    pagination_class = CreatedCursorPagination

    def partner_queryset(self, partner):
        return selectors.webhook_endpoint_list_for_partner(partner=partner)

    @extend_schema(operation_id="webhook_endpoints_list", summary="List webhook endpoints", tags=["webhooks"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(operation_id="webhook_endpoints_create", summary="Register a webhook endpoint",
                   tags=["webhooks"], request=s.WebhookEndpointIn, responses={201: s.WebhookEndpointWithSecretOut})
    @idempotent
    def post(self, request):
        data = s.WebhookEndpointIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = webhook_endpoint_create(partner=_partner(request), **data.validated_data)
        except WebhookUrlRefused as exc:
            raise ValidationError({"url": str(exc)}) from None
        return Response(
            s.WebhookEndpointWithSecretOut(endpoint).data, status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/webhook-endpoints/{endpoint.public_id}", **NO_STORE},
        )


class WebhookEndpointDetailView(APIView):
    read_scope = ApiScope.ADMIN
    write_scope = ApiScope.ADMIN

    @extend_schema(operation_id="webhook_endpoints_retrieve", summary="Retrieve a webhook endpoint",
                   tags=["webhooks"], responses={200: s.WebhookEndpointOut})
    def get(self, request, endpoint_id):
        endpoint = selectors.webhook_endpoint_get_for_partner(partner=_partner(request), public_id=endpoint_id)
        return Response(s.WebhookEndpointOut(endpoint).data)

    @extend_schema(operation_id="webhook_endpoints_delete", summary="Delete a webhook endpoint",
                   tags=["webhooks"], responses={204: OpenApiResponse(description="Deleted")})
    def delete(self, request, endpoint_id):
        endpoint = selectors.webhook_endpoint_get_for_partner(partner=_partner(request), public_id=endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateView(_SecretBearing, APIView):
    read_scope = ApiScope.ADMIN
    write_scope = ApiScope.ADMIN

    @extend_schema(operation_id="webhook_endpoints_rotate_secret", summary="Rotate the signing secret",
                   tags=["webhooks"], request=None, responses={200: s.WebhookEndpointWithSecretOut})
    @idempotent
    def post(self, request, endpoint_id):
        s.NoBodyIn(data=request.data).is_valid(raise_exception=True)
        endpoint = selectors.webhook_endpoint_get_for_partner(partner=_partner(request), public_id=endpoint_id)
        endpoint = webhook_endpoint_rotate_secret(endpoint=endpoint)
        return Response(s.WebhookEndpointWithSecretOut(endpoint).data, headers=NO_STORE)


class WebhookDeliveriesView(_PartnerListView):
    model = WebhookDelivery
    read_scope = ApiScope.ADMIN
    serializer_class = s.WebhookDeliveryOut
    pagination_class = CreatedCursorPagination
    filterset_class = DeliveryFilter

    def partner_queryset(self, partner):
        return selectors.webhook_delivery_list_for_partner(partner=partner)

    @extend_schema(operation_id="webhook_deliveries_list", summary="List webhook deliveries", tags=["webhooks"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
