"""The webhook sender against real loopback endpoints: a slow endpoint holds back only its own
deliveries, no endpoint gets more than WEBHOOK_ENDPOINT_CONCURRENCY requests at once, and two senders
at once send each delivery once. The sender runs on a thread of the test, on committed rows."""

import datetime as dt
import threading

import pytest
from django.db import connection

from config import clock
from loans.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent
from loans.webhooks.services import webhook_deliveries_send, webhook_endpoint_create
from tests.conftest import wait_for
from tests.factories import PartnerFactory

S = DeliveryStatus


def _due_delivery(endpoint, *, due_in: float) -> WebhookDelivery:
    """A pending delivery due `due_in` seconds from now, written directly: no worker is asked to send it."""
    at = clock.now() + dt.timedelta(seconds=due_in)
    event = WebhookEvent.objects.create(partner=endpoint.partner, event_type="application.decided",
                                        payload={"type": "application.decided", "data": {}}, created_at=at)
    return WebhookDelivery.objects.create(event=event, endpoint=endpoint, created_at=at, next_attempt_at=at)


class Sending:
    """webhook_deliveries_send on its own thread (and its own database connection)."""

    def __init__(self):
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            webhook_deliveries_send()
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def join(self):
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the sender did not finish"
        assert self.errors == []


@pytest.fixture
def start_sender(transactional_db, held_endpoint):
    """Starts a sender; at teardown, even of a failed test, the held endpoint answers and every sender
    finishes before the test's database is emptied."""
    started: list[Sending] = []

    def start() -> Sending:
        started.append(Sending())
        return started[-1]

    yield start
    held_endpoint.release.set()
    for sending in started:
        sending.thread.join(timeout=60)


def _status(delivery) -> str:
    return WebhookDelivery.objects.values_list("status", flat=True).get(pk=delivery.pk)


def test_a_fast_endpoints_delivery_is_sent_while_a_slow_endpoint_holds_its_request(
        start_sender, held_endpoint, fast_endpoint):
    # Given partner B's endpoint, which holds every request, with a delivery due before partner A's
    slow = webhook_endpoint_create(partner=PartnerFactory(slug="partner-b"), url=held_endpoint.url)
    fast = webhook_endpoint_create(partner=PartnerFactory(slug="partner-a"), url=fast_endpoint.url)
    held = _due_delivery(slow, due_in=-2)
    sent = _due_delivery(fast, due_in=-1)

    # When the sender runs
    sending = start_sender()

    # Then A's delivery is sent and recorded while B's request is still held
    wait_for(lambda: _status(sent) == S.SUCCEEDED, timeout=30)
    assert held_endpoint.received == [held.event.event_id]
    assert not WebhookAttempt.objects.filter(delivery=held).exists()
    assert len(fast_endpoint.received) == 1

    # and B's delivery is recorded once its endpoint answers
    held_endpoint.release.set()
    sending.join()
    assert _status(held) == S.SUCCEEDED


def test_no_endpoint_gets_more_requests_at_once_than_its_concurrency(
        start_sender, held_endpoint, fast_endpoint, settings):
    # Given six deliveries due at an endpoint that holds its requests, at most two in flight per endpoint,
    # and another endpoint's delivery falling due a moment later
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 2
    slow = webhook_endpoint_create(partner=PartnerFactory(slug="partner-b"), url=held_endpoint.url)
    held = [_due_delivery(slow, due_in=-6 + n) for n in range(6)]
    later = _due_delivery(webhook_endpoint_create(partner=PartnerFactory(slug="partner-a"), url=fast_endpoint.url),
                          due_in=1)

    # When the sender runs
    sending = start_sender()

    # Then two requests are held, and the sender's later claim (the one that found the other delivery)
    # took none of the four still due at the held endpoint
    wait_for(lambda: held_endpoint.held == 2, timeout=30)
    wait_for(lambda: _status(later) == S.SUCCEEDED, timeout=30)
    assert sorted(held_endpoint.received) == sorted(d.event.event_id for d in held[:2])

    # and once it answers, every delivery is sent once, never more than two at a time
    held_endpoint.release.set()
    sending.join()
    assert sorted(held_endpoint.received) == sorted(d.event.event_id for d in held)
    assert held_endpoint.most_held == 2
    assert {_status(d) for d in held} == {S.SUCCEEDED}


def test_two_senders_at_once_send_each_delivery_once(require_postgres, start_sender, held_endpoint):
    # Given four deliveries due at an endpoint that holds its requests
    endpoint = webhook_endpoint_create(partner=PartnerFactory(slug="partner-b"), url=held_endpoint.url)
    deliveries = [_due_delivery(endpoint, due_in=-4 + n) for n in range(4)]

    # When two senders run at once (SKIP LOCKED claims, then the lease)
    senders = [start_sender(), start_sender()]
    wait_for(lambda: len(held_endpoint.received) == 4, timeout=30)
    held_endpoint.release.set()
    for sending in senders:
        sending.join()

    # Then each delivery was sent once and recorded once
    assert sorted(held_endpoint.received) == sorted(d.event.event_id for d in deliveries)
    assert WebhookAttempt.objects.filter(delivery__in=deliveries).count() == 4
    assert {_status(d) for d in deliveries} == {S.SUCCEEDED}
