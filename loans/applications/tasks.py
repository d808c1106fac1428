"""Celery tasks of the apply flow: thin wrappers over one service each, safe to run twice.

A submission queues `decide_waiting_applications` on commit (unless a worker is already at it), which
decides what is waiting in batches (docs/adr/0009-decisions-in-batches.md); anything a batch cannot
decide goes to `decide_application`, one task per application, whose guarantees follow. acks_late
and reject_on_worker_lost mean a worker killed mid-decision leaves the message to be redelivered;
the unique decision per application (Decision.application_ref, Application.decision) means the
redelivery finds the first decision instead of making a second. If no model is active or the engine
fails, the service leaves the application in `deciding` and raises DecisionDeferred: the task
retries with exponential backoff, and the sweeper below re-queues anything still waiting after
retries run out. A database that is down or restarting fails the task before the service can defer
(OperationalError, InterfaceError): those are retried the same way, within seconds, instead of
waiting a minute for the sweeper. Every countdown stays under the broker's visibility timeout
(settings.CELERY_RETRY_BACKOFF_MAX), so a waiting retry is never delivered a second time.
"""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from loans.applications.batches import applications_decide_waiting, applications_hand_out_waiting
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
    autoretry_for=(DecisionDeferred, OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=settings.CELERY_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=16,
)
def decide_application(application_id: int) -> str:
    return application_decide(application_id=application_id).status


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=settings.CELERY_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=16,
)
def decide_waiting_applications(self) -> int:
    """What a submission queues: decide what is waiting, in batches (docs/capacity.md). A message that
    comes back because its worker died running it hands each waiting application its own task instead,
    so an application that kills a worker is retried alone and cannot take a batch down again."""
    if self.request.delivery_info.get("redelivered"):
        return applications_hand_out_waiting()
    return applications_decide_waiting()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def requeue_stuck_applications() -> int:
    return applications_requeue_stuck(older_than_seconds=settings.APPLICATION_STUCK_SECONDS)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def expire_offers() -> int:
    return offers_expire()
