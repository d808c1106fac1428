"""The platform's own tasks run on a real worker: sent through a broker, their effect read back from
the database. Uses the Redis broker (production) and the filesystem broker (the laptop default)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from tests.conftest import ROOT, wait_for
from tests.factories import BusinessFactory
from underwriting.history.models import (
    DailyRollup,
    Direction,
    ImportRun,
    ImportStatus,
    Transaction,
    TransactionKind,
)
from underwriting.history.tasks import expire_stale_import_runs, rebuild_business_rollups

UTC = dt.UTC


def _history(business):
    Transaction.objects.bulk_create(
        [
            Transaction(
                business=business,
                transaction_id="t1",
                occurred_at=dt.datetime(2025, 3, 1, 9, tzinfo=UTC),
                amount_minor=12_050,
                direction=Direction.IN,
                kind=TransactionKind.SALE,
            ),
            Transaction(
                business=business,
                transaction_id="t2",
                occurred_at=dt.datetime(2025, 3, 1, 23, 59, tzinfo=UTC),
                amount_minor=7_000,
                direction=Direction.IN,
                kind=TransactionKind.SALE,
            ),
            Transaction(
                business=business,
                transaction_id="t3",
                occurred_at=dt.datetime(2025, 3, 2, 0, 0, tzinfo=UTC),
                amount_minor=3_000,
                direction=Direction.OUT,
                kind=TransactionKind.RENT,
            ),
        ]
    )


def _rollups(business):
    return sorted(
        DailyRollup.objects.filter(business=business).values_list(
            "day", "direction", "kind", "count", "total_minor", "max_minor"
        )
    )


EXPECTED = [
    (dt.date(2025, 3, 1), Direction.IN, TransactionKind.SALE, 2, 19_050, 12_050),
    (dt.date(2025, 3, 2), Direction.OUT, TransactionKind.RENT, 1, 3_000, 3_000),
]


@pytest.mark.services
def test_rollup_rebuild_runs_on_a_real_worker_through_redis(transactional_db, celery_worker_process):
    # given a merchant whose transactions were written without rollups
    business = BusinessFactory()
    _history(business)
    assert _rollups(business) == []

    # when the platform task goes through the broker to the worker process
    rebuild_business_rollups.delay(business.pk)

    # then the worker has written the rollups
    assert wait_for(lambda: _rollups(business) == EXPECTED, timeout=30)


@pytest.mark.services
def test_a_task_queued_on_commit_is_not_sent_when_the_transaction_rolls_back(
    transactional_db, celery_worker_process
):
    from django.db import transaction

    business = BusinessFactory()
    _history(business)

    with pytest.raises(RuntimeError), transaction.atomic():
        rebuild_business_rollups.delay_on_commit(business.pk)
        raise RuntimeError("the caller's transaction fails")
    rebuild_business_rollups.delay_on_commit(business.pk)  # outside atomic: sent at once

    assert wait_for(lambda: _rollups(business) == EXPECTED, timeout=30)


def test_rollup_rebuild_is_safe_to_run_twice(db):
    business = BusinessFactory()
    _history(business)

    rebuild_business_rollups(business.pk)
    rebuild_business_rollups(business.pk)

    assert _rollups(business) == EXPECTED


@pytest.mark.services
def test_two_rebuilds_of_one_merchant_at_once_write_the_rollups_once(transactional_db):
    """The task runs past the broker's visibility timeout may be delivered twice and run at once
    (it is declared safe_to_run_twice): both runs must end with the same rollups, no error."""
    import threading

    from django.db import connections, transaction

    from underwriting.history.ingest.pipeline import LOCK_NAMESPACE

    # given a merchant, and the partner's import lock held (as by a running import)
    business = BusinessFactory()
    _history(business)
    errors, done = [], []

    def run():
        try:
            done.append(rebuild_business_rollups(business.pk))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, business.partner_id])
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        # both runs are queued behind the lock before it is released
        wait_for(lambda: _waiting_on_locks() >= 2, timeout=10)

    # when the lock is released, both runs go
    for thread in threads:
        thread.join(timeout=30)

    # then both finished and the rollups are written once
    assert errors == []
    assert done == [2, 2]
    assert _rollups(business) == EXPECTED


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction the statistics views are a snapshot: take a new one each time.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0]


def test_stale_import_runs_are_marked_failed(db):
    from tests.factories import PartnerFactory

    partner = PartnerFactory()
    stale = ImportRun.objects.create(partner=partner)
    fresh = ImportRun.objects.create(partner=partner)
    ImportRun.objects.filter(pk=stale.pk).update(started_at=dt.datetime(2020, 1, 1, tzinfo=UTC))

    assert expire_stale_import_runs() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (ImportStatus.FAILED, ImportStatus.RUNNING)


@pytest.mark.services
def test_embedded_filesystem_broker_runs_a_real_worker(transactional_db, require_postgres, tmp_path):
    """The laptop default: no broker server, a real worker process still picks the task up."""
    business = BusinessFactory()
    _history(business)
    var = Path(tmp_path)
    db = connection.settings_dict
    env = {
        **os.environ,
        "VAR_DIR": str(var),
        "CELERY_BROKER_URL": "filesystem://",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    for folder in ("queue", "processed", "control"):
        (var / "broker" / folder).mkdir(parents=True, exist_ok=True)
    log = var / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--without-mingle",
                "--without-gossip",
                "-n",
                "fs@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        producer = Celery(broker="filesystem://", set_as_current=False)  # the suite's app stays current
        queue = var / "broker" / "queue"
        producer.conf.broker_transport_options = {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(var / "broker" / "processed"),
            "store_processed": False,
            "control_folder": str(var / "broker" / "control"),
        }
        producer.send_task("underwriting.history.tasks.rebuild_business_rollups", args=[business.pk])

        assert wait_for(lambda: _rollups(business) == EXPECTED, timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=20)

