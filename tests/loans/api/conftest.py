"""Fixtures of the partner API tests: partners with keys, an API client, a live server process, and
(for the decision-dependent tests) a trained model."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create
from config.web import web_server_command
from tests.conftest import _missing
from tests.factories import BusinessFactory, PartnerFactory
from tests.processes import database_url, stop_process

ROOT = Path(__file__).resolve().parents[3]


class Caller:
    """A partner with one key and an APIClient that sends it."""

    def __init__(self, partner, raw_key, api_key):
        self.partner = partner
        self.raw_key = raw_key
        self.api_key = api_key
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        self._n = 0

    def post(self, path, data=None, key=None, **extra):
        self._n += 1
        headers = {"HTTP_IDEMPOTENCY_KEY": key or f"test-{self.api_key.prefix}-{self._n}-{time.monotonic_ns()}"}
        return self.client.post(path, data if data is not None else {}, format="json", **headers, **extra)

    def get(self, path, **params):
        return self.client.get(path, params)

    def patch(self, path, data):
        return self.client.patch(path, data, format="json")

    def delete(self, path):
        return self.client.delete(path)


def make_caller(slug: str, scopes=("read", "write", "admin"), currency="CNY") -> Caller:
    partner = PartnerFactory(slug=slug, currency=currency)
    created = api_key_create(partner=partner, name=f"{slug} test", scopes=list(scopes))
    return Caller(partner, created.raw_key, created.api_key)


@pytest.fixture
def alpha(db):
    return make_caller("alpha")


@pytest.fixture
def beta(db):
    return make_caller("beta")


@pytest.fixture
def alpha_merchant(alpha):
    return BusinessFactory(partner=alpha.partner, external_id="A-001", legal_name="Alpha Noodles")


# --- a live server process ----------------------------------------------------------------------------
def _free_port() -> int:
    for port in range(18200 + os.getpid() % 50, 18300):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18200-18299")


def _serve(env_overrides: dict, clock_pin, workers: int = 2, threads: int = 8):
    """Starts the web server (config/web.py) on the test database; returns (url, process, log)."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        _missing("the live server tests need PostgreSQL")
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env.update({"ALLOWED_HOSTS": "127.0.0.1,localhost", "CONN_MAX_AGE": "0", **clock_pin.env(), **env_overrides})
    port = _free_port()
    log_path = Path(settings.VAR_DIR) / f"test-api-server-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed by _stop
    proc = subprocess.Popen(
        web_server_command(port=port, workers=workers, threads=threads),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the API server exited with {proc.returncode}; see {log_path}", pytrace=False)
        try:
            requests.get(f"{url}/api/schema/", timeout=5)
            break
        except requests.RequestException:  # not listening yet, or its workers still booting
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"the API server did not start; see {log_path}", pytrace=False)
    return url, proc, log


@pytest.fixture(scope="session")
def api_server(django_db_setup, django_db_blocker, clock_pin):
    """The web server serving the app on the test database (2 workers x 8 threads, like a small production
    box). Tests using it need `transactional_db` so the server sees their rows."""
    url, proc, log = _serve({"API_RATE_LIMIT": "100000/minute", "API_AUTH_FAILURE_RATE": "100000/minute"}, clock_pin)
    yield url
    stop_process(proc, log)


@pytest.fixture
def throttled_server(django_db_setup, clock_pin):
    """The same with a 30/minute limit and 2 single-threaded workers."""
    url, proc, log = _serve({"API_RATE_LIMIT": "30/minute"}, clock_pin, workers=2, threads=1)
    yield url
    stop_process(proc, log)


@pytest.fixture
def auth_limited_server(django_db_setup, clock_pin):
    """The same with at most 5 failed authentications per client address a minute."""
    url, proc, log = _serve({"API_RATE_LIMIT": "100000/minute", "API_AUTH_FAILURE_RATE": "5/minute"}, clock_pin,
                            workers=2, threads=1)
    yield url
    stop_process(proc, log)
