"""No stacked loans: exposure read at the decision's instant and again at acceptance, under a row lock,
for the business, its owner's businesses and its company registration (loans/applications/exposure.py,
docs/exposure.md)."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Business
from config import clock
from loans.applications import booking as applications_booking
from loans.applications import services as applications_services
from loans.applications import transitions as applications_transitions
from loans.applications.exposure import exposure_read, related_parties
from loans.applications.models import Application, ApplicationStatus, ApplicationTransition, Loan
from tests.clock import pinned_dates
from tests.factories import UserFactory
from tests.loans.conftest import merchant_with_outcome
from underwriting.engine.exposure import BUSINESS, OWNER, REGISTRATION
from underwriting.engine.product import estimated_outstanding
from underwriting.history.models import LoanRecord, LoanRecordSource, LoanRecordStatus
from underwriting.policies.services import policy_active, policy_version_create

S = ApplicationStatus
ACTOR = "owner:owner@example.com"


def _apply(business, amount, term=12):
    application = applications_services.application_submit(
        business=business, amount=Decimal(amount), term_months=term, purpose="inventory", channel="web", actor=ACTOR
    )
    return applications_services.application_decide(application_id=application.pk)


def _related(world, amount, **shared):
    """Two businesses of the world the engine approves for `amount`, made related by `shared` fields
    (the same owner, or the same registration number)."""
    first = merchant_with_outcome(world, "approved", amount, 12)
    second = merchant_with_outcome([b for b in world if b != first], "approved", amount, 12)
    Business.objects.filter(pk__in=[first.pk, second.pk]).update(**shared)
    first.refresh_from_db()
    second.refresh_from_db()
    return first, second


def _party(decision, scope):
    return next(p for p in decision.context["exposure"]["parties"] if p["scope"] == scope)


@pinned_dates
def test_a_second_loan_for_a_business_with_a_loan_paid_out_today_is_declined_citing_it(approvable):
    # given a business whose loan was paid out a minute ago (not yet in any "before today" record)
    business, amount = approvable
    first = _apply(business, amount)
    loan = applications_booking.offer_accept(application=first, actor=ACTOR)
    assert loan.status == "disbursed"

    # when it applies again for the same amount
    second = _apply(business, amount)

    # then the decision saw the loan at that instant and declined on the open-loans rule
    decision = second.decision
    assert second.status == S.DECLINED
    assert decision.decided_by == "knockout"
    rule = next(r for r in decision.knockouts if r["code"] == "KO_OPEN_LOANS")
    assert rule["passed"] is False
    assert rule["detail"] == "1 open loan(s) with us for this business; at most 1 at a time."
    assert decision.context["open_platform_loans"] == 1
    party = _party(decision, BUSINESS)
    assert (party["open_platform_loans"], party["platform_outstanding"]) == (1, str(loan.principal))
    assert Decimal(party["total"]) == loan.principal + Decimal(party["imported_outstanding"])
    assert Decimal(decision.context["existing_exposure"]) == Decimal(party["total"])
    assert [r["feature"] for r in decision.reasons] == ["KO_OPEN_LOANS"]
    assert Loan.objects.filter(business=business).count() == 1


def test_a_new_application_while_one_is_pending_or_offered_is_refused_and_stores_nothing(approvable):
    business, amount = approvable
    pending = applications_services.application_submit(
        business=business, amount=amount, term_months=12, purpose="inventory", channel="web", actor=ACTOR
    )
    before = (Application.objects.count(), ApplicationTransition.objects.count())

    with pytest.raises(applications_services.ApplicationInProgress, match="still being decided") as refused:
        _apply(business, amount)
    assert refused.value.existing == pending
    assert (Application.objects.count(), ApplicationTransition.objects.count()) == before

    offered = applications_services.application_decide(application_id=pending.pk)
    with pytest.raises(applications_services.ApplicationInProgress, match="open offer"):
        _apply(business, amount)

    # once the offer is turned down, the business may apply again
    applications_services.offer_reject(application=offered, actor=ACTOR)
    assert _apply(business, amount).status == S.APPROVED


def test_an_expired_offer_no_longer_blocks_a_new_application(approvable):
    business, amount = approvable
    offered = _apply(business, amount)
    Application.objects.filter(pk=offered.pk).update(offer_expires_at=clock.now())

    assert _apply(business, amount).status == S.APPROVED


def test_an_open_offer_of_the_owners_other_business_counts_towards_its_exposure(world):
    # given one owner with two businesses, the first holding an open offer
    first, second = _related(world, "5000.00", owner=UserFactory())
    offer = _apply(first, "5000.00")

    # when the second business applies
    decided = _apply(second, "5000.00")

    # then its decision counts the owner's open offer (not the business's own) and still approves
    assert decided.status == S.APPROVED
    mine, owners = _party(decided.decision, BUSINESS), _party(decided.decision, OWNER)
    assert (mine["open_offers"], owners["open_offers"]) == ("0.00", str(offer.decision.offered_amount))
    assert owners["businesses"] == 2
    assert Decimal(owners["total"]) == (offer.decision.offered_amount + Decimal(owners["imported_outstanding"]))
    assert Decimal(decided.decision.context["existing_exposure"]) == Decimal(owners["total"])


def test_a_second_business_of_the_same_company_cannot_double_the_limit(world):
    # given two businesses of one company, and a cap on the company's total exposure leaving 6,000
    # beyond the imported loans they already carry
    first, second = _related(world, "4000.00", registration_number="91310000MA1K2B3C4D")
    carried = exposure_read(parties=related_parties(business=second), now=clock.now()).total
    policy_version_create(params=policy_active()[1].replace(exposure_cap=carried + Decimal("6000.00")).to_dict(),
                          note="a company cap for the test", activate=True)
    assert _apply(first, "4000.00").status == S.APPROVED

    # when the second business of the company asks for 4,000 as well
    decided = _apply(second, "4000.00")

    # then the company's cap leaves it 2,000 at most: a counter-offer citing the existing borrowing
    assert decided.status == S.COUNTER_OFFERED
    assert decided.decision.offered_amount == Decimal("2000.00")
    assert decided.decision.limit["caps"]["exposure"] == "2000.00"
    assert _party(decided.decision, REGISTRATION)["open_offers"] == "4000.00"
    assert _party(decided.decision, BUSINESS)["open_offers"] == "0.00"
    assert any(r["feature"] == "exposure" for r in decided.decision.reasons)


def test_accepting_is_refused_when_a_related_business_took_a_loan_since_the_offer(world):
    owner = UserFactory()
    first, second = _related(world, "5000.00", owner=owner)
    one, other = _apply(first, "5000.00"), _apply(second, "5000.00")
    assert (one.status, other.status) == (S.APPROVED, S.APPROVED)
    applications_booking.offer_accept(application=one, actor=ACTOR)
    transitions = ApplicationTransition.objects.count()

    with pytest.raises(applications_transitions.ExposureLimitReached, match="businesses of the same owner"):
        applications_booking.offer_accept(application=other, actor=ACTOR)

    other.refresh_from_db()
    assert other.status == S.APPROVED
    assert Loan.objects.filter(business__owner=owner).count() == 1
    assert ApplicationTransition.objects.count() == transitions


def test_imported_current_loans_count_at_their_estimated_outstanding_principal(world):
    # given (on 20 Nov 2026) an imported 12-month loan of 12,000 from 20 Aug 2026, still current, beside a
    # repaid one and the credit-record copy of a platform loan (counted from the loans themselves)
    business = world[0]
    assert clock.today() == date(2026, 11, 20)
    for loan_id, source, status in [("IMP-1", LoanRecordSource.IMPORTED, LoanRecordStatus.CURRENT),
                                    ("IMP-2", LoanRecordSource.IMPORTED, LoanRecordStatus.REPAID),
                                    ("310-x", LoanRecordSource.PLATFORM, LoanRecordStatus.CURRENT)]:
        LoanRecord.objects.create(partner=business.partner, business=business, loan_id=loan_id, source=source,
                                  originated_on=date(2026, 8, 20), amount=Decimal("12000.00"), term_months=12,
                                  status=status)

    exposure = exposure_read(parties=related_parties(business=business), now=clock.now())

    # then three of its twelve months have run: 9,000.00 is still owed
    party = exposure.parties[0]
    assert (party.scope, party.imported_current_loans, party.imported_outstanding) == (
        BUSINESS, 1 + _simulated_current(business), Decimal("9000.00") + _simulated_outstanding(business))


def _simulated_current(business) -> int:
    return LoanRecord.objects.filter(business=business, status="current", source="imported").exclude(loan_id="IMP-1").count()


def _simulated_outstanding(business) -> Decimal:
    """What the simulated world's own imported loans of this business still owe (counted too)."""
    rows = LoanRecord.objects.filter(business=business, status="current", source="imported").exclude(loan_id="IMP-1")
    return sum((estimated_outstanding(amount=r.amount, originated_on=r.originated_on, term_months=r.term_months,
                                      on=clock.today()) for r in rows), Decimal("0.00"))
