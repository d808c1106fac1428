"""Celery tasks of the merchant history: thin wrappers over one service each, safe to run twice."""

from celery import shared_task

from underwriting.history.services import business_rollups_rebuild, import_runs_expire_stale


# A large merchant's rebuild may outlast the broker's visibility timeout and be delivered again while
# it runs: the service holds a lock for the business until its one transaction commits, so the second
# run waits and then writes the same rows (tests/underwriting/history/test_services.py).
@shared_task(acks_late=True, reject_on_worker_lost=True, safe_to_run_twice=True, time_limit=1800,
             soft_time_limit=1740)
def rebuild_business_rollups(business_id: int) -> int:
    return business_rollups_rebuild(business_id=business_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_stale_import_runs(max_age_hours: int = 24) -> int:
    return import_runs_expire_stale(max_age_hours=max_age_hours)
