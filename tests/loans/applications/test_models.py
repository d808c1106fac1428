"""Database constraints that hold even if a service had a bug."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from config import clock
from loans.applications.models import Application, Loan, LoanInstalment
from tests.factories import BusinessFactory

pytestmark = pytest.mark.django_db


def _application(**overrides):
    business = BusinessFactory()
    values = {"partner": business.partner, "business": business, "channel": "web", "amount": Decimal("5000.00"),
                  "term_months": 12, "purpose": "inventory", "as_of": clock.now()}
    values.update(overrides)
    return Application.objects.create(**values)


@pytest.mark.parametrize("status", ["approved", "counter_offered", "declined", "accepted", "disbursed", "expired"])
def test_a_decided_status_without_a_decision_is_refused_by_the_database(status):
    with pytest.raises(IntegrityError), transaction.atomic():
        _application(status=status)


@pytest.mark.parametrize(("field", "value"), [("amount", Decimal("0.00")), ("term_months", 0), ("status", "lost")])
def test_nonsense_values_are_refused_by_the_database(field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        _application(**{field: value})


def test_a_loan_must_pay_out_principal_less_fee_and_instalments_must_add_up():
    application = _application(status="withdrawn")
    common = {"application": application, "partner": application.partner, "business": application.business,
                  "currency": "CNY", "principal": Decimal("1000.00"), "origination_fee": Decimal("10.00"),
                  "apr": Decimal("18.00"), "effective_apr": Decimal("20.10"), "term_months": 3,
                  "instalment": Decimal("343.37"), "total_interest": Decimal("30.11"), "total_repayable": Decimal("1030.11")}

    with pytest.raises(IntegrityError), transaction.atomic():
        Loan.objects.create(**common, disbursed_amount=Decimal("1000.00"))
    loan = Loan.objects.create(**common, disbursed_amount=Decimal("990.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanInstalment.objects.create(loan=loan, number=1, due_on=dt.date(2027, 2, 1), amount=Decimal("343.37"),
                                      principal=Decimal("328.37"), interest=Decimal("15.01"),
                                      balance_after=Decimal("671.63"))
    LoanInstalment.objects.create(loan=loan, number=1, due_on=dt.date(2027, 2, 1), amount=Decimal("343.37"),
                                  principal=Decimal("328.37"), interest=Decimal("15.00"), balance_after=Decimal("671.63"))
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanInstalment.objects.create(loan=loan, number=1, due_on=dt.date(2027, 3, 1), amount=Decimal("343.37"),
                                      principal=Decimal("328.37"), interest=Decimal("15.00"),
                                      balance_after=Decimal("343.26"))
