"""The Celery settings that make a worker's death cost seconds, never a duplicate or an hour
(docs/reliability.md). The faults themselves are reproduced against real processes in
tests/loans/applications/test_faults.py; these pin the arithmetic that keeps them safe."""

import pytest
from django.conf import settings

from config.celery import _close_old_connections, app


def _platform_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.split(".")[0] in {"accounts", "underwriting", "loans"}}


def test_no_task_outlives_the_visibility_timeout_unless_it_is_safe_to_run_twice():
    # given the visibility timeout after which an unacknowledged message is delivered again
    timeout = settings.CELERY_VISIBILITY_TIMEOUT
    tasks = _platform_tasks()
    assert "loans.applications.tasks.decide_application" in tasks

    # then every task is stopped before then, or declares it may run twice at once
    for name, task in tasks.items():
        limit = task.time_limit or app.conf.task_time_limit
        assert limit is not None, name
        if getattr(task, "safe_to_run_twice", False):
            continue
        assert limit < timeout, f"{name} may run {limit} s, past the {timeout} s visibility timeout"
    assert {name for name, task in tasks.items() if getattr(task, "safe_to_run_twice", False)} == {
        "underwriting.history.tasks.rebuild_business_rollups",
        "loans.webhooks.tasks.webhook_deliveries_send",
    }


def test_a_retry_waits_less_than_the_visibility_timeout():
    # a retry's countdown is held by the worker unacknowledged: longer, and it would be delivered twice
    for name, task in _platform_tasks().items():
        if getattr(task, "autoretry_for", None):
            assert task.retry_backoff_max < settings.CELERY_VISIBILITY_TIMEOUT, name


def test_the_broker_is_waited_for_not_given_up_on():
    conf = app.conf
    assert conf.broker_connection_max_retries is None
    assert conf.broker_connection_retry_on_startup is True
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert settings.CELERY_VISIBILITY_TIMEOUT == 30
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert conf.broker_transport_options["visibility_timeout"] == 30


class _Request:
    is_eager = False


class _Task:
    request = _Request()


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks():
    # given a worker process's connection, opened by a task, and Celery's own Django fixup as a worker runs it
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    fixup = DjangoWorkerFixup(app)
    connection.close()  # a fresh one: an earlier test may have left this thread's connection broken
    connection.ensure_connection()
    backend = connection.connection

    # when tasks start and end, with both Celery's handlers and ours
    for _ in range(3):
        fixup.on_task_prerun(sender=_Task())
        _close_old_connections(sender=_Task())
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        fixup.on_task_postrun(sender=_Task())
        _close_old_connections(sender=_Task())

    # then the same connection serves them all: no new PostgreSQL backend per task
    assert connection.connection is backend


@pytest.mark.django_db(transaction=True)
def test_a_worker_drops_a_connection_past_its_age_as_a_request_does():
    # given a kept connection past CONN_MAX_AGE
    from django.db import connection

    connection.ensure_connection()
    connection.close_at = 0.0

    # when a task ends
    _close_old_connections(sender=_Task())

    # then it is closed, and the next query opens a new one
    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not None
