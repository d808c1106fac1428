"""Celery tasks of the underwriting engine: thin wrappers over one service each, safe to run twice."""

from datetime import timedelta

from celery import shared_task

from config import clock
from underwriting.history.models import ImportRun, ImportStatus
from underwriting.history.services import business_rollups_rebuild


@shared_task(acks_late=True, reject_on_worker_lost=True)
def rebuild_business_rollups(business_id: int) -> int:
    # Imported lazily: the ingest package pulls in psycopg's COPY machinery, which beat never needs.

    return business_rollups_rebuild(business_id=business_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_stale_import_runs(max_age_hours: int = 24) -> int:
    """An import whose process died stays 'running' forever; mark it failed so the audit trail is honest."""
    cutoff = clock.now() - timedelta(hours=max_age_hours)
    return ImportRun.objects.filter(status=ImportStatus.RUNNING, started_at__lt=cutoff).update(
        status=ImportStatus.FAILED, finished_at=clock.now()
    )
