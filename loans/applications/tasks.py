"""Celery tasks of the apply flow: thin wrappers over one service each, safe to run twice.

The decision task is queued on commit of the submission (services.application_submit). acks_late
and reject_on_worker_lost mean a worker killed mid-decision leaves the message to be redelivered;
the unique decision per application (Decision.application_ref, Application.decision) means the
redelivery finds the first decision instead of making a second. If no model is active or the engine
fails, the service leaves the application in `deciding` and raises DecisionDeferred: the task
retries with exponential backoff (capped well below the Redis visibility timeout), and the sweeper
below re-queues anything still waiting after retries run out.
"""

from celery import shared_task
from django.conf import settings

from loans.applications.services import (
    DecisionDeferred,
    application_decide,
    applications_requeue_stuck,
    offers_expire,
)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(DecisionDeferred,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def decide_application(application_id: int) -> str:
    return application_decide(application_id=application_id).status


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def requeue_stuck_applications() -> int:
    return applications_requeue_stuck(older_than_seconds=settings.APPLICATION_STUCK_SECONDS)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def expire_offers() -> int:
    return offers_expire()
