from django.urls import path

from loans.api import views

app_name = "api"

urlpatterns = [
    path("merchants", views.MerchantsView.as_view(), name="merchants"),
    path("merchants/<uuid:merchant_id>", views.MerchantDetailView.as_view(), name="merchant"),
    path("transactions", views.TransactionsView.as_view(), name="transactions"),
    path("applications", views.ApplicationsView.as_view(), name="applications"),
    path("applications/<uuid:application_id>", views.ApplicationDetailView.as_view(), name="application"),
    path("applications/<uuid:application_id>/decision", views.ApplicationDecisionView.as_view(), name="decision"),
    path("applications/<uuid:application_id>/withdraw", views.ApplicationWithdrawView.as_view(), name="withdraw"),
    path("applications/<uuid:application_id>/offer/accept", views.OfferAcceptView.as_view(), name="offer-accept"),
    path("applications/<uuid:application_id>/offer/reject", views.OfferRejectView.as_view(), name="offer-reject"),
    path("loans/<uuid:loan_id>", views.LoanDetailView.as_view(), name="loan"),
    path("loans/<uuid:loan_id>/disbursement", views.LoanDisbursementView.as_view(), name="loan-disbursement"),
    path("webhook-endpoints", views.WebhookEndpointsView.as_view(), name="webhook-endpoints"),
    path("webhook-endpoints/<uuid:endpoint_id>", views.WebhookEndpointDetailView.as_view(), name="webhook-endpoint"),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateView.as_view(),
        name="webhook-endpoint-rotate",
    ),
    path("webhook-deliveries", views.WebhookDeliveriesView.as_view(), name="webhook-deliveries"),
]
