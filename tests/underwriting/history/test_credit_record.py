"""The platform's own loans enter the business's credit record through one service."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from config import clock
from tests.clock import pinned_dates
from tests.factories import BusinessFactory, PartnerFactory
from underwriting.engine.context import business_context
from underwriting.engine.product import estimated_outstanding
from underwriting.history.loader import load_history
from underwriting.history.models import LoanRecord, LoanRecordSource, LoanRecordStatus
from underwriting.history.services import credit_record_loan_open


def test_a_disbursed_loan_is_recorded_current_and_twice_is_once(db):
    # given a business of a partner
    business = BusinessFactory(partner=PartnerFactory(slug="cr-bank"))

    # when the platform reports the same disbursed loan twice
    first = credit_record_loan_open(business=business, loan_id="310-abc", originated_on=dt.date(2026, 11, 2),
                                    amount=Decimal("10000.00"), term_months=12)
    second = credit_record_loan_open(business=business, loan_id="310-abc", originated_on=dt.date(2026, 11, 2),
                                     amount=Decimal("10000.00"), term_months=12)

    # then one current platform record holds it
    assert first.pk == second.pk
    record = LoanRecord.objects.get(partner=business.partner, loan_id="310-abc")
    assert (record.business_id, record.source, record.status, record.amount, record.term_months,
            record.days_past_due) == (business.pk, LoanRecordSource.PLATFORM, LoanRecordStatus.CURRENT,
                                      Decimal("10000.00"), 12, 0)


def test_a_loan_id_of_another_business_is_refused_and_nothing_changes(db):
    partner = PartnerFactory(slug="cr-bank-2")
    owner, other = BusinessFactory(partner=partner), BusinessFactory(partner=partner)
    credit_record_loan_open(business=owner, loan_id="310-x", originated_on=dt.date(2026, 1, 5),
                            amount=Decimal("500.00"), term_months=3)

    with pytest.raises(ValueError, match="another business"):
        credit_record_loan_open(business=other, loan_id="310-x", originated_on=dt.date(2026, 1, 5),
                                amount=Decimal("900.00"), term_months=6)

    assert list(LoanRecord.objects.filter(loan_id="310-x").values_list("business_id", "amount")) == [
        (owner.pk, Decimal("500.00"))]


@pinned_dates
def test_days_past_due_are_known_to_decisions_made_after_they_were_reported(db):
    # given a loan of the credit record reported 30 days past due a moment ago
    business = BusinessFactory(partner=PartnerFactory(slug="cr-dpd"))
    today = clock.today()
    record = LoanRecord.objects.create(
        partner=business.partner, business=business, loan_id="IMP-9", source="imported",
        originated_on=today - dt.timedelta(days=200), amount=Decimal("6000.00"), term_months=12,
        status=LoanRecordStatus.CURRENT, days_past_due=30)

    # when histories are read as of a minute before the report and as of now
    before = load_history(business=business, as_of=record.updated_at - dt.timedelta(minutes=1))
    after = load_history(business=business, as_of=clock.now())

    # then only the later one knows it, and the arrears rule reads it
    assert math.isnan(before.loans.days_past_due[0])
    assert after.loans.days_past_due[0] == 30.0
    assert business_context(history=after, is_blocked=False).max_days_past_due == 30.0


@pytest.mark.parametrize(("amount", "originated", "on", "owed"), [
    ("10000.00", dt.date(2026, 11, 30), dt.date(2027, 1, 29), "9166.67"),  # the second due day (30 Jan) not reached
    ("10000.00", dt.date(2026, 11, 30), dt.date(2027, 1, 30), "8333.33"),
    ("12000.00", dt.date(2027, 1, 31), dt.date(2027, 2, 28), "11000.00"),  # 31 Jan -> 28 Feb is one month
    ("12000.00", dt.date(2028, 2, 29), dt.date(2029, 2, 28), "0.00"),  # a leap day's anniversary, clamped
    ("12000.00", dt.date(2027, 12, 31), dt.date(2027, 12, 1), "12000.00"),  # not yet originated: all of it
])
def test_an_imported_loans_outstanding_principal_falls_month_by_month_on_the_due_day_calendar(
    amount, originated, on, owed
):
    assert estimated_outstanding(amount=Decimal(amount), originated_on=originated, term_months=12, on=on) == Decimal(owed)
