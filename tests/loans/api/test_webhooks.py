"""Webhooks: outbox events, Standard Webhooks signatures, the retry schedule on an injected clock, and
disabling. A real HTTP receiver on loopback stands in for the partner."""

import base64
import datetime as dt
import itertools
import json
import random
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from config import clock
from loans.applications.models import Application, Channel
from loans.applications.transitions import application_event_emit
from loans.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loans.webhooks.services import (
    RETRY_WINDOW,
    HttpResult,
    backoff_delay,
    webhook_deliveries_send,
    webhook_endpoint_create,
    webhook_sign,
    webhook_verify,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _application(merchant) -> Application:
    return Application.objects.create(
        partner=merchant.partner, business=merchant, channel=Channel.API, amount=Decimal("12000.00"),
        term_months=12, purpose="inventory", as_of=clock.now(),
    )


class Receiver:
    """A loopback HTTP endpoint that fails its first `failures` requests with `fail_status`."""

    def __init__(self, failures=0, fail_status=500):
        self.failures = failures
        self.fail_status = fail_status
        self.received: list[tuple[dict, bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = receiver.fail_status if len(receiver.received) < receiver.failures else 204
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# --- signatures --------------------------------------------------------------------------------------
def test_signatures_match_the_standard_webhooks_spec_example():
    # The example of the Standard Webhooks specification and its reference libraries.
    signature = webhook_sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330, body='{"test": 2432232314}',
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_delivered_message_passes_the_reference_verifier_and_a_flipped_byte_fails_it(alpha, alpha_merchant, receiver):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url=receiver.url)
    event = application_event_emit(event_type="application.decided", application=_application(alpha_merchant))

    assert webhook_deliveries_send() == 1

    headers, body, _ = receiver.received[0]
    verifier = Webhook(endpoint.secret)
    payload = verifier.verify(body, headers)
    assert headers["webhook-id"] == event.event_id
    assert payload["type"] == "application.decided"
    assert payload["data"]["application"]["amount"] == "12000.00"
    flipped = bytearray(body)
    flipped[10] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        verifier.verify(bytes(flipped), headers)
    webhook_verify(secret=endpoint.secret, headers=headers, body=body.decode())


def test_endpoint_secrets_are_standard_webhooks_secrets(alpha):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="https://example.com/h")

    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) == 32


# --- the outbox --------------------------------------------------------------------------------------
def test_an_event_gets_one_pending_delivery_per_enabled_endpoint_that_wants_it(alpha, beta, alpha_merchant):
    wants_all = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/all")
    wants_decided = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/d", event_types=["application.decided"])
    webhook_endpoint_create(partner=alpha.partner, url="https://a.example/l", event_types=["loan.disbursed"])
    disabled = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/off")
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(is_enabled=False)
    webhook_endpoint_create(partner=beta.partner, url="https://b.example/all")

    event = application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)

    deliveries = WebhookDelivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {wants_all.pk, wants_decided.pk}
    assert all(d.status == DeliveryStatus.PENDING and d.next_attempt_at == T0 for d in deliveries)
    assert event.partner == alpha.partner
    assert event.event_id.startswith("evt_")


def test_an_event_written_in_a_transaction_that_rolls_back_is_never_sent(alpha, alpha_merchant):
    from django.db import transaction

    webhook_endpoint_create(partner=alpha.partner, url="https://a.example/all")
    with pytest.raises(RuntimeError), transaction.atomic():
        application_event_emit(event_type="application.decided", application=_application(alpha_merchant))
        raise RuntimeError("the caller's change failed")

    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()


# --- retries on an injected clock -------------------------------------------------------------------
def _run_until_settled(delivery, start, max_steps=100):
    """Runs the sender at each scheduled time, as beat would, until the delivery settles."""
    now = start
    for _ in range(max_steps):
        webhook_deliveries_send(now=now, rng=random.Random(1))
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            return now
        now = delivery.next_attempt_at
    raise AssertionError("delivery never settled")


def test_a_receiver_failing_its_first_five_attempts_still_gets_the_event_once_signed_the_same(alpha, alpha_merchant):
    receiver = Receiver(failures=5)
    try:
        endpoint = webhook_endpoint_create(partner=alpha.partner, url=receiver.url)
        event = application_event_emit(event_type="offer.accepted", application=_application(alpha_merchant), now=T0)
        delivery = WebhookDelivery.objects.get(event=event)

        _run_until_settled(delivery, T0)
    finally:
        receiver.close()

    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 6
    assert [code for _, _, code in receiver.received] == [500] * 5 + [204]
    assert {h["webhook-id"] for h, _, _ in receiver.received} == {event.event_id}
    assert len({body for _, body, _ in receiver.received}) == 1
    reference = Webhook(endpoint.secret)
    for headers, body, _ in receiver.received:
        sent_at = dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.UTC)
        assert headers["webhook-signature"] == reference.sign(headers["webhook-id"], sent_at, body.decode())
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True))
    assert attempts == [500] * 5 + [204]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_enabled


def test_backoff_is_exponential_with_bounded_jitter():
    rng = random.Random(42)
    for attempt, base in [(1, 5), (2, 15), (3, 45), (4, 135), (5, 405), (9, 6 * 3600), (20, 6 * 3600)]:
        seconds = backoff_delay(attempt, rng).total_seconds()
        assert base * 0.8 <= seconds <= base * 1.2


def test_a_dead_endpoint_is_retried_for_three_days_then_disabled(alpha, alpha_merchant):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/dead")
    event = application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    delivery = WebhookDelivery.objects.get(event=event)
    calls = []

    def down(url, body, headers):
        calls.append(json.loads(body)["type"])
        return HttpResult(503, body="maintenance")

    now = T0
    for _ in range(100):
        webhook_deliveries_send(now=now, sender=down, rng=random.Random(7))
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            break
        now = delivery.next_attempt_at

    endpoint.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("attempted_at"))
    times = [a.attempted_at for a in attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    for n, gap in enumerate(gaps[:-1], start=1):  # 5 s x 3^(n-1), capped at 6 h, +-20 %
        base = min(5 * 3 ** (n - 1), 6 * 3600)
        assert 0.8 * base <= gap <= 1.2 * base
    assert gaps[-1] <= 1.2 * 6 * 3600
    assert times[-1] - T0 == RETRY_WINDOW  # the last attempt as the window closes
    assert 15 <= len(attempts) <= 25
    assert all(a.status_code == 503 and a.response_body == "maintenance" for a in attempts)
    assert not endpoint.is_enabled
    assert endpoint.disabled_reason == "every attempt failed for 3 days"


def test_a_410_disables_the_endpoint_at_once_and_closes_its_pending_deliveries(alpha, alpha_merchant):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/gone")
    first = application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    second = application_event_emit(event_type="application.decided", application=_application(alpha_merchant),
                                now=T0 + dt.timedelta(minutes=1))

    webhook_deliveries_send(now=T0, sender=lambda *a: HttpResult(410), limit=1)

    endpoint.refresh_from_db()
    assert not endpoint.is_enabled
    assert "410" in endpoint.disabled_reason
    statuses = set(WebhookDelivery.objects.filter(event__in=[first, second]).values_list("status", flat=True))
    assert statuses == {DeliveryStatus.FAILED}
    assert WebhookAttempt.objects.count() == 1
    assert application_event_emit(
        event_type="application.decided", application=_application(alpha_merchant)
    ).deliveries.count() == 0


def test_a_success_clears_the_failing_clock(alpha, alpha_merchant):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/flaky")
    application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    webhook_deliveries_send(now=T0, sender=lambda *a: HttpResult(None, error="ConnectionError"))
    endpoint.refresh_from_db()
    assert endpoint.failing_since == T0

    later = WebhookDelivery.objects.get().next_attempt_at
    webhook_deliveries_send(now=later, sender=lambda *a: HttpResult(200))

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_enabled


def test_a_delivery_leased_by_a_sender_that_died_is_sent_again(alpha, alpha_merchant):
    webhook_endpoint_create(partner=alpha.partner, url="https://a.example/x")
    application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    from loans.webhooks.services import CLAIM_LEASE, _claim_due

    assert len(_claim_due(now=T0, limit=10)) == 1  # claimed, then the process "dies"
    assert webhook_deliveries_send(now=T0 + dt.timedelta(seconds=5), sender=lambda *a: HttpResult(200)) == 0
    assert webhook_deliveries_send(now=T0 + CLAIM_LEASE, sender=lambda *a: HttpResult(200)) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED


# --- the API -----------------------------------------------------------------------------------------
def test_endpoints_are_registered_listed_rotated_and_deleted_by_their_partner_only(alpha, beta):
    created = alpha.post("/api/v1/webhook-endpoints", {"url": "https://a.example/h", "event_types": ["offer.accepted"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    path = f"/api/v1/webhook-endpoints/{body['id']}"

    listed = alpha.get("/api/v1/webhook-endpoints").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert beta.get("/api/v1/webhook-endpoints").json()["results"] == []
    assert beta.get(path).status_code == 404
    assert beta.post(f"{path}/rotate-secret").status_code == 404
    assert beta.delete(path).status_code == 404

    rotated = alpha.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != body["secret"]
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]

    assert alpha.delete(path).status_code == 204
    assert alpha.get(path).status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_url_must_be_http_and_event_types_known(alpha):
    response = alpha.post("/api/v1/webhook-endpoints", {"url": "ftp://x.example/h", "event_types": ["loan.eaten"]})

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"url", "event_types[0]"}
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_are_listed_with_their_status_for_their_partner_only(alpha, beta, alpha_merchant):
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="https://a.example/h")
    event = application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    webhook_deliveries_send(now=T0, sender=lambda *a: HttpResult(500))

    rows = alpha.get("/api/v1/webhook-deliveries", status="pending").json()["results"]

    assert len(rows) == 1
    assert rows[0]["endpoint"] == str(endpoint.public_id)
    assert rows[0]["event_id"] == event.event_id
    assert rows[0]["attempt_count"] == 1 and rows[0]["last_status_code"] == 500
    assert alpha.get("/api/v1/webhook-deliveries", status="succeeded").json()["results"] == []
    assert beta.get("/api/v1/webhook-deliveries").json()["results"] == []


def test_private_webhook_urls_are_refused_when_the_setting_says_so(alpha, alpha_merchant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    for url in ["http://127.0.0.1:6379/", "http://10.1.2.3/h", "http://[::1]/h", "http://169.254.169.254/latest"]:
        response = alpha.post("/api/v1/webhook-endpoints", {"url": url})
        assert response.status_code == 400, url
        assert response.json()["errors"][0]["field"] == "url"
    assert not WebhookEndpoint.objects.exists()

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = webhook_endpoint_create(partner=alpha.partner, url="http://127.0.0.1:9/h")
    application_event_emit(event_type="application.decided", application=_application(alpha_merchant), now=T0)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # e.g. DNS now points somewhere internal
    webhook_deliveries_send(now=T0)

    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert attempt.status_code is None and attempt.error.startswith("refused:")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8199\\@1.1.1.1/",   # urlsplit's host is 1.1.1.1, the HTTP client's 127.0.0.1
    "http://[64:ff9b::7f00:1]/h",          # NAT64 of loopback
    "http://[2002:7f00:1::]/h",            # 6to4 of loopback
    "http://[::ffff:169.254.169.254]/h",   # IPv4-mapped cloud metadata
    "http://0.0.0.0/h", "http://100.64.0.1/h", "http://[fd00::1]/h", "http://[fe80::1]/h",
    "http://127.1/h",
    "https://no-such-host.invalid/h",      # does not resolve: refused, like a private name
])
def test_a_url_leading_to_a_non_public_or_unknown_address_is_a_400_problem_on_url(alpha, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = alpha.post("/api/v1/webhook-endpoints", {"url": url})

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["url"]
    assert not WebhookEndpoint.objects.exists()


def test_private_and_unresolvable_names_get_the_same_answer(alpha, settings):
    # The platform's resolver must not tell a partner which internal names exist.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    unknown = alpha.post("/api/v1/webhook-endpoints", {"url": "https://no-such-host.invalid/h"}).json()
    private = alpha.post("/api/v1/webhook-endpoints", {"url": "http://localhost/h"}).json()

    assert unknown["errors"] == private["errors"]
    assert [(e["field"], e["message"]) for e in unknown["errors"]] == [
        ("url", "the host must resolve to public internet addresses only")]


def test_a_url_with_userinfo_is_refused_even_where_private_urls_are_allowed(alpha, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    response = alpha.post("/api/v1/webhook-endpoints", {"url": "http://hooks.example.com@127.0.0.1:9/h"})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["url"]


def test_the_rotation_answer_says_when_the_replaced_secret_stops_signing(alpha):
    import time_machine

    created = alpha.post("/api/v1/webhook-endpoints", {"url": "https://a.example/h"}).json()
    assert created["previous_secret_expires_at"] is None
    path = f"/api/v1/webhook-endpoints/{created['id']}"

    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC), tick=False):
        rotated = alpha.post(f"{path}/rotate-secret")

    assert rotated.status_code == 200
    assert rotated["Cache-Control"] == "no-store"
    assert rotated.json()["previous_secret_expires_at"] == "2026-11-21T10:00:00Z"
    assert alpha.get(path).json()["previous_secret_expires_at"] == "2026-11-21T10:00:00Z"
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.previous_secret) == (rotated.json()["secret"], created["secret"])
