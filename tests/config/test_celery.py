"""The Celery settings that make a worker's death cost seconds, never a duplicate or an hour
(docs/reliability.md). The faults themselves are reproduced against real processes in
tests/loans/applications/test_faults.py; these pin the arithmetic that keeps them safe."""

from django.conf import settings

from config.celery import app


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
