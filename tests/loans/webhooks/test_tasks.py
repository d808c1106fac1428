"""Webhook deliveries on their own queue and worker, through a real Redis broker and real Celery
worker processes (tests/conftest.py `celery_workers`, as docs/deploy.md runs them): one partner's
slow endpoint never makes another partner's decision wait."""

import pytest
import redis
from django.conf import settings

from accounts.services import api_key_create
from loans.webhooks.models import WebhookAttempt
from loans.webhooks.services import webhook_endpoint_create, webhook_event_emit
from tests.conftest import wait_for
from tests.factories import PartnerFactory
from tests.loans.api.conftest import Caller

pytestmark = [pytest.mark.services]


def _broker_idle() -> bool:
    """No message waiting on either queue and none taken but unfinished (acks_late: a task's message
    stays unacknowledged until it returns)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return not (broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE) or broker.llen(settings.WEBHOOKS_QUEUE)
                or broker.hlen("unacked"))


def test_a_partners_decision_is_not_queued_behind_another_partners_held_webhook(
        committed_world, celery_workers, held_endpoint):
    # Given partner B's webhook request held open by B's endpoint (sent by the workers, on commit)
    partner_b = PartnerFactory(slug="partner-b")
    webhook_endpoint_create(partner=partner_b, url=held_endpoint.url)
    event = webhook_event_emit(event_type="application.decided", partner_id=partner_b.pk, data={"note": "B's"})
    wait_for(lambda: held_endpoint.received == [event.event_id], timeout=30)

    try:
        # When partner A submits an application and waits for its decision
        partner_a = committed_world[0].partner
        created = api_key_create(partner=partner_a, name="partner A", scopes=["write"])
        caller = Caller(partner_a, created.raw_key, created.api_key)
        response = caller.post("/api/v1/applications", {"merchant_id": committed_world[1].external_id,
                                                        "amount": "3000.00", "term_months": 6, "purpose": "inventory"},
                               QUERY_STRING="wait=10")

        # Then the answer carries A's decision while B's request is still held, its attempt not recorded
        assert response.status_code == 201, response.content
        assert response.json()["status"] in {"approved", "counter_offered", "declined"}
        assert held_endpoint.held == 1
        assert not WebhookAttempt.objects.filter(delivery__event=event).exists()
    finally:
        # (B's endpoint answers; nothing is left running when the test's database is emptied)
        held_endpoint.release.set()
        wait_for(lambda: WebhookAttempt.objects.filter(delivery__event=event).exists(), timeout=30)
        wait_for(_broker_idle, timeout=60)
