"""Applications, decisions, offers and loans through the API, on a simulated world with a trained model."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from accounts.services import api_key_create
from loans.applications.models import Application, ApplicationStatus, Loan
from loans.applications.services import application_decide
from loans.webhooks.models import WebhookDelivery, WebhookEvent
from loans.webhooks.services import webhook_endpoint_create
from tests.clock import pinned_dates
from tests.conftest import wait_for
from tests.loans.api.conftest import Caller, make_caller
from tests.loans.conftest import merchant_with_outcome


@pytest.fixture
def demo(world):
    partner = world[0].partner
    created = api_key_create(partner=partner, name="demo", scopes=["write", "admin"])
    return Caller(partner, created.raw_key, created.api_key)


def _submit(caller, merchant, amount="20000.00", term=12, **extra):
    return caller.post(
        "/api/v1/applications",
        {"merchant_id": merchant.external_id, "amount": str(amount), "term_months": term, "purpose": "inventory"},
        **extra,
    )


def _decided(caller, merchant, amount):
    response = _submit(caller, merchant, amount)
    assert response.status_code == 201, response.content
    application = Application.objects.get(public_id=response.json()["id"])
    application_decide(application_id=application.pk)
    application.refresh_from_db()
    return application


@pinned_dates
def test_a_submitted_application_is_stored_with_its_as_of_and_a_location(demo, world):
    merchant = world[0]

    response = _submit(demo, merchant, "15000.50", 9)

    assert response.status_code == 201, response.content
    body = response.json()
    application = Application.objects.get(public_id=body["id"])
    assert response["Location"] == f"/api/v1/applications/{application.public_id}"
    assert body["status"] == "submitted"
    assert body["amount"] == "15000.50" and body["term_months"] == 9 and body["purpose"] == "inventory"
    assert body["merchant"] == str(merchant.public_id) and body["merchant_id"] == merchant.external_id
    assert body["decision"] is None and body["loan"] is None
    assert application.channel == "api"
    assert application.transitions.get().actor == f"partner:{merchant.partner.slug}"


def test_an_application_outside_the_product_bounds_is_a_field_error_and_nothing_is_stored(demo, world):
    response = _submit(demo, world[0], "1.00", 12)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["amount"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("amount", ["1e5", "1E+05", "inf", "NaN", "-5000", "+5000", "5000.001", "5,00"])
def test_an_amount_that_is_not_a_plain_decimal_is_a_field_problem_and_nothing_is_stored(demo, world, amount):
    response = _submit(demo, world[0], amount, 12)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["amount"]
    assert not Application.objects.exists()


@pytest.mark.parametrize("literal", ["1e5", "100000.0", "-5000", "true", "null"])
def test_an_amount_sent_as_a_json_fraction_exponent_or_other_type_is_refused(demo, world, literal):
    """A JSON number written 1e5 reaches the server as the float 100000.0: money goes as a string (or a
    whole number), so a JSON fraction is refused whatever its value."""
    body = f'{{"merchant_id": "{world[0].external_id}", "amount": {literal}, "term_months": 12, "purpose": "inventory"}}'

    response = demo.client.post("/api/v1/applications", data=body, content_type="application/json",
                                HTTP_IDEMPOTENCY_KEY=f"literal-{literal}")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["amount"]
    assert not Application.objects.exists()


def test_an_amount_as_a_whole_json_number_or_with_thousands_commas_is_accepted(demo, world):
    body = f'{{"merchant_id": "{world[0].external_id}", "amount": 15000, "term_months": 12, "purpose": "inventory"}}'
    whole = demo.client.post("/api/v1/applications", data=body, content_type="application/json",
                             HTTP_IDEMPOTENCY_KEY="whole-number")
    commas = _submit(demo, world[1], "15,000.50", 12)

    assert whole.status_code == 201, whole.content
    assert (whole.json()["amount"], commas.json()["amount"]) == ("15000.00", "15000.50")


def test_another_partners_merchant_cannot_be_applied_for(world, db):
    other = make_caller("intruder", scopes=["write"])

    response = _submit(other, world[0])

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "merchant_id"
    assert not Application.objects.exists()


def test_the_decision_is_served_whole_and_exactly_as_recorded(demo, approvable):
    merchant, amount = approvable
    endpoint = webhook_endpoint_create(partner=merchant.partner, url="https://demo.example/hooks")

    application = _decided(demo, merchant, amount)

    decision = application.decision
    body = demo.get(f"/api/v1/applications/{application.public_id}/decision").json()
    assert body["outcome"] == decision.outcome == "approved"
    assert body["offered_amount"] == str(decision.offered_amount)
    assert body["term_months"] == decision.term_months
    assert body["apr"] == str(decision.apr) and body["effective_apr"] == str(decision.effective_apr)
    assert body["instalment"] == str(decision.instalment)
    assert body["total_repayable"] == str(decision.total_repayable)
    assert body["schedule"] == decision.schedule["rows"]
    assert sum(Decimal(r["payment"]) for r in body["schedule"]) == decision.total_repayable
    assert body["score"] == decision.score and body["pd"] == decision.pd
    assert body["model_version"] == decision.model_version.version
    assert body["policy_version"] == decision.policy_version.version
    assert [r["shap_value"] for r in body["reasons"]] == [r["contribution"] for r in decision.reasons]
    assert 1 <= len(body["reasons"]) <= 4
    retrieved = demo.get(f"/api/v1/applications/{application.public_id}").json()
    assert retrieved["status"] == "approved" and retrieved["decision"] == body
    event = WebhookEvent.objects.get(event_type="application.decided")
    assert event.payload["data"]["application"]["decision"]["id"] == body["id"]
    assert WebhookDelivery.objects.get(event=event).endpoint == endpoint


@pinned_dates
def test_accepting_the_offer_creates_the_loan_with_its_schedule(demo, approvable):
    merchant, amount = approvable
    application = _decided(demo, merchant, amount)

    response = demo.post(f"/api/v1/applications/{application.public_id}/offer/accept")

    assert response.status_code == 201, response.content
    loan = Loan.objects.get(application=application)
    body = response.json()
    assert response["Location"] == f"/api/v1/loans/{loan.public_id}"
    assert body["id"] == str(loan.public_id)
    assert body["principal"] == str(application.decision.offered_amount)
    assert len(body["schedule"]) == loan.term_months
    assert sum(Decimal(r["amount"]) for r in body["schedule"]) == Decimal(body["total_repayable"])
    assert demo.get(f"/api/v1/loans/{loan.public_id}").json() == body
    assert demo.get(f"/api/v1/applications/{application.public_id}").json()["loan"] == str(loan.public_id)
    assert set(WebhookEvent.objects.values_list("event_type", flat=True)) >= {"application.decided", "offer.accepted"}

    again = demo.post(f"/api/v1/applications/{application.public_id}/offer/accept")
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-state")
    assert Loan.objects.count() == 1


def test_rejecting_the_offer_records_it_and_a_later_accept_is_refused(demo, approvable):
    merchant, amount = approvable
    application = _decided(demo, merchant, amount)

    rejected = demo.post(f"/api/v1/applications/{application.public_id}/offer/reject", {"reason": "too dear"})
    accepted = demo.post(f"/api/v1/applications/{application.public_id}/offer/accept")

    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert accepted.status_code == 409
    assert not Loan.objects.exists()
    assert application.transitions.last().reason == "too dear"


def test_withdrawing_is_allowed_before_the_decision_only(demo, approvable, world):
    merchant, amount = approvable
    other = next(b for b in world if b != merchant)
    pending = _submit(demo, other, amount).json()["id"]
    decided = _decided(demo, merchant, amount)

    ok = demo.post(f"/api/v1/applications/{pending}/withdraw", {"reason": "found other funding"})
    refused = demo.post(f"/api/v1/applications/{decided.public_id}/withdraw")

    assert ok.status_code == 200 and ok.json()["status"] == "withdrawn"
    assert refused.status_code == 409
    decided.refresh_from_db()
    assert decided.status == ApplicationStatus.APPROVED


def test_wait_returns_after_the_given_seconds_when_no_decision_comes(demo, world):
    started = time.monotonic()
    response = _submit(demo, world[0], "20000.00", 12, QUERY_STRING="wait=1")
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    assert response.json()["status"] == "submitted"  # no worker in this test
    assert 1.0 <= elapsed < 3.0
    assert _submit(demo, world[0], QUERY_STRING="wait=11").status_code == 400


def test_lists_filter_by_status_outcome_and_created_range_and_page_by_cursor(demo, approvable, world):
    merchant, amount = approvable
    decided = _decided(demo, merchant, amount)
    others = [b for b in world if b != merchant][:3]
    pending = [_submit(demo, other, amount).json()["id"] for other in others]

    def ids(**params):
        return [a["id"] for a in demo.get("/api/v1/applications", **params).json()["results"]]

    assert ids(status="submitted") == list(reversed(pending))
    assert ids(outcome="approved") == [str(decided.public_id)]
    assert ids(created_before=decided.created_at.isoformat()) == []
    assert ids(created_after=decided.created_at.isoformat())[-1] == str(decided.public_id)
    # from the first pending one on: the decided (older) application is left out
    first_pending = Application.objects.get(public_id=pending[0]).created_at
    assert ids(created_after=first_pending.isoformat()) == list(reversed(pending))
    first = demo.get("/api/v1/applications", limit=2).json()
    second = demo.client.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 2
    assert {a["id"] for a in first["results"] + second["results"]} == {*pending, str(decided.public_id)}
    bad = demo.get("/api/v1/applications", status="bogus")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "status"


def test_another_partner_sees_none_of_it(demo, approvable, db):
    merchant, amount = approvable
    application = _decided(demo, merchant, amount)
    loan = demo.post(f"/api/v1/applications/{application.public_id}/offer/accept").json()["id"]
    other = make_caller("intruder")
    a = f"/api/v1/applications/{application.public_id}"

    assert other.get(a).status_code == 404
    assert other.get(f"{a}/decision").status_code == 404
    assert other.post(f"{a}/withdraw").status_code == 404
    assert other.post(f"{a}/offer/accept").status_code == 404
    assert other.post(f"{a}/offer/reject").status_code == 404
    assert other.get(f"/api/v1/loans/{loan}").status_code == 404
    assert other.get("/api/v1/applications").json()["results"] == []
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DISBURSED


def test_a_second_application_while_one_is_open_is_409_with_its_id_and_stores_nothing(demo, approvable):
    # given a merchant with an open offer
    merchant, amount = approvable
    open_offer = _decided(demo, merchant, amount)
    before = Application.objects.count()

    # when the partner applies again for the same merchant
    response = _submit(demo, merchant, amount)

    # then it is refused with the open application's id, and nothing is stored
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/application-in-progress")
    assert body["application"] == str(open_offer.public_id)
    assert "open offer" in body["detail"]
    assert Application.objects.count() == before


def test_an_acceptance_over_the_open_loans_cap_is_409_and_changes_nothing(demo, approvable, world):
    # given two businesses of one company (same registration number), each with an open offer
    merchant, amount = approvable
    sibling = merchant_with_outcome([b for b in world if b != merchant], "approved", "1000.00", 12)
    world_registration = "91310000MA1K2B3C4D"
    type(merchant).objects.filter(pk__in=[merchant.pk, sibling.pk]).update(registration_number=world_registration)
    merchant.refresh_from_db()
    sibling.refresh_from_db()
    first = _decided(demo, merchant, amount)
    second = _decided(demo, sibling, "1000.00")
    assert (first.status, second.status) == ("approved", "approved"), second.decision.reasons

    # when the first offer is accepted, then the second
    assert demo.post(f"/api/v1/applications/{first.public_id}/offer/accept").status_code == 201
    refused = demo.post(f"/api/v1/applications/{second.public_id}/offer/accept")

    # then the second is refused (one open loan per company registration) and nothing changed
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/exposure-limit")
    assert "same company registration number" in refused.json()["detail"]
    second.refresh_from_db()
    assert second.status == "approved"
    assert Loan.objects.filter(business__registration_number=world_registration).count() == 1


def test_when_every_waiting_slot_is_taken_a_submission_answers_at_once(demo, world, monkeypatch):
    # Given this process's only waiting slot held by another request
    from loans.api import waiting

    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(waiting, "_WAITING", slots)
    monkeypatch.setattr(waiting, "_poll", lambda **_: pytest.fail("polled without a free waiting slot"))
    slots.acquire()

    # When a submission asks to wait
    response = _submit(demo, world[0], "20000.00", 12, QUERY_STRING="wait=10")

    # Then it answers with the pending application instead of holding a thread
    assert response.status_code == 201
    assert response.json()["status"] == "submitted"
    slots.release()


def test_the_wait_starts_after_the_application_and_its_key_are_committed(
        committed_world, celery_worker_process, monkeypatch):
    from loans.api import views
    from loans.idempotency.models import IdempotencyRecord, IdempotencyStatus

    partner = committed_world[0].partner
    created = api_key_create(partner=partner, name="wait", scopes=["write"])
    caller = Caller(partner, created.raw_key, created.api_key)
    seen = {}
    waited = views.wait_for_decision

    def spy(**kwargs):
        seen["in_transaction"] = connection.in_atomic_block
        seen["key"] = IdempotencyRecord.objects.filter(partner=partner, key="w-1").values_list("status", flat=True).first()
        seen["application"] = Application.objects.filter(public_id=kwargs["public_id"]).exists()
        return waited(**kwargs)

    monkeypatch.setattr(views, "wait_for_decision", spy)

    response = caller.post("/api/v1/applications", {"merchant_id": committed_world[1].external_id, "amount": "3000.00",
                                                    "term_months": 6, "purpose": "inventory"},
                           key="w-1", QUERY_STRING="wait=5")

    assert response.status_code == 201
    assert seen == {"in_transaction": False, "key": IdempotencyStatus.COMPLETED, "application": True}
    # (and the worker has decided it: nothing is left running when the test's database is emptied)
    wait_for(lambda: Application.objects.get(public_id=response.json()["id"]).status not in ("submitted", "deciding"),
             timeout=60)
