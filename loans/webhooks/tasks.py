"""Beat-run task of the webhooks: send due deliveries (also queued at once when an event is written).

Retries are rows with a `next_attempt_at`, not countdowns on the broker: a Redis broker redelivers a
message whose countdown outlives its visibility timeout, so a 3-day schedule there would run twice.
"""

from celery import shared_task

from loans.webhooks.services import webhook_deliveries_send as send


# A run may outlast the visibility timeout (its last requests wait up to their timeout, and a trickling
# answer longer): declared safe to run twice at once, as two senders at once send each delivery once
# (tests/loans/webhooks/test_services_concurrency.py::test_two_senders_at_once_send_each_delivery_once).
@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, safe_to_run_twice=True,
             time_limit=120, soft_time_limit=100)
def webhook_deliveries_send(limit: int = 200) -> int:
    return send(limit=limit)
