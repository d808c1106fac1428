"""Idempotency-Key semantics (Stripe's): replay, 422 on reuse with another body, 409 while in flight."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection

from accounts.models import Business
from config import clock
from loans.api.idempotency import idempotency_records_purge
from loans.idempotency.models import IdempotencyRecord, IdempotencyStatus
from tests.clock import pinned_dates

pytestmark = pytest.mark.django_db

BODY = {"merchant_id": "M-1", "name": "Golden Noodle House", "onboarded_on": "2023-02-01"}


def test_every_post_needs_a_key_and_nothing_happens_without_one(alpha):
    response = alpha.client.post("/api/v1/merchants", BODY, format="json")

    assert response.status_code == 400
    assert response.json()["type"].endswith("/idempotency-key-missing")
    assert not Business.objects.exists()


def test_the_same_key_and_body_replays_the_stored_response(alpha):
    first = alpha.post("/api/v1/merchants", BODY, key="k-1")
    second = alpha.post("/api/v1/merchants", BODY, key="k-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert Business.objects.count() == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(alpha):
    alpha.post("/api/v1/merchants", BODY, key="k-1")

    response = alpha.post("/api/v1/merchants", {**BODY, "name": "Other"}, key="k-1")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert Business.objects.get().legal_name == "Golden Noodle House"


def test_the_same_key_on_another_path_is_422(alpha):
    alpha.post("/api/v1/merchants", BODY, key="k-1")

    response = alpha.post("/api/v1/webhook-endpoints", {"url": "https://example.com/h"}, key="k-1")

    assert response.status_code == 422


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_while_the_first_is_still_running_waits_for_it_then_is_409(alpha, settings, require_postgres):
    # Given the first request's key inserted but not committed (it is still running, on another connection)
    settings.API_IDEMPOTENCY_WAIT_SECONDS = 0.5
    fingerprint = _fingerprint_of(alpha, BODY)
    db = connection.settings_dict
    first = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                            dbname=db["NAME"])
    try:
        first.execute(
            "INSERT INTO loans_idempotencyrecord (partner_id, key, method, path, fingerprint, status,"
            " response_headers, created_at) VALUES (%s, 'k-1', 'POST', '/api/v1/merchants', %s, 'in_flight',"
            " '{}', now())", [alpha.partner.pk, fingerprint],
        )

        # When a duplicate arrives
        response = alpha.post("/api/v1/merchants", BODY, key="k-1")

        # Then it waited, and answers 409 with when to retry; nothing was made
        assert response.status_code == 409
        assert response.json()["type"].endswith("/idempotency-request-in-flight")
        assert response["Retry-After"] == "1"
        assert not Business.objects.exists()
    finally:
        first.rollback()  # the first request dies: its process, transaction and key go with it
        first.close()

    # And a retry right after runs the operation, once
    retry = alpha.post("/api/v1/merchants", BODY, key="k-1")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert Business.objects.count() == 1


def test_an_unanswered_record_of_an_earlier_version_does_not_block_the_key(alpha):
    # Earlier versions committed the key before the operation, and a dead process left it "in flight".
    IdempotencyRecord.objects.create(
        partner=alpha.partner, key="k-1", method="POST", path="/api/v1/merchants",
        fingerprint=_fingerprint_of(alpha, BODY),
    )

    response = alpha.post("/api/v1/merchants", BODY, key="k-1")

    assert response.status_code == 201
    assert Business.objects.count() == 1
    assert IdempotencyRecord.objects.get(key="k-1").status == IdempotencyStatus.COMPLETED


def test_a_server_error_after_the_object_was_written_keeps_neither_so_the_retry_makes_one(alpha, monkeypatch):
    # Given the response cannot be built after the merchant row was written (a 500 mid-request)
    from loans.api import serializers

    built = serializers.MerchantOut

    def broken(*args, **kwargs):
        raise RuntimeError("the serializer failed")

    monkeypatch.setattr(serializers, "MerchantOut", broken)
    alpha.client.raise_request_exception = False

    # When the request fails, and the client retries with the same key once it works again
    failed = alpha.post("/api/v1/merchants", BODY, key="k-1")
    assert failed.status_code == 500
    assert not Business.objects.exists() and not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(serializers, "MerchantOut", built)
    retry = alpha.post("/api/v1/merchants", BODY, key="k-1")

    # Then exactly one merchant exists, made by the retry
    assert retry.status_code == 201
    assert Business.objects.count() == 1


def _fingerprint_of(caller, body):
    """The fingerprint the server computes, learnt from a completed request under a throwaway key."""
    caller.post("/api/v1/merchants", body, key="probe")
    record = IdempotencyRecord.objects.get(partner=caller.partner, key="probe")
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
    Business.objects.all().delete()
    return record.fingerprint


def test_keys_are_scoped_per_partner(alpha, beta):
    a = alpha.post("/api/v1/merchants", BODY, key="shared")
    b = beta.post("/api/v1/merchants", BODY, key="shared")

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b


def test_a_rejected_request_leaves_no_record_so_the_key_can_be_retried(alpha):
    bad = alpha.post("/api/v1/merchants", {**BODY, "onboarded_on": "soon"}, key="k-1")
    good = alpha.post("/api/v1/merchants", BODY, key="k-1")

    assert bad.status_code == 400
    assert good.status_code == 201
    record = IdempotencyRecord.objects.get(key="k-1")
    assert record.status == IdempotencyStatus.COMPLETED
    assert record.response_status == 201


@pinned_dates
def test_records_are_kept_24_hours_then_purged(alpha):
    alpha.post("/api/v1/merchants", BODY, key="k-1")
    created = IdempotencyRecord.objects.get().created_at

    assert idempotency_records_purge(now=created + timedelta(hours=23, minutes=59)) == 0
    assert idempotency_records_purge(now=created + timedelta(hours=24, seconds=1)) == 1


@pinned_dates
def test_an_in_flight_record_of_a_dead_process_is_purged_after_ten_minutes(alpha):
    IdempotencyRecord.objects.create(partner=alpha.partner, key="k", method="POST", path="/x", fingerprint="f")

    assert idempotency_records_purge(now=clock.now() + timedelta(minutes=9)) == 0
    assert idempotency_records_purge(now=clock.now() + timedelta(minutes=11)) == 1


def test_a_request_the_database_rolled_back_for_a_deadlock_runs_again_once(alpha, monkeypatch):
    # Given the first attempt's transaction chosen as a deadlock victim after it wrote the merchant
    from django.db import OperationalError

    from loans.api import services

    created = services.merchant_create
    calls = []

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    def deadlocked_once(**kwargs):
        calls.append(1)
        merchant = created(**kwargs)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from DeadlockDetected()
        return merchant

    monkeypatch.setattr("loans.api.views.merchant_create", deadlocked_once)

    # When the request is made
    response = alpha.post("/api/v1/merchants", BODY, key="k-1")

    # Then it ran again, and one merchant and one stored answer exist
    assert response.status_code == 201
    assert len(calls) == 2
    assert Business.objects.count() == 1
    assert IdempotencyRecord.objects.get(key="k-1").response_status == 201


def test_a_signing_secret_is_never_cached_nor_kept_in_the_stored_answer(alpha):
    from loans.webhooks.models import WebhookEndpoint

    # When an endpoint is registered, and the request is retried with its key
    created = alpha.post("/api/v1/webhook-endpoints", {"url": "https://example.com/hooks"}, key="hook-1")
    replay = alpha.post("/api/v1/webhook-endpoints", {"url": "https://example.com/hooks"}, key="hook-1")

    # Then both answers carry the secret, uncacheable; the stored answer does not hold it
    endpoint = WebhookEndpoint.objects.get()
    assert created.status_code == replay.status_code == 201
    assert created.json()["secret"] == replay.json()["secret"] == endpoint.secret
    assert created["Cache-Control"] == replay["Cache-Control"] == "no-store"
    assert replay["Idempotent-Replayed"] == "true" and replay["Location"] == created["Location"]
    stored = IdempotencyRecord.objects.get(key="hook-1").response_body
    assert "secret" not in stored and stored["id"] == created.json()["id"]

    # And a rotation's replay gives the secret as it is now
    path = f"/api/v1/webhook-endpoints/{endpoint.public_id}/rotate-secret"
    rotated = alpha.post(path, key="rotate-1")
    again = alpha.post(path, key="rotate-1")
    endpoint.refresh_from_db()
    assert rotated.json()["secret"] == again.json()["secret"] == endpoint.secret != created.json()["secret"]
    assert rotated["Cache-Control"] == again["Cache-Control"] == "no-store"
    assert "secret" not in IdempotencyRecord.objects.get(key="rotate-1").response_body
