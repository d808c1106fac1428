"""Queues the background work a service asks for, by task name.

A service decides *that* something runs on a worker; the tasks modules, thin wrappers that import the
services, say *how*. Sending by name keeps that arrow one way (tasks -> services, never back), and
tests/loans/test_background.py checks that every name here is a registered task.
"""

import logging

from celery import current_app

logger = logging.getLogger(__name__)

DECIDE_APPLICATION = "loans.applications.tasks.decide_application"
DECIDE_WAITING = "loans.applications.tasks.decide_waiting_applications"
SEND_WEBHOOK_DELIVERIES = "loans.webhooks.tasks.webhook_deliveries_send"


def task_queue(task_name: str, *args, countdown: float | None = None) -> None:
    """Sends the task now (to run at once, or `countdown` seconds from now): callers run it from
    `transaction.on_commit`, so a worker never sees rows that are not committed yet."""
    current_app.send_task(task_name, args=args, countdown=countdown)


def task_queue_or_log(task_name: str, *args, countdown: float | None = None) -> None:
    """task_queue for work a sweeper also finds: with the broker down, the failure is logged instead of
    raised (what asked for it has committed; failing it now would help no one)."""
    try:
        task_queue(task_name, *args, countdown=countdown)
    except Exception:
        logger.exception("could not queue %s%s; the sweeper will find the work", task_name, args or "")
