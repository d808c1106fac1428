import pytest

from accounts.models import Business

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def test_a_partner_creates_lists_retrieves_and_updates_a_merchant(alpha):
    created = alpha.post("/api/v1/merchants", {
        "merchant_id": "M-1", "name": "Golden Noodle House", "category": "food", "region": "east",
        "onboarded_on": "2023-02-01", "established_on": "2019-06-15",
    })

    assert created.status_code == 201, created.content
    body = created.json()
    merchant = Business.objects.get(partner=alpha.partner, external_id="M-1")
    assert body["id"] == str(merchant.public_id)
    assert created["Location"] == f"/api/v1/merchants/{merchant.public_id}"
    assert {k: body[k] for k in ("merchant_id", "name", "category", "region", "onboarded_on", "established_on")} == {
        "merchant_id": "M-1", "name": "Golden Noodle House", "category": "food", "region": "east",
        "onboarded_on": "2023-02-01", "established_on": "2019-06-15",
    }

    listed = alpha.get("/api/v1/merchants")
    assert [m["merchant_id"] for m in listed.json()["results"]] == ["M-1"]

    updated = alpha.patch(f"/api/v1/merchants/{merchant.public_id}", {"name": "Golden Noodles", "established_on": None})
    assert updated.status_code == 200, updated.content
    assert updated.json()["name"] == "Golden Noodles"
    assert updated.json()["established_on"] is None
    assert updated.json()["category"] == "food"
    merchant.refresh_from_db()
    assert merchant.legal_name == "Golden Noodles"


def test_a_merchant_is_validated_by_the_import_rules_and_nothing_is_stored(alpha):
    response = alpha.post("/api/v1/merchants", {"merchant_id": "M-1", "name": "X", "onboarded_on": "yesterday"})

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["onboarded_on"]
    assert not Business.objects.exists()


def test_creating_an_existing_merchant_is_a_conflict_and_changes_nothing(alpha, alpha_merchant):
    response = alpha.post("/api/v1/merchants", {"merchant_id": "A-001", "name": "Other", "onboarded_on": "2024-01-01"})

    assert response.status_code == 409
    assert response.json()["type"].endswith("/merchant-exists")
    alpha_merchant.refresh_from_db()
    assert alpha_merchant.legal_name == "Alpha Noodles"


def test_another_partners_merchant_is_a_404_to_read_and_to_update(alpha, beta, alpha_merchant):
    path = f"/api/v1/merchants/{alpha_merchant.public_id}"

    assert beta.get(path).status_code == 404
    assert beta.patch(path, {"name": "Stolen"}).status_code == 404
    assert beta.get("/api/v1/merchants").json()["results"] == []
    alpha_merchant.refresh_from_db()
    assert alpha_merchant.legal_name == "Alpha Noodles"
