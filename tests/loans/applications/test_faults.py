"""The decision worker under faults, reproduced for real (docs/reliability.md): a worker killed mid-decision,
a database that refuses connections, a Redis restarted under the worker. Each test runs its own
throwaway `redis-server` and worker processes; the shared services are never stopped.
Select them with `pytest -m faults`."""

import threading

import pytest
from celery import Celery
from django.db import connection, transaction

from accounts.models import Business
from loans import background
from loans.applications import services
from loans.applications.models import Application, ApplicationStatus
from loans.background import DECIDE_WAITING
from tests.conftest import wait_for
from tests.loans.conftest import approvable_in
from tests.processes import Worker, throwaway_redis
from underwriting.decisions.models import Decision

pytestmark = [pytest.mark.services, pytest.mark.faults]
S = ApplicationStatus
PENDING = (S.SUBMITTED, S.DECIDING)


@pytest.fixture
def broker(tmp_path):
    with throwaway_redis(tmp_path) as server:
        yield server


@pytest.fixture
def workers(tmp_path, clock_pin, broker):
    started: list[Worker] = []

    def start(**env) -> Worker:
        worker = Worker(broker_url=broker.url, log_path=tmp_path / f"worker-{len(started)}.log", clock_pin=clock_pin,
                        env={k: str(v) for k, v in env.items()})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _submit(business, amount, monkeypatch) -> tuple[Application, list]:
    """Submits as the owner does; the message the submission sends on commit (decide what is waiting) is
    captured, to be sent to this test's own broker (the suite's broker may have the shared test worker
    on it, and its draining flag with it: read here as down)."""
    sent: list = []
    monkeypatch.setattr(background, "task_queue", lambda name, *args, countdown=None: sent.append((name, args)))
    monkeypatch.setattr(services, "drainer_nudge", lambda: False)
    with transaction.atomic():
        application = services.application_submit(
            business=business, amount=amount, term_months=12, purpose="inventory", channel="web",
            actor="owner:test@example.com",
        )
    assert sent == [(DECIDE_WAITING, ())]
    return application, sent


def _send(broker_url: str, sent: list) -> None:
    # (An app made with broker=... would still use the CELERY_BROKER_URL of the environment.)
    producer = Celery(set_as_current=False)  # the suite's app (routes, serializer) stays current
    with producer.connection_for_write(broker_url) as conn:
        for name, args in sent:
            producer.send_task(name, args=list(args), connection=conn)


def _status(pk: int) -> str:
    return Application.objects.values_list("status", flat=True).get(pk=pk)


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction's statistics views are a snapshot
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0]


def test_a_decision_whose_worker_was_killed_is_made_by_another_within_seconds(
        committed_world, broker, workers, monkeypatch):
    # given a worker that has taken the message and is inside the decision: it has claimed the
    # application and waits on its business's row lock (for the exposure), which this test holds
    business, amount = approvable_in(committed_world)
    application, sent = _submit(business, amount, monkeypatch)
    first = workers()
    with transaction.atomic():
        Business.objects.select_for_update().get(pk=business.pk)
        _send(broker.url, sent)
        wait_for(lambda: _lock_waiters() >= 1, timeout=30)

        # when that worker's host is lost (SIGKILL to the whole worker: nothing acknowledged, nothing restored)
        first.kill()
    assert _status(application.pk) in PENDING

    # then another worker makes the decision once the message's visibility timeout (30 s) has passed:
    # seconds, not Redis's default hour (no sweeper runs here: the message itself came back, and as it
    # came back from a dead worker, the application is decided by a task of its own)
    workers()
    wait_for(lambda: _status(application.pk) not in PENDING, timeout=60, interval=0.5)
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1


def test_a_database_refusing_connections_delays_a_decision_by_seconds_not_the_sweeper(
        committed_world, broker, workers, monkeypatch):
    # given a running worker, and then the database refusing every new connection and dropping the
    # worker's (as during a PostgreSQL restart or failover)
    business, amount = approvable_in(committed_world)
    application, sent = _submit(business, amount, monkeypatch)
    workers(APPLICATION_STUCK_SECONDS=3600)
    name = connection.settings_dict["NAME"]
    _allow_connections(name, False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        # when the decision is queued while the database is away, and it comes back 3 s later
        _send(broker.url, sent)
        reopen = threading.Timer(3.0, _allow_connections, args=[name, True])
        reopen.start()
        reopen.join()
    finally:
        _allow_connections(name, True)

    # then the task's own retries decide it, long before the sweeper's minute
    wait_for(lambda: _status(application.pk) not in PENDING, timeout=40, interval=0.5)
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1


def _allow_connections(name: str, allow: bool) -> None:
    """From the server's maintenance database: PostgreSQL will not close the database one is in."""
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')


def test_the_worker_rides_through_redis_restarts(committed_world, broker, workers, monkeypatch):
    # given a worker on a Redis that is restarted four times under it
    business, amount = approvable_in(committed_world)
    worker = workers()
    for _ in range(4):
        broker.restart(down_seconds=2.0)

    # then the same worker process is still there and still decides
    application, sent = _submit(business, amount, monkeypatch)
    _send(broker.url, sent)
    wait_for(lambda: _status(application.pk) not in PENDING, timeout=60, interval=0.5)
    assert worker.alive()
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1
