import datetime as dt

import pytest
from django.core.management import call_command

from accounts.models import Business, User
from accounts.roles import LOAN_OFFICER
from tests.factories import BusinessFactory, PartnerFactory
from underwriting.history.models import DailyRollup, Direction, LoanRecord, LoanRecordStatus, TransactionKind

pytestmark = pytest.mark.django_db


def _trading(business, first: dt.date, last: dt.date):
    DailyRollup.objects.bulk_create(
        DailyRollup(business=business, day=day, direction=Direction.IN, kind=TransactionKind.SALE,
                    count=1, total_minor=10_000, max_minor=10_000)
        for day in (first, last)
    )


def test_setup_demo_creates_one_login_per_role_and_links_a_healthy_trading_merchant():
    # given a demo marketplace with a merchant that stopped trading, one that defaulted, and two trading now
    demo = PartnerFactory(slug="demo")
    stopped = BusinessFactory(partner=demo)
    _trading(stopped, dt.date(2023, 1, 1), dt.date(2025, 9, 1))
    defaulted = BusinessFactory(partner=demo)
    _trading(defaulted, dt.date(2023, 1, 1), dt.date(2026, 10, 31))
    LoanRecord.objects.create(partner=demo, business=defaulted, loan_id="L1", originated_on=dt.date(2025, 1, 1),
                              amount="5000.00", term_months=6, status=LoanRecordStatus.DEFAULTED,
                              defaulted_on=dt.date(2025, 6, 1))
    younger = BusinessFactory(partner=demo)
    _trading(younger, dt.date(2024, 6, 1), dt.date(2026, 10, 31))
    best = BusinessFactory(partner=demo)
    _trading(best, dt.date(2024, 1, 1), dt.date(2026, 10, 31))

    # when the demo is set up twice
    call_command("setup_demo")
    call_command("setup_demo")

    # then the owner has the longest-trading healthy merchant, and every role has a login
    owner = User.objects.get(email="owner@demo.example.com")
    assert list(Business.objects.filter(owner=owner)) == [best]
    assert User.objects.get(email="officer@demo.example.com").groups.filter(name=LOAN_OFFICER).exists()
    assert User.objects.get(email="risk@demo.example.com").is_staff
    assert not owner.is_staff


def test_with_a_model_active_the_demo_owner_gets_a_merchant_the_model_approves(world):
    # given a demo marketplace (most of whose merchants the model declines today) and an active model
    from decimal import Decimal

    from loans.applications import services
    from loans.businesses.selectors import business_suggested_amount

    # when the demo is set up
    call_command("setup_demo")

    # then the owner's merchant, applying for the suggested amount, is approved
    owner = User.objects.get(email="owner@demo.example.com")
    business = Business.objects.get(owner=owner)
    suggestion = business_suggested_amount(business=business)
    assert suggestion.basis == "model" and suggestion.amount >= Decimal("1000.00")
    application = services.application_submit(
        business=business, amount=suggestion.amount, term_months=suggestion.term_months, purpose="inventory",
        channel="web", applicant=owner, actor="owner:owner@demo.example.com",
    )
    assert services.application_decide(application_id=application.pk).status == "approved"
