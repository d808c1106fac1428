"""How an application and a loan look to a partner: the API's responses and the webhooks' payloads
are the same serializers, so an event carries exactly what a GET of the object returns."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loans.applications.models import ApplicationStatus, LoanStatus, Purpose
from underwriting.decisions.models import DecisionKind, DecisionOutcome


def money_field(**kwargs):
    return serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True, **kwargs)


_money = money_field


class ScheduleRowOut(serializers.Serializer):
    number = serializers.IntegerField()
    due_on = serializers.DateField()
    payment = _money()
    principal = _money()
    interest = _money()
    balance_after = _money()


class ReasonOut(serializers.Serializer):
    family = serializers.CharField()
    label = serializers.CharField()
    feature = serializers.CharField(help_text="The feature (or rule code) that speaks for the reason.")
    value = serializers.FloatField(allow_null=True)
    shap_value = serializers.FloatField(
        allow_null=True, source="contribution",
        help_text="SHAP contribution on the model's raw margin (log-odds of default); null for rules.",
    )
    text = serializers.CharField()


class DecisionOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    outcome = serializers.ChoiceField(choices=DecisionOutcome.choices)
    decided_by = serializers.ChoiceField(choices=DecisionKind.choices)
    requested_amount = _money()
    requested_term_months = serializers.IntegerField()
    offered_amount = _money(allow_null=True)
    term_months = serializers.IntegerField(allow_null=True)
    apr = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True, help_text="Nominal APR, %.")
    effective_apr = serializers.DecimalField(
        max_digits=6, decimal_places=2, allow_null=True, help_text="APR including the fee, %."
    )
    origination_fee = _money(allow_null=True)
    instalment = _money(allow_null=True)
    total_repayable = _money(allow_null=True)
    schedule = serializers.SerializerMethodField()
    score = serializers.IntegerField(allow_null=True)
    score_band = serializers.CharField()
    pd = serializers.FloatField(allow_null=True, help_text="Probability of default over the term.")
    model_version = serializers.CharField(allow_null=True, source="model_version.version", default=None)
    policy_version = serializers.IntegerField(source="policy_version.version")
    reasons = ReasonOut(many=True)
    decided_at = serializers.DateTimeField(source="created_at")

    @extend_schema_field(ScheduleRowOut(many=True))
    def get_schedule(self, decision) -> list[dict]:
        # Stored as the engine computed it (strings for money); declines have none.
        schedule = decision.schedule
        return list(schedule.get("rows", [])) if isinstance(schedule, dict) else []


class ApplicationOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    merchant = serializers.UUIDField(source="business.public_id")
    merchant_id = serializers.CharField(source="business.external_id")
    status = serializers.ChoiceField(choices=ApplicationStatus.choices)
    amount = _money()
    term_months = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    as_of = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    offer_expires_at = serializers.DateTimeField(allow_null=True)
    decision = DecisionOut(allow_null=True)
    loan = serializers.SerializerMethodField(help_text="The loan's id once the offer is accepted.")

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_loan(self, application) -> str | None:
        # The caller may have read the loan already (application_event_data): `loan` in the context.
        loan = self.context["loan"] if "loan" in self.context else loan_of(application)
        return str(loan.public_id) if loan is not None else None


class InstalmentOut(serializers.Serializer):
    number = serializers.IntegerField()
    due_on = serializers.DateField()
    amount = _money()
    principal = _money()
    interest = _money()
    balance_after = _money()


class LoanOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    application = serializers.UUIDField(source="application.public_id")
    merchant_id = serializers.CharField(source="business.external_id")
    status = serializers.ChoiceField(choices=LoanStatus.choices)
    currency = serializers.CharField()
    principal = _money()
    origination_fee = _money()
    disbursed_amount = _money()
    apr = serializers.DecimalField(max_digits=6, decimal_places=2)
    effective_apr = serializers.DecimalField(max_digits=6, decimal_places=2)
    term_months = serializers.IntegerField()
    instalment = _money()
    total_interest = _money()
    total_repayable = _money()
    disbursed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    schedule = InstalmentOut(many=True, source="instalments.all")


LOAN_UNREAD = object()  # the default below: read the application's loan, if it has one


def loan_of(application):
    """The application's loan, or None before its offer is accepted."""
    try:
        return application.loan
    except ObjectDoesNotExist:
        return None


def application_data(application, *, loan=LOAN_UNREAD) -> dict:
    """GET /applications/{id}'s representation; `loan`: the application's loan (or None) when the caller
    knows it, so it is not read again."""
    return dict(ApplicationOut(application, context={} if loan is LOAN_UNREAD else {"loan": loan}).data)


def loan_data(loan) -> dict:
    return dict(LoanOut(loan).data)


def application_event_data(application, *, loan=LOAN_UNREAD) -> dict:
    """A webhook event's `data`: the same representations the API returns for GET /applications/{id} and
    /loans/{id}, so a partner parses one shape whichever way it learns of a change. `loan`: as above."""
    if loan is LOAN_UNREAD:
        loan = loan_of(application)
    return {"application": application_data(application, loan=loan),
            "loan": loan_data(loan) if loan is not None else None}
