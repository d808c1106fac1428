import pytest

from underwriting.history.models import DailyRollup, Transaction

pytestmark = pytest.mark.django_db


def _row(i, **overrides):
    row = {
        "merchant_id": "A-001", "transaction_id": f"T{i}", "occurred_at": f"2024-03-0{1 + i % 5}T09:15:00Z",
        "amount": "128.50", "currency": "CNY", "direction": "in", "kind": "sale", "counterparty": "buyer-1",
        "balance_after": "5128.50",
    }
    row.update(overrides)
    return row


def test_a_batch_is_imported_with_its_rollups_and_listed_back_exactly(alpha, alpha_merchant):
    rows = [_row(i) for i in range(10)] + [_row(10, amount="20.00", direction="out", kind="fee", counterparty=None,
                                                balance_after="-3.10")]

    response = alpha.post("/api/v1/transactions", {"transactions": rows})

    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("received", "inserted", "unchanged")} == {
        "received": 11, "inserted": 11, "unchanged": 0}
    assert Transaction.objects.filter(business=alpha_merchant).count() == 11
    assert DailyRollup.objects.filter(business=alpha_merchant).exists()
    listed = alpha.get("/api/v1/transactions", merchant_id="A-001", direction="out")
    assert listed.json()["results"] == [{
        "merchant_id": "A-001", "transaction_id": "T10", "occurred_at": "2024-03-01T09:15:00Z", "amount": "20.00",
        "currency": "CNY", "direction": "out", "kind": "fee", "counterparty": None, "balance_after": "-3.10",
    }]


def test_one_bad_row_rejects_the_whole_batch_with_row_level_errors(alpha, alpha_merchant):
    rows = [_row(0), _row(1, amount="12,50"), _row(2, currency="USD"), _row(3, merchant_id="nobody")]

    response = alpha.post("/api/v1/transactions", {"transactions": rows})

    assert response.status_code == 400
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["transactions[1].amount", "transactions[2].currency", "transactions[3].merchant_id"]
    assert not Transaction.objects.exists()


def test_a_batch_over_10000_rows_is_refused(alpha, alpha_merchant):
    response = alpha.post("/api/v1/transactions", {"transactions": [_row(i) for i in range(10_001)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "transactions"
    assert not Transaction.objects.exists()


def test_reimporting_identical_rows_changes_nothing(alpha, alpha_merchant):
    rows = [_row(i) for i in range(3)]
    alpha.post("/api/v1/transactions", {"transactions": rows})

    again = alpha.post("/api/v1/transactions", {"transactions": rows})

    assert again.status_code == 201
    assert {k: again.json()[k] for k in ("inserted", "unchanged")} == {"inserted": 0, "unchanged": 3}


def test_a_partner_cannot_ingest_for_or_list_another_partners_merchant(alpha, beta, alpha_merchant):
    alpha.post("/api/v1/transactions", {"transactions": [_row(0)]})

    response = beta.post("/api/v1/transactions", {"transactions": [_row(1)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "transactions[0].merchant_id"
    assert beta.get("/api/v1/transactions").json()["results"] == []
    assert beta.get("/api/v1/transactions", merchant_id="A-001").json()["results"] == []
    assert Transaction.objects.count() == 1


def test_a_batch_of_exactly_10000_rows_is_imported_whole(alpha, alpha_merchant):
    rows = [
        _row(i, transaction_id=f"B{i:05d}", occurred_at=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
             amount=f"{1 + i % 500}.{i % 100:02d}")
        for i in range(10_000)
    ]

    response = alpha.post("/api/v1/transactions", {"transactions": rows})

    assert response.status_code == 201, response.content[:500]
    assert response.json()["inserted"] == 10_000
    assert Transaction.objects.filter(business=alpha_merchant).count() == 10_000
    expected = sum(int(r["amount"].replace(".", "")) for r in rows)
    from django.db.models import Sum

    assert Transaction.objects.aggregate(total=Sum("amount_minor"))["total"] == expected
