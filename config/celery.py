import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("lending310")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **_kwargs) -> None:
    """Around each task, what Django does around each request: close a connection past CONN_MAX_AGE or
    left unusable by an error, and check a kept one's health before its next use. Celery's own rule
    (close every connection, every task) is off (settings.CELERY_DB_REUSE_MAX): reconnecting cost each
    decision more database CPU than the decision's queries."""
    from django.db import close_old_connections

    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run in the caller's process, inside its transaction (a test's): not ours to close
    close_old_connections()
