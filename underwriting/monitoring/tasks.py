"""Celery tasks of monitoring: thin wrappers over one service each, safe to run twice."""

from celery import shared_task

from underwriting.monitoring.services import summaries_catch_up


@shared_task(acks_late=True, reject_on_worker_lost=True)
def catch_up_decision_summaries() -> int:
    """The risk dashboard's daily summaries: adds the decisions made since the last run."""
    return summaries_catch_up()
