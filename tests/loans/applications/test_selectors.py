"""Scoped reads: an owner sees only their businesses' applications and loans, a partner only its own."""

import uuid
from decimal import Decimal

import pytest

from accounts.models import Business
from config import clock
from loans.applications import booking as applications_booking
from loans.applications import selectors as applications_selectors
from loans.applications import services as applications_services
from loans.applications.exposure import exposure_read, related_parties
from loans.applications.models import Application, Loan
from loans.businesses import selectors as businesses_selectors
from tests.factories import BusinessFactory, PartnerFactory, UserFactory
from underwriting.decisions.services import decision_preview

pytestmark = pytest.mark.django_db


def _apply(business, applicant=None, channel="web"):
    return applications_services.application_submit(
        business=business, amount=Decimal("5000"), term_months=6, purpose="inventory", channel=channel,
        applicant=applicant, actor="test",
    )


def test_an_owner_sees_the_applications_of_their_businesses_and_no_one_elses():
    alice, bob = UserFactory(), UserFactory()
    partner = PartnerFactory(slug="demo")
    mine = _apply(BusinessFactory(partner=partner, owner=alice), alice)
    theirs = _apply(BusinessFactory(partner=partner, owner=bob), bob)

    assert list(applications_selectors.application_list_for_owner(user=alice)) == [mine]
    assert applications_selectors.application_get_for_owner(user=alice, public_id=mine.public_id) == mine
    for bad in (theirs.public_id, str(theirs.public_id), uuid.uuid4(), "not-a-uuid", None):
        with pytest.raises(Application.DoesNotExist):
            applications_selectors.application_get_for_owner(user=alice, public_id=bad)


def test_a_partner_sees_only_its_own_applications():
    north, south = PartnerFactory(slug="north"), PartnerFactory(slug="south")
    ours = _apply(BusinessFactory(partner=north), channel="api")
    other = _apply(BusinessFactory(partner=south), channel="api")

    assert list(applications_selectors.application_list_for_partner(partner=north)) == [ours]
    assert applications_selectors.application_get_for_partner(partner=north, public_id=str(ours.public_id)) == ours
    with pytest.raises(Application.DoesNotExist):
        applications_selectors.application_get_for_partner(partner=north, public_id=other.public_id)


def test_a_new_owner_of_a_business_sees_its_applications_and_the_former_owner_no_longer_does():
    alice, bob = UserFactory(), UserFactory()
    business = BusinessFactory(owner=alice)
    application = _apply(business, alice)

    Business.objects.filter(pk=business.pk).update(owner=bob)

    assert list(applications_selectors.application_list_for_owner(user=bob)) == [application]
    assert list(applications_selectors.application_list_for_owner(user=alice)) == []


def test_loans_are_scoped_the_same_way(approvable, owner):
    business, amount = approvable
    Business.objects.filter(pk=business.pk).update(owner=owner)
    application = applications_services.application_submit(
        business=business, amount=amount, term_months=12, purpose="inventory", channel="web",
        applicant=owner, actor="test",
    )
    loan = applications_booking.offer_accept(application=applications_services.application_decide(application_id=application.pk), actor="t")
    stranger, other_partner = UserFactory(), PartnerFactory(slug="elsewhere")

    assert applications_selectors.loan_get_for_owner(user=owner, public_id=loan.public_id) == loan
    assert applications_selectors.loan_get_for_partner(partner=business.partner, public_id=loan.public_id) == loan
    with pytest.raises(Loan.DoesNotExist):
        applications_selectors.loan_get_for_owner(user=stranger, public_id=loan.public_id)
    with pytest.raises(Loan.DoesNotExist):
        applications_selectors.loan_get_for_partner(partner=other_partner, public_id=loan.public_id)


def test_the_suggested_amount_is_what_the_engine_offers_now_and_none_without_enough_history(approvable):
    # given an approvable merchant and one with no history
    business, amount = approvable
    empty = BusinessFactory(partner=business.partner, external_id="NO-HISTORY")

    # when the owner's page asks for a suggestion
    suggestion = businesses_selectors.business_suggested_amount(business=business)
    none = businesses_selectors.business_suggested_amount(business=empty)

    # then it is what a decision on the product maximum offers at this instant (the same engine path)
    offer = decision_preview(business=business, amount=Decimal("500000.00"), term_months=12, as_of=clock.now(),
                             exposure=exposure_read(parties=related_parties(business=business), now=clock.now()))
    assert (suggestion.amount, suggestion.basis, suggestion.term_months) == (offer.offered_amount, "model", 12)
    assert suggestion.amount == amount and amount % Decimal("100.00") == 0
    # and a real application for it is approved for exactly that amount
    application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                              purpose="inventory", channel="web", actor="test")
    decided = applications_services.application_decide(application_id=application.pk)
    assert (decided.status, decided.decision.offered_amount) == ("approved", amount)
    assert (none.amount, none.basis) == (None, "none")
    assert none.note == ("We could not lend to this business today. 0 days of transaction history; at least 180 "
                         "are needed.")
