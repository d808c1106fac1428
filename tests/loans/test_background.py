"""Services queue background work by task name (loans/background.py); the names must be real tasks."""

from django.conf import settings

from config.celery import app
from loans import background


def _registered() -> set[str]:
    app.loader.import_default_modules()  # what a worker imports at start: autodiscovery and CELERY_IMPORTS
    return set(app.tasks)


def test_every_task_a_service_queues_by_name_is_registered():
    names = {value for key, value in vars(background).items() if key.isupper()}

    assert names == {"loans.applications.tasks.decide_application", "loans.applications.tasks.decide_waiting_applications",
                     "loans.webhooks.tasks.webhook_deliveries_send"}
    assert names <= _registered()


def test_every_task_beat_schedules_is_registered():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled <= _registered(), scheduled - _registered()
