"""Beat-run task of the webhooks: send due deliveries (also queued at once when an event is written).

Retries are rows with a `next_attempt_at`, not countdowns on the broker: a Redis broker redelivers a
message whose countdown outlives its visibility timeout, so a 3-day schedule there would run twice.
"""

from celery import shared_task

from loans.webhooks.services import webhook_deliveries_send as send


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliveries_send(limit: int = 200) -> int:
    return send(limit=limit)
