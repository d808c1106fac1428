"""Beat-run tasks of the partner API: send due webhook deliveries, purge old idempotency records.

Retries are rows with a `next_attempt_at`, not countdowns on the broker: a Redis broker redelivers a
message whose countdown outlives its visibility timeout, so a 3-day schedule there would run twice.
"""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliveries_send(limit: int = 200) -> int:
    from .webhooks_services import webhook_deliveries_send as send

    return send(limit=limit)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def idempotency_records_purge() -> int:
    from .api.idempotency import idempotency_records_purge as purge

    return purge()
