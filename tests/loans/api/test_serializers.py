"""Input shapes: an unknown or read-only key is a 400 naming it and nothing is written (Stripe's
strictness), on every write operation; dates far in the future or out of order are refused."""

import inspect
import uuid
from datetime import timedelta

import pytest
from rest_framework import serializers

from accounts.models import Business
from config import clock
from loans.api import serializers as api_serializers
from underwriting.history.models import Transaction

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
WRITE_METHODS = ("post", "put", "patch", "delete")


def _errors(response, status=400) -> list[dict]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "https://docs.lending310.dev/problems/validation-error"
    assert all(set(e) == {"field", "message", "code"} for e in body["errors"])
    return body["errors"]


def _codes(errors) -> dict[str, str]:
    return {e["field"]: e["code"] for e in errors}


def _merchant(**overrides):
    body = {"merchant_id": "M-1", "name": "Golden Noodle House", "category": "food", "region": "east",
            "onboarded_on": "2023-02-01", "established_on": "2019-06-15"}
    body.update(overrides)
    return body


def _row(i=0, **overrides):
    row = {"merchant_id": "A-001", "transaction_id": f"T{i}", "occurred_at": "2024-03-01T09:15:00Z",
           "amount": "128.50", "currency": "CNY", "direction": "in", "kind": "sale"}
    row.update(overrides)
    return row


# --- unknown and read-only fields ---------------------------------------------------------------------
def test_an_unknown_field_on_create_is_a_400_naming_it_and_nothing_is_made(alpha):
    response = alpha.post("/api/v1/merchants", _merchant(colour="red", flavour="umami"))

    errors = _errors(response)
    assert _codes(errors) == {"colour": "unknown_field", "flavour": "unknown_field"}
    assert errors[0]["message"] == (
        "Unknown field; this operation takes: category, established_on, merchant_id, name, onboarded_on, "
        "region, registration_number."
    )
    assert not Business.objects.exists()


def test_unknown_fields_are_reported_with_the_other_problems_of_the_body(alpha):
    response = alpha.post("/api/v1/applications", {"amount": "abc", "term_months": 12, "purpose": "inventory",
                                                   "merchant_id": "A-001", "colour": "red"})

    assert _codes(_errors(response)) == {"amount": "invalid", "colour": "unknown_field"}


def test_patching_the_merchant_id_or_an_output_field_is_a_400_and_changes_nothing(alpha, alpha_merchant):
    path = f"/api/v1/merchants/{alpha_merchant.public_id}"

    response = alpha.patch(path, {"merchant_id": "B-999", "id": str(uuid.uuid4()), "name": "Renamed"})

    errors = _errors(response)
    assert _codes(errors) == {"merchant_id": "read_only", "id": "read_only"}
    assert errors[0]["message"] == "This field is read-only: it cannot be set or changed here."
    alpha_merchant.refresh_from_db()
    assert (alpha_merchant.external_id, alpha_merchant.legal_name) == ("A-001", "Alpha Noodles")


def test_an_unknown_key_in_a_transaction_row_names_the_row_and_nothing_is_imported(alpha, alpha_merchant):
    rows = [_row(0), _row(1, colour="red"), _row(2, counter_party="misspelt")]

    errors = _errors(alpha.post("/api/v1/transactions", {"transactions": rows}))

    assert _codes(errors) == {"transactions[1].colour": "unknown_field",
                              "transactions[2].counter_party": "unknown_field"}
    assert not Transaction.objects.exists()


def test_an_operation_without_a_body_refuses_one(alpha):
    response = alpha.post(f"/api/v1/applications/{uuid.uuid4()}/offer/accept", {"amount": "1.00"})

    errors = _errors(response)
    assert errors == [{"field": "amount", "message": "Unknown field; this operation takes: no fields.",
                       "code": "unknown_field"}]


def test_every_write_operation_of_the_schema_refuses_an_unknown_field(alpha, alpha_merchant, client):
    spec = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    ids = {"merchant_id": alpha_merchant.public_id}  # PATCH reads the merchant first; the others validate first
    walked = []

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in WRITE_METHODS or method == "delete":  # DELETE takes no body in HTTP's sense
                continue
            url = path.format(**{p: ids.get(p, uuid.uuid4()) for p in _path_parameters(operation)})
            body = {"colour": "red"}
            response = alpha.patch(url, body) if method == "patch" else alpha.post(url, body)

            assert {"field": "colour", "code": "unknown_field"} in [
                {k: e[k] for k in ("field", "code")} for e in _errors(response)
            ], (method, path)
            walked.append(operation["operationId"])

    assert len(walked) == 10, walked
    assert not Business.objects.exclude(pk=alpha_merchant.pk).exists()


def _path_parameters(operation) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]


def test_every_input_shape_is_strict_and_the_schema_says_so(client):
    from loans.api.serializers import StrictIn

    inputs = [c for name, c in inspect.getmembers(api_serializers, inspect.isclass)
              if name.endswith("In") and issubclass(c, serializers.Serializer)]
    spec = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    requests = {n: c for n, c in spec["components"]["schemas"].items() if n.endswith("Request")}

    assert len(inputs) >= 9
    assert [c.__name__ for c in inputs if not issubclass(c, StrictIn)] == []
    assert requests and {n: c.get("additionalProperties") for n, c in requests.items()} == dict.fromkeys(requests, False)


# --- dates --------------------------------------------------------------------------------------------
def test_a_merchant_date_far_in_the_future_is_a_400_on_that_field(alpha):
    response = alpha.post("/api/v1/merchants", _merchant(onboarded_on="2999-01-01", established_on="2998-01-01"))

    errors = _errors(response)
    assert _codes(errors) == {"onboarded_on": "future", "established_on": "future"}
    assert errors[0]["message"] == "2999-01-01 is in the future: onboarded_on may be at most one day after today (UTC)."
    assert not Business.objects.exists()


def test_a_merchant_may_be_onboarded_at_most_one_day_ahead_of_the_utc_calendar(alpha):
    today = clock.today()

    ahead = alpha.post("/api/v1/merchants", _merchant(merchant_id="M-1", onboarded_on=str(today + timedelta(days=1))))
    beyond = alpha.post("/api/v1/merchants", _merchant(merchant_id="M-2", onboarded_on=str(today + timedelta(days=2))))

    assert ahead.status_code == 201, ahead.content
    assert _codes(_errors(beyond)) == {"onboarded_on": "future"}
    assert list(Business.objects.values_list("external_id", flat=True)) == ["M-1"]


def test_a_merchant_established_after_it_was_onboarded_is_a_400(alpha):
    response = alpha.post("/api/v1/merchants", _merchant(onboarded_on="2023-02-01", established_on="2023-02-02"))

    assert _errors(response) == [{
        "field": "established_on", "code": "date_order",
        "message": "established_on (2023-02-02) must be on or before onboarded_on (2023-02-01).",
    }]
    assert not Business.objects.exists()


def test_patching_one_date_is_checked_against_the_stored_other(alpha):
    created = alpha.post("/api/v1/merchants", _merchant())
    path = f"/api/v1/merchants/{created.json()['id']}"

    earlier = alpha.patch(path, {"onboarded_on": "2019-01-01"})
    later = alpha.patch(path, {"established_on": "2023-03-01"})
    unrelated = alpha.patch(path, {"name": "Golden Noodles"})

    assert _codes(_errors(earlier)) == {"onboarded_on": "date_order"}
    assert _codes(_errors(later)) == {"established_on": "date_order"}
    assert unrelated.status_code == 200
    merchant = Business.objects.get()
    assert (str(merchant.onboarded_on), str(merchant.established_on)) == ("2023-02-01", "2019-06-15")


def test_a_transaction_far_in_the_future_is_refused_by_row_and_nothing_is_imported(alpha, alpha_merchant):
    now = clock.now()
    rows = [
        _row(0, occurred_at=(now + timedelta(hours=23)).isoformat()),
        _row(1, occurred_at="2999-03-01T09:15:00Z"),
        _row(2, occurred_at=(now + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%S+08:00")),
        _row(3, occurred_at=str((now + timedelta(days=3)).date())),
    ]

    errors = _errors(alpha.post("/api/v1/transactions", {"transactions": rows}))

    assert _codes(errors) == {"transactions[1].occurred_at": "future", "transactions[3].occurred_at": "future"}
    assert not Transaction.objects.exists()
