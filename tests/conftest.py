"""Shared fixtures. Tests that need real services use them through fixtures here.

With CI=true a missing PostgreSQL, Redis or worker fails the test loudly; on a laptop without
them those tests are skipped, and everything else runs on SQLite.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from config.clock import Pin
from tests.clock import DEFAULT_AT, real_time, travel_to
from tests.processes import database_url, stop_process
from tests.processes import missing as _missing

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    from django.conf import settings

    # Production's HTTPS defaults turn every plain-http test request into a redirect; scripts/test.sh
    # switches them off for the suite, pytest alone cannot (settings load before this file).
    if settings.SECURE_SSL_REDIRECT:
        raise pytest.UsageError(
            "SECURE_SSL_REDIRECT is on: run the suite with `bash scripts/test.sh`, or export "
            "SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0 SESSION_COOKIE_SECURE=false "
            "CSRF_COOKIE_SECURE=false SIMULATED_DISBURSEMENT_PARTNERS=demo (docs/deploy.md)."
        )


# ---- the clock (tests/clock.py, docs/time.md) ------------------------------------------------------


@pytest.fixture(scope="session")
def _default_pin() -> Pin:
    return Pin(at=DEFAULT_AT, anchor=real_time())


@pytest.fixture(scope="session", autouse=True)
def _session_clock(_default_pin):
    """Session fixtures (trained models, worlds) are built at the default instant too."""
    with travel_to(_default_pin):
        yield


@pytest.fixture(scope="session")
def clock_pin(request, _default_pin) -> Pin:
    """The instant this test runs at (DEFAULT_AT, or one of PINNED_DATES with @pinned_dates), ticking
    from the real moment the pin is made; servers and workers started for the test get it too."""
    if hasattr(request, "param"):
        return Pin(at=request.param, anchor=real_time())
    return _default_pin


@pytest.fixture(autouse=True)
def _test_clock(clock_pin):
    with travel_to(clock_pin):
        yield


@pytest.fixture(autouse=True)
def _platform_celery_app_stays_current():
    """A bare `Celery()` made in a test becomes Celery's current app (set_as_current defaults to True),
    and the platform's task_queue would then send without its routes: later tests' webhook deliveries
    would land on the decisions queue. Producers made in tests pass set_as_current=False; this says
    which test forgot."""
    from celery import current_app

    from config.celery import app

    yield
    assert current_app._get_current_object() is app, "a test made another Celery app current"


@pytest.fixture
def require_postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        _missing("these tests need PostgreSQL (set DATABASE_URL=postgres://...)")


def _redis_broker_url() -> str | None:
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    return url if url.startswith("redis://") else None


@pytest.fixture(scope="session")
def redis_broker():
    url = _redis_broker_url()
    if url is None:
        _missing("these tests need a Redis broker (set CELERY_BROKER_URL=redis://...)")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as exc:
        _missing(f"Redis at {url} is not answering: {exc}")
    return url


def _start_worker(*, queue: str, env: dict, log_path: Path) -> tuple[subprocess.Popen, object]:
    """A `celery worker` process consuming only `queue`, once it says it is ready; (process, log)."""
    log = open(log_path, "w")  # noqa: SIM115 - closed by stop_process
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-mingle", "--without-gossip", "-Q", queue, "-n", f"test-{queue}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"celery worker exited with {proc.returncode}; see {log_path}", pytrace=False)
        if "ready." in log_path.read_text():
            return proc, log
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"celery worker did not become ready in 60 s; see {log_path}", pytrace=False)


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, django_db_blocker, redis_broker, clock_pin):
    """Real `celery worker` processes on the Redis broker, reading and writing the test database, as
    production runs them (docs/deploy.md): `decisions` consumes the default queue, `webhooks` the
    webhook deliveries' queue.

    Tests that use them must also use `transactional_db` so their rows are committed and visible
    to the workers.
    """
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        _missing("the worker integration tests need PostgreSQL")
    import redis

    redis.Redis.from_url(redis_broker).flushdb()
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env["CELERY_BROKER_URL"] = redis_broker
    env.update(clock_pin.env())
    logs = Path(settings.VAR_DIR)
    logs.mkdir(parents=True, exist_ok=True)
    decisions = _start_worker(queue=settings.CELERY_TASK_DEFAULT_QUEUE, env=env, log_path=logs / "test-worker.log")
    try:
        webhooks = _start_worker(queue=settings.WEBHOOKS_QUEUE, env=env, log_path=logs / "test-webhooks-worker.log")
    except BaseException:
        stop_process(*decisions)
        raise
    yield SimpleNamespace(decisions=decisions[0], webhooks=webhooks[0])
    for worker in (decisions, webhooks):
        stop_process(*worker)


@pytest.fixture(scope="session")
def celery_worker_process(celery_workers):
    """The decisions worker (default queue) of `celery_workers`; the webhooks worker runs beside it."""
    return celery_workers.decisions


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until predicate() is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


class _Rollback(Exception):
    pass


@pytest.fixture(scope="session")
def trained_artifact(django_db_setup, django_db_blocker, tmp_path_factory):
    """(model store, artifact path) of a model trained on a 300-merchant simulated world (seed 5,
    LightGBM seed 3), once per session. The training world is rolled back; the artifact stays on disk
    for tests to register into worlds of their own."""
    from django.core.management import call_command
    from django.db import transaction
    from django.test import override_settings

    from underwriting.modeling.models import ModelVersion
    from underwriting.simulator import simulate_marketplace

    store = tmp_path_factory.mktemp("models")
    path = None
    with django_db_blocker.unblock(), override_settings(MODEL_STORE=str(store)):
        try:
            with transaction.atomic():
                simulate_marketplace(merchants=300, months=24, seed=5, partner_slug="model-train")
                call_command("train_model", partner="model-train", seed=3, quiet=True)
                path = ModelVersion.objects.get(is_active=True).artifact_path
                raise _Rollback
        except _Rollback:
            pass
    return store, path
