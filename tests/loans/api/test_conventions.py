"""Authentication, scopes, throttling and problem+json: the conventions every operation shares."""

import json

import pytest
from django.test import override_settings

from config import clock
from tests.loans.api.conftest import make_caller

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def _assert_problem(response, status, slug):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"https://docs.lending310.dev/problems/{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_no_key_is_a_401_problem_with_a_bearer_challenge(client):
    response = client.get("/api/v1/merchants")

    _assert_problem(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Token p310_x_y"])
def test_a_bad_key_is_a_401_problem(client, header):
    _assert_problem(client.get("/api/v1/merchants", HTTP_AUTHORIZATION=header), 401, "unauthenticated")


def test_a_revoked_key_is_refused(alpha):
    from accounts.services import api_key_revoke

    api_key_revoke(api_key=alpha.api_key)

    _assert_problem(alpha.get("/api/v1/merchants"), 401, "unauthenticated")


def test_a_read_key_cannot_write_and_a_write_key_cannot_manage_webhooks(db):
    reader = make_caller("reader", scopes=["read"])
    writer = make_caller("writer", scopes=["write"])

    body = _assert_problem(reader.post("/api/v1/merchants", {"merchant_id": "M", "name": "N", "onboarded_on": "2024-01-01"}), 403, "forbidden")
    assert "'write'" in body["detail"]
    assert reader.get("/api/v1/merchants").status_code == 200
    assert writer.get("/api/v1/merchants").status_code == 200
    _assert_problem(writer.get("/api/v1/webhook-endpoints"), 403, "forbidden")
    _assert_problem(writer.post("/api/v1/webhook-endpoints", {"url": "https://example.com/h"}), 403, "forbidden")


def test_throttling_answers_429_with_retry_after_once_the_keys_budget_is_spent(alpha, beta):
    import time

    while clock.now().timestamp() % 60 > 55:  # the window is a fixed minute: do not straddle its end
        time.sleep(0.5)
    with override_settings(API_RATE_LIMIT="3/minute"):
        statuses = [alpha.get("/api/v1/merchants").status_code for _ in range(4)]
        limited = alpha.get("/api/v1/merchants")
        other = beta.get("/api/v1/merchants")

    assert statuses == [200, 200, 200, 429]
    body = _assert_problem(limited, 429, "rate-limited")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "retry after" in body["detail"]
    assert other.status_code == 200  # the budget is per key


def test_validation_problems_name_each_field(alpha):
    response = alpha.post("/api/v1/applications", {"amount": "abc", "term_months": 0, "purpose": "yacht"})

    body = _assert_problem(response, 400, "validation-error")
    fields = {e["field"] for e in body["errors"]}
    assert {"amount", "term_months", "purpose"} <= fields
    assert all(set(e) == {"field", "message", "code"} for e in body["errors"])


def test_malformed_json_is_a_problem_not_a_trace(alpha):
    response = alpha.client.post(
        "/api/v1/merchants", data="{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    body = _assert_problem(response, 400, "malformed-request")
    assert "Traceback" not in body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/merchants/not-a-uuid", "/api/v1/merchants/"])
def test_unknown_routes_are_404_problems(alpha, path):
    _assert_problem(alpha.get(path), 404, "not-found")


def test_an_unsupported_method_is_a_405_problem(alpha):
    _assert_problem(alpha.client.put("/api/v1/merchants", {}, format="json"), 405, "method-not-allowed")


def test_an_unsupported_media_type_is_a_415_problem(alpha):
    response = alpha.client.post(
        "/api/v1/merchants", data="a=b", content_type="application/x-www-form-urlencoded", HTTP_IDEMPOTENCY_KEY="k"
    )
    _assert_problem(response, 415, "unsupported-media-type")


def test_a_server_error_is_a_500_problem_without_a_trace(alpha, monkeypatch):
    from loans.api import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "merchant_list_for_partner", boom)
    response = alpha.get("/api/v1/merchants")

    body = _assert_problem(response, 500, "internal-error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in body["detail"]


def test_the_schema_and_docs_are_served_and_declare_the_key_scheme(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    spec = schema.json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "p310_<prefix>_<secret>",
        "description": "A partner API key (manage.py create_api_key or the admin). Scopes: read, write, admin.",
    }
    assert "/api/v1/applications" in spec["paths"]
    assert docs.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/merchants", "/api/v1/merchants/not-a-uuid"])
def test_unknown_api_routes_are_problems_even_with_debug_on(alpha, path, settings):
    settings.DEBUG = True
    alpha.client.handler.enforce_csrf_checks = True

    _assert_problem(alpha.get(path), 404, "not-found")
    _assert_problem(alpha.post(path, {}), 404, "not-found")
    _assert_problem(alpha.delete(path), 404, "not-found")


# ---- bodies no client of ours sends: a 4xx problem, never a 500 --------------------------------------
def _raw_post(caller, body: bytes, key="raw-1"):
    return caller.client.post("/api/v1/merchants", body, content_type="application/json",
                              HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_json_nested_deeper_than_any_request_is_a_400_problem(depth):
    caller = make_caller("deep")

    response = _raw_post(caller, b"[" * depth + b"]" * depth)

    _assert_problem(response, 400, "malformed-request")


def test_a_body_over_the_size_limit_is_a_413_problem_and_nothing_is_made():
    caller = make_caller("large")
    body = b'{"merchant_id": "M-1", "name": "' + b"x" * 5000 + b'", "onboarded_on": "2024-01-01"}'

    with override_settings(API_MAX_BODY_BYTES=4096):
        response = _raw_post(caller, body)

    body = _assert_problem(response, 413, "request-too-large")
    assert "4,096" in body["detail"]
    from accounts.models import Business

    assert not Business.objects.filter(partner=caller.partner).exists()


def test_the_size_limit_fits_the_documented_largest_transactions_batch():
    # 10,000 rows (serializers.MAX_TRANSACTIONS) with every field at its longest.
    from django.conf import settings

    from loans.api.serializers import MAX_TRANSACTIONS

    row = {"merchant_id": "M" * 64, "transaction_id": "T" * 64, "occurred_at": "2026-03-01T09:30:00.000000+00:00",
           "amount": "9" * 12 + ".99", "currency": "CNY", "direction": "out", "kind": "loan_disbursement",
           "counterparty": "C" * 128, "balance_after": "-" + "9" * 12 + ".99"}
    size = len(json.dumps({"transactions": [row] * MAX_TRANSACTIONS}).encode())

    assert size < settings.API_MAX_BODY_BYTES
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= settings.API_MAX_BODY_BYTES
