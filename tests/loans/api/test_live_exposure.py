"""No stacked loans under concurrency, against a live server (granian, 2 workers x 8 threads) and a
real Celery worker: simultaneous submissions and acceptances for one business, and for two businesses
of one company, end within the policy caps (docs/exposure.md)."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.models import Business
from accounts.services import api_key_create
from loans.applications.models import Application, Loan
from tests.clock import pinned_dates
from tests.loans.conftest import merchant_with_outcome
from underwriting.policies.services import policy_active

pytestmark = pytest.mark.services


def _client(base, partner):
    raw = api_key_create(partner=partner, name=f"burst-{uuid.uuid4().hex[:6]}", scopes=["write"]).raw_key

    def post(path, body=None):
        return requests.post(f"{base}/api/v1{path}", json=body or {}, timeout=60,
                             headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": str(uuid.uuid4())})

    return post


def _apply_and_accept(post, merchants, amount, barrier):
    def flow(i):
        merchant = merchants[i % len(merchants)]
        barrier.wait()
        submitted = post("/applications?wait=10", {"merchant_id": merchant.external_id, "amount": amount,
                                                   "term_months": 12, "purpose": "inventory"})
        accepted = None
        if submitted.status_code == 201 and submitted.json()["status"] in ("approved", "counter_offered"):
            accepted = post(f"/applications/{submitted.json()['id']}/offer/accept")
        return submitted, accepted

    return flow


@pinned_dates
def test_twenty_simultaneous_submissions_and_accepts_for_one_business_end_with_one_loan(
    api_server, committed_world, celery_worker_process
):
    # given a merchant the engine approves for 3,000
    merchant = merchant_with_outcome(committed_world, "approved", "3000.00", 12)
    post = _client(api_server, merchant.partner)

    # when 20 clients submit at once, each accepting the offer it gets
    barrier = threading.Barrier(20)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(_apply_and_accept(post, [merchant], "3000.00", barrier), range(20)))

    # then one loan was made; every other submission was refused while an application was in progress,
    # or (submitted once the loan existed) declined on the open-loans rule
    submitted = [s for s, _ in results]
    created = {s.json()["id"] for s in submitted if s.status_code == 201}
    refused = [s for s in submitted if s.status_code != 201]
    assert len(refused) >= 20 - len(created) and refused
    assert all(s.status_code == 409 and s.json()["type"].endswith("/application-in-progress") for s in refused), [(s.status_code, s.text[:300]) for s in refused if not s.json()["type"].endswith("/application-in-progress")]
    assert {s.json()["application"] for s in refused} <= created
    assert [a.status_code for _, a in results if a is not None] == [201]
    loan = Loan.objects.get(business=merchant)
    for other in Application.objects.filter(business=merchant).exclude(pk=loan.application_id):
        assert other.status == "declined"
        assert [r["feature"] for r in other.decision.reasons] == ["KO_OPEN_LOANS"]

    # and 20 more simultaneous accepts of the same offer make no second loan
    offer = str(loan.application.public_id)
    barrier = threading.Barrier(20)

    def accept(_):
        barrier.wait()
        return post(f"/applications/{offer}/offer/accept")

    with ThreadPoolExecutor(max_workers=20) as pool:
        again = list(pool.map(accept, range(20)))
    assert {r.status_code for r in again} == {409}
    assert Loan.objects.filter(business=merchant).count() == 1


def test_simultaneous_applications_of_two_businesses_of_one_company_leave_one_loan_within_the_cap(
    api_server, committed_world, celery_worker_process
):
    # given two businesses sharing a registration number, each approvable for 3,000
    first = merchant_with_outcome(committed_world, "approved", "3000.00", 12)
    second = merchant_with_outcome([b for b in committed_world if b != first], "approved", "3000.00", 12)
    Business.objects.filter(pk__in=[first.pk, second.pk]).update(registration_number="91110000600037341L")
    post = _client(api_server, first.partner)

    # when 20 clients apply for one or the other at once, each accepting what it is offered
    barrier = threading.Barrier(20)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(_apply_and_accept(post, [first, second], "3000.00", barrier), range(20)))

    # then the company ends with one loan within its cap; every other application was refused while
    # one was in progress, declined on the open-loans rule (decided after the loan), or kept an offer
    # whose acceptance was refused
    loans = Loan.objects.filter(business__in=[first, second])
    assert loans.count() == 1
    assert sum(loan.principal for loan in loans) <= policy_active()[1].exposure_cap
    accepts = [a for _, a in results if a is not None]
    assert sorted(a.status_code for a in accepts) == [201] + [409] * (len(accepts) - 1)
    assert all(a.json()["type"].endswith("/exposure-limit") for a in accepts if a.status_code == 409)
    for submitted, _ in results:
        if submitted.status_code != 201:
            assert submitted.json()["type"].endswith("/application-in-progress")
    others = Application.objects.filter(business__in=[first, second], loan__isnull=True)
    assert others.exists()
    for other in others:
        if other.status == "declined":
            assert [r["feature"] for r in other.decision.reasons] == ["KO_OPEN_LOANS"]
        else:
            assert other.status in ("approved", "counter_offered")
