"""Against a live server (granian, real HTTP): every route of the schema with another partner's key
reads or changes nothing of this partner's, and 100 concurrent POSTs with one Idempotency-Key create
exactly one application."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.models import Business
from accounts.services import api_key_create
from config import clock
from loans.applications.models import Application, Loan
from loans.applications.services import application_decide
from loans.idempotency.models import IdempotencyRecord
from loans.webhooks.models import WebhookDelivery, WebhookEndpoint
from loans.webhooks.services import HttpResult, webhook_deliveries_send, webhook_endpoint_create
from tests.clock import pinned_dates
from tests.conftest import wait_for
from tests.factories import BusinessFactory, PartnerFactory
from tests.loans.conftest import merchant_with_outcome
from underwriting.history.models import Transaction

pytestmark = pytest.mark.services


class Live:
    def __init__(self, base, raw_key):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {raw_key}"

    def call(self, method, path, json=None, params=None):
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        return self.session.request(method, self.base + path, json=json, params=params, headers=headers, timeout=30)


def _snapshot(partner):
    """Everything of a partner's that a write could change."""
    return {
        "merchants": sorted(Business.objects.filter(partner=partner).values_list(
            "public_id", "external_id", "legal_name", "sector", "region", "onboarded_on", "established_on",
            "registration_number", "updated_at")),
        "transactions": Transaction.objects.filter(business__partner=partner).count(),
        "applications": sorted(Application.objects.filter(partner=partner).values_list("public_id", "status", "updated_at")),
        "loans": sorted(Loan.objects.filter(partner=partner).values_list("public_id", "status", "updated_at")),
        "endpoints": sorted(WebhookEndpoint.objects.filter(partner=partner).values_list("public_id", "secret", "is_enabled", "url")),
        "deliveries": WebhookDelivery.objects.filter(endpoint__partner=partner).count(),
    }


@pinned_dates
def test_every_route_with_another_partners_key_reads_and_changes_nothing(api_server, committed_world):
    victim_partner = committed_world[0].partner
    merchant = merchant_with_outcome(committed_world, "approved", "5000.00", 12)
    victim = Live(api_server, api_key_create(partner=victim_partner, name="v", scopes=["write", "admin"]).raw_key)
    intruder_partner = PartnerFactory(slug="intruder")
    intruder_merchant = BusinessFactory(partner=intruder_partner, external_id="I-1")
    intruder = Live(api_server, api_key_create(partner=intruder_partner, name="i", scopes=["write", "admin"]).raw_key)

    # The victim's resources, made through the API so they are what a partner really has.
    transactions = [{"merchant_id": merchant.external_id, "transaction_id": "LIVE-1", "occurred_at": "2024-01-02T10:00:00Z",
                     "amount": "10.00", "currency": victim_partner.currency, "direction": "in", "kind": "sale"}]
    assert victim.call("POST", "/api/v1/transactions", {"transactions": transactions}).status_code == 201
    endpoint = webhook_endpoint_create(partner=victim_partner, url="http://127.0.0.1:9/hooks")
    decided = victim.call("POST", "/api/v1/applications", {"merchant_id": merchant.external_id, "amount": "5000.00",
                                                           "term_months": 12, "purpose": "inventory"}).json()
    application_decide(application_id=Application.objects.get(public_id=decided["id"]).pk)
    accepted = victim.call("POST", f"/api/v1/applications/{decided['id']}/offer/accept")
    assert accepted.status_code == 201, accepted.text
    pending = victim.call("POST", "/api/v1/applications", {"merchant_id": merchant.external_id, "amount": "5000.00",
                                                           "term_months": 12, "purpose": "inventory"}).json()
    # A worker may be running (other tests start one): settle the second application now, withdrawn or
    # decided, so nothing of the victim's changes on its own while the intruder probes.
    if victim.call("POST", f"/api/v1/applications/{pending['id']}/withdraw").status_code != 200:
        wait_for(lambda: Application.objects.get(public_id=pending["id"]).status not in ("submitted", "deciding"))
    webhook_deliveries_send(sender=lambda *a: HttpResult(500))
    ids = {
        "merchant_id": str(merchant.public_id), "application_id": pending["id"], "loan_id": accepted.json()["id"],
        "endpoint_id": str(endpoint.public_id),
    }
    decided_ids = {**ids, "application_id": decided["id"]}
    # (The merchant's external id is not secret here: the intruder sends it, and may own the same id.)
    secrets = {str(merchant.public_id), decided["id"], pending["id"], accepted.json()["id"],
               str(endpoint.public_id), "LIVE-1", endpoint.secret}
    bodies = {
        ("POST", "/api/v1/merchants"): {"merchant_id": merchant.external_id, "name": "Hijack", "onboarded_on": "2024-01-01"},
        ("PATCH", "/api/v1/merchants/{merchant_id}"): {"name": "Hijack"},
        ("POST", "/api/v1/transactions"): {"transactions": [{**transactions[0], "transaction_id": "EVIL-1"}]},
        ("POST", "/api/v1/applications"): {"merchant": str(merchant.public_id), "amount": "5000.00", "term_months": 12,
                                           "purpose": "inventory"},
        ("POST", "/api/v1/webhook-endpoints"): {"url": "http://127.0.0.1:9/evil"},
    }
    schema = requests.get(f"{api_server}/api/schema/", params={"format": "json"}, timeout=30).json()
    before = _snapshot(victim_partner)

    tried = []
    operations = sorted(
        ((m.upper(), p) for p, item in schema["paths"].items() for m in item),
        # Creating its own merchant with the victim's merchant id goes last: from then on that id is the
        # intruder's own too, and ingesting under it would rightly succeed.
        key=lambda op: (op == ("POST", "/api/v1/merchants"), op[1], op[0]),
    )
    for method, template in operations:
        body = bodies.get((method, template), {})
        for values in (ids, decided_ids) if "{application_id}" in template else (ids,):
            path = template.format(**values)
            response = intruder.call(method, path, json=body)
            tried.append((method, template))
            text = response.text.replace(path, "<the path it sent>")
            assert not any(secret in text for secret in secrets), (method, path, text)
            assert response.status_code < 500, (method, path, text)
            if "{" in template:
                assert response.status_code == 404, (method, path, response.status_code, text)
                assert response.headers["Content-Type"] == "application/problem+json"
                # The owner's key reaches the same URL (the 404 is about the key, not the URL).
                if method == "GET" and not (template.endswith("/decision") and values is ids):
                    assert victim.call("GET", path).status_code == 200, (path,)
            elif method == "GET":
                assert response.status_code == 200, (path, text)
            elif (method, template) == ("POST", "/api/v1/merchants"):
                assert response.status_code == 201  # the intruder's own merchant with the same id
            elif (method, template) == ("POST", "/api/v1/webhook-endpoints"):
                assert response.status_code == 201
            else:
                assert response.status_code == 400, (method, path, text)

    assert _snapshot(victim_partner) == before
    assert Business.objects.filter(partner=intruder_partner).count() == 2  # its own plus its own "M" copy
    assert intruder_merchant.pk in Business.objects.filter(partner=intruder_partner).values_list("pk", flat=True)
    assert set(tried) == set(operations)
    assert len(operations) >= 17


def test_100_concurrent_posts_with_one_idempotency_key_create_one_application(api_server, committed_world):
    partner = committed_world[0].partner
    raw = api_key_create(partner=partner, name="burst", scopes=["write"]).raw_key
    body = {"merchant_id": committed_world[1].external_id, "amount": "4000.00", "term_months": 6, "purpose": "equipment"}
    barrier = threading.Barrier(100)

    def post(_):
        session = requests.Session()
        barrier.wait()
        return session.post(
            f"{api_server}/api/v1/applications", json=body, timeout=60,
            headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": "burst-1"},
        )

    with ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(post, range(100)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    created = [r.json() for r in responses if r.status_code == 201]
    assert created and all(c["id"] == created[0]["id"] for c in created)
    assert all(r.json()["type"].endswith("/idempotency-request-in-flight") for r in responses if r.status_code == 409)
    assert Application.objects.filter(partner=partner).count() == 1
    assert IdempotencyRecord.objects.filter(partner=partner, key="burst-1").count() == 1
    replay = requests.post(f"{api_server}/api/v1/applications", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": "burst-1"})
    assert replay.status_code == 201 and replay.json()["id"] == created[0]["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_the_rate_limit_is_shared_by_every_server_process(throttled_server, transactional_db):
    raw = api_key_create(partner=PartnerFactory(slug="busy"), name="busy", scopes=["read"]).raw_key
    other = api_key_create(partner=PartnerFactory(slug="calm"), name="calm", scopes=["read"]).raw_key

    def get(key):
        # A new connection each time, so both web workers take requests.
        return requests.get(f"{throttled_server}/api/v1/merchants", headers={"Authorization": f"Bearer {key}",
                                                                          "Connection": "close"}, timeout=30)

    while clock.now().timestamp() % 60 > 45:  # the window is a fixed minute: do not straddle its end
        time.sleep(0.5)
    responses = [get(raw) for _ in range(40)]

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 30 + [429] * 10  # a per-process counter would let up to 60 through
    limited = responses[-1]
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert get(other).status_code == 200


def test_one_new_merchant_id_posted_concurrently_with_different_keys_is_created_once(api_server, transactional_db):
    partner = PartnerFactory(slug="racing")
    raw = api_key_create(partner=partner, name="race", scopes=["write"]).raw_key
    barrier = threading.Barrier(30)

    def post(n):
        session = requests.Session()
        barrier.wait()
        return session.post(
            f"{api_server}/api/v1/merchants", timeout=60,
            json={"merchant_id": "M-RACE", "name": f"Writer {n}", "onboarded_on": "2024-01-01"},
            headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": f"race-{n}"},
        )

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(post, range(30)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 29, statuses
    assert all(r.json()["type"].endswith("/merchant-exists") for r in responses if r.status_code == 409)
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert Business.objects.get(partner=partner, external_id="M-RACE").legal_name == winner["name"]
