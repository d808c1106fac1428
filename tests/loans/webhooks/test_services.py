"""Webhook delivery against hostile URLs (SSRF) and the secret rotation overlap, with real listeners on
loopback: a delivery the rules refuse must never reach them, and what is recorded of it must not tell an
open port from a closed one."""

import datetime as dt
import random

import pytest
from standardwebhooks.webhooks import Webhook

from config import clock
from loans.webhooks import services
from loans.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from loans.webhooks.services import (
    SECRET_ROTATION_OVERLAP,
    WebhookUrlRefused,
    WebhookVerificationError,
    backoff_delay,
    http_post,
    webhook_deliveries_send,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_event_emit,
    webhook_url_check,
    webhook_verify,
)
from tests.factories import PartnerFactory
from tests.loans.webhooks.listeners import Hangup, closed_port, connects, listening, resolver_answering

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _stored_endpoint(url: str) -> WebhookEndpoint:
    # Written as is, past the registration check: a URL stored before these rules, or one whose DNS
    # answer changed since.
    return WebhookEndpoint.objects.create(partner=PartnerFactory(), url=url)


def _deliver_once(endpoint: WebhookEndpoint, now: dt.datetime = T0) -> WebhookAttempt:
    webhook_event_emit(event_type="application.decided", partner_id=endpoint.partner_id,
                       data={"application": {"id": "app_1"}}, now=now)
    webhook_deliveries_send(now=now, rng=random.Random(1))
    return WebhookAttempt.objects.filter(delivery__endpoint=endpoint).latest("id")


# --- review finding 1: one reading of the URL ---------------------------------------------------------
def test_a_backslash_url_is_refused_and_its_delivery_never_reaches_the_loopback_listener(settings):
    # Given private URLs disallowed and a listener on loopback; urlsplit reads this URL's host as
    # 1.1.1.1, the HTTP client as 127.0.0.1
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with listening() as listener:
        url = f"http://127.0.0.1:{listener.port}\\@1.1.1.1/"

        # When a stored copy of it is delivered
        endpoint = _stored_endpoint(url)
        attempt = _deliver_once(endpoint)

    # Then nothing reached the listener, the attempt is a refusal, and so is a registration of it
    assert listener.received == []
    assert (attempt.status_code, attempt.error, attempt.response_body) == (
        None, "refused: backslashes are not allowed in the URL", "")
    assert WebhookDelivery.objects.get(endpoint=endpoint).last_status_code is None
    with pytest.raises(WebhookUrlRefused, match="backslashes"):
        webhook_url_check(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8199\\@1.1.1.1/",
    "http://user:pw@hooks.example.com/h",
    "http://hooks.example.com@127.0.0.1/h",
    "http://hooks.example.com\\.evil.example/",
    "http://hooks.example.com\t/h",
])
def test_userinfo_and_backslash_urls_are_refused_even_where_private_urls_are_allowed(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url)


# --- review finding 3: DNS rebinding --------------------------------------------------------------
def test_a_name_that_rebinds_to_loopback_after_the_check_is_still_sent_to_the_checked_address(
        settings, monkeypatch):
    # Given a name whose first answer is public and every later one loopback, where a listener waits
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr(services, "REQUEST_TIMEOUT_SECONDS", 1.0)  # 1.1.1.1 may be unreachable here
    calls = resolver_answering(monkeypatch, "hooks.partner.test", ["1.1.1.1"], ["127.0.0.1"])
    with listening() as listener:
        endpoint = _stored_endpoint(f"http://hooks.partner.test:{listener.port}/h")

        # When its delivery is sent
        with connects() as connected:
            attempt = _deliver_once(endpoint)

    # Then the name was resolved once, the only connection went to the address checked, and nothing
    # reached loopback
    assert calls == ["hooks.partner.test"]
    assert [c for c in connected if c[1] == listener.port] == [("1.1.1.1", listener.port)]
    assert listener.received == []
    assert attempt.status_code is None


def test_a_delivery_goes_to_the_first_answer_with_the_hostname_in_its_host_header(settings, monkeypatch):
    # Given private URLs allowed and a name answering 127.0.0.1, then 127.0.0.2 (both loopback, a
    # listener on each, same port)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    resolver_answering(monkeypatch, "hooks.partner.test", ["127.0.0.1"], ["127.0.0.2"])
    with listening() as first, listening(host="127.0.0.2", port=first.port) as second:
        # When a message is posted to the name
        result = http_post(f"http://hooks.partner.test:{first.port}/h?x=1", b"{}", {"content-type": "application/json"})

    # Then the first answer got it, addressed to the name
    assert result.status_code == 204
    assert second.received == []
    [(line, headers, body)] = first.received
    assert line == "POST /h?x=1 HTTP/1.1"
    assert headers["host"] == f"hooks.partner.test:{first.port}"
    assert body == b"{}"


# --- review finding 4: a name that does not resolve ---------------------------------------------------
def test_a_name_that_no_longer_resolves_is_a_failed_attempt_retried_by_the_backoff(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    endpoint = _stored_endpoint("https://no-such-host.invalid/h")

    attempt = _deliver_once(endpoint)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (attempt.status_code, attempt.error) == (None, "the host name did not resolve")
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at == T0 + backoff_delay(1, random.Random(1))


# --- review finding 5: proxies and redirects ----------------------------------------------------------
def test_proxy_variables_of_the_environment_do_not_redirect_a_delivery(settings, monkeypatch):
    # Given every proxy variable pointing at a real listener, and no exception for any host
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with listening(status=502) as proxy, listening() as receiver:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
            monkeypatch.setenv(name.lower(), f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)

        # When a message is posted
        result = http_post(f"http://127.0.0.1:{receiver.port}/h", b"{}", {})

    # Then it went straight to the receiver
    assert result.status_code == 204
    assert proxy.received == []
    assert len(receiver.received) == 1


def test_a_redirect_is_a_failed_attempt_and_is_never_followed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with listening() as elsewhere, listening(
            status=307, headers={"Location": f"http://127.0.0.1:{elsewhere.port}/x"}) as receiver:
        endpoint = _stored_endpoint(f"http://127.0.0.1:{receiver.port}/h")

        attempt = _deliver_once(endpoint)

    assert attempt.status_code == 307
    assert len(receiver.received) == 1 and elsewhere.received == []
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == DeliveryStatus.PENDING


# --- review finding 6: no port-scan oracle --------------------------------------------------------
def _recorded(endpoint: WebhookEndpoint) -> tuple:
    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    return attempt.status_code, attempt.error, attempt.response_body, delivery.last_status_code


def test_a_refused_target_records_the_same_whether_its_port_is_open_or_closed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with listening() as open_port:
        shapes = ["http://127.0.0.1:{port}\\@1.1.1.1/", "http://127.0.0.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/"]
        pairs = [(_stored_endpoint(shape.format(port=open_port.port)),
                  _stored_endpoint(shape.format(port=closed_port()))) for shape in shapes]
        for endpoint in WebhookEndpoint.objects.all():
            _deliver_once(endpoint)

    assert open_port.received == []
    for open_one, closed_one in pairs:
        assert _recorded(open_one) == _recorded(closed_one)
        assert _recorded(open_one)[0] is None and _recorded(open_one)[3] is None
    assert _recorded(pairs[1][0])[1] == "refused: not a public address"  # no address, no port


def test_connection_errors_are_recorded_in_the_same_few_words_whatever_the_socket_said(settings):
    # Given private URLs allowed (loopback stands for a public host): a closed port, and an open one
    # that hangs up without answering
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    hangup = Hangup()
    try:
        closed = _stored_endpoint(f"http://127.0.0.1:{closed_port()}/h")
        silent = _stored_endpoint(f"http://127.0.0.1:{hangup.port}/h")

        _deliver_once(closed)
        _deliver_once(silent)
    finally:
        hangup.close()

    assert hangup.accepted == 1
    assert _recorded(closed) == _recorded(silent) == (None, "connection failed", "", None)


# --- review finding 7: secret rotation overlap --------------------------------------------------------
def test_during_the_overlap_old_and_new_secrets_both_verify_and_after_it_only_the_new_one(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    now = clock.now()
    rotated_at = now - dt.timedelta(hours=1)
    with listening() as receiver:
        endpoint = webhook_endpoint_create(partner=PartnerFactory(), url=f"http://127.0.0.1:{receiver.port}/h")
        old_secret = endpoint.secret

        # When the secret is rotated an hour ago, then a message is delivered now and one as the overlap ends
        endpoint = webhook_endpoint_rotate_secret(endpoint=endpoint, now=rotated_at)
        _deliver_once(endpoint, now=now)
        _deliver_once(endpoint, now=rotated_at + SECRET_ROTATION_OVERLAP)

    new_secret = endpoint.secret
    assert new_secret != old_secret
    assert endpoint.previous_secret_expires_at == rotated_at + SECRET_ROTATION_OVERLAP
    (_, during, during_body), (_, after, after_body) = receiver.received
    # During the overlap: two signatures, the new secret's first; a receiver holding either verifies
    assert [s[:3] for s in during["webhook-signature"].split(" ")] == ["v1,", "v1,"]
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(during_body, during)  # the reference verifier, on the clock's time
        webhook_verify(secret=secret, headers=during, body=during_body.decode(), now=now)
    webhook_verify(secret=new_secret, headers={**during, "webhook-signature": during["webhook-signature"].split(" ")[0]},
                   body=during_body.decode(), now=now)
    # After it: the new secret only
    later = rotated_at + SECRET_ROTATION_OVERLAP
    assert " " not in after["webhook-signature"]
    webhook_verify(secret=new_secret, headers=after, body=after_body.decode(), now=later)
    with pytest.raises(WebhookVerificationError):
        webhook_verify(secret=old_secret, headers=after, body=after_body.decode(), now=later)


def test_a_second_rotation_within_the_overlap_ends_the_first_secrets_overlap(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    now = clock.now()
    with listening() as receiver:
        endpoint = webhook_endpoint_create(partner=PartnerFactory(), url=f"http://127.0.0.1:{receiver.port}/h")
        first = endpoint.secret
        second = webhook_endpoint_rotate_secret(endpoint=endpoint, now=now - dt.timedelta(hours=2)).secret
        third = webhook_endpoint_rotate_secret(endpoint=endpoint, now=now - dt.timedelta(hours=1)).secret

        _deliver_once(endpoint, now=now)

    [(_, headers, body)] = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (third, second):
        webhook_verify(secret=secret, headers=headers, body=body.decode(), now=now)
    with pytest.raises(WebhookVerificationError):
        webhook_verify(secret=first, headers=headers, body=body.decode(), now=now)


def test_when_the_first_address_refuses_the_connection_the_next_checked_one_gets_the_message(settings, monkeypatch):
    # Given a name with a dead address first (a closed loopback port on 127.0.0.2) and a listener second
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with listening() as listener:
        calls = resolver_answering(monkeypatch, "hooks.partner.test", ["127.0.0.2", "127.0.0.1"], ["127.0.0.3"])

        result = http_post(f"http://hooks.partner.test:{listener.port}/h", b"{}", {})

    # Then the second answer of the one resolution got it
    assert result.status_code == 204
    assert calls == ["hooks.partner.test"] and len(listener.received) == 1
