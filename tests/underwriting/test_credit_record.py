"""The platform's own loans enter the business's credit record through one service."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories import BusinessFactory, PartnerFactory
from underwriting.models import LoanRecord, LoanRecordSource, LoanRecordStatus
from underwriting.services import credit_record_loan_open


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
