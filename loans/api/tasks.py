"""Beat-run task of the partner API: purge idempotency records older than their TTL."""

from celery import shared_task

from loans.api.idempotency import idempotency_records_purge as purge


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def idempotency_records_purge() -> int:
    return purge()
