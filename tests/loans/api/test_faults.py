"""Faults, reproduced for real: a web server worker killed mid-request must never make a retry with the same
Idempotency-Key create a second application (Stripe's promise: a retry after any failure never makes a
second object). Run alone with `pytest -m faults`."""

import os
import signal
import subprocess
import threading

import pytest
import redis
import requests

from accounts.services import api_key_create
from loans.applications.models import Application
from tests.conftest import wait_for
from tests.loans.api.conftest import _serve
from tests.processes import stop_process

pytestmark = [pytest.mark.services, pytest.mark.faults]

# A broker database no worker listens on: the decision stays pending, so `?wait=10` really waits.
UNCONSUMED_BROKER = "redis://127.0.0.1:6379/9"


def _worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def one_worker_server(django_db_setup, clock_pin):
    url, proc, log = _serve({"API_RATE_LIMIT": "100000/minute", "CELERY_BROKER_URL": UNCONSUMED_BROKER}, clock_pin,
                            workers=1, threads=4)
    yield url, proc
    stop_process(proc, log)
    redis.Redis.from_url(UNCONSUMED_BROKER).flushdb()  # the decisions nobody was meant to take


@pytest.mark.parametrize("sig", [signal.SIGABRT, signal.SIGKILL], ids=["SIGABRT", "SIGKILL"])
def test_a_worker_killed_while_the_client_waits_for_the_decision_leaves_one_application(
        one_worker_server, committed_world, sig):
    url, master = one_worker_server
    business = committed_world[2]
    raw = api_key_create(partner=business.partner, name="faults", scopes=["write"]).raw_key
    headers = {"Authorization": f"Bearer {raw}", "Idempotency-Key": f"crash-{sig.name}"}
    body = {"merchant_id": business.external_id, "amount": "3000.00", "term_months": 6, "purpose": "inventory"}
    outcome = {}

    def submit():
        try:
            outcome["response"] = requests.post(f"{url}/api/v1/applications", params={"wait": 10}, json=body,
                                                headers=headers, timeout=30)
        except requests.RequestException as exc:
            outcome["error"] = exc

    # Given a submission whose application is committed and whose request now waits for the decision
    client = threading.Thread(target=submit)
    client.start()
    wait_for(lambda: Application.objects.filter(business=business).exists(), timeout=20)

    # When the worker serving it is killed (SIGABRT as an abort, SIGKILL as the OOM killer would)
    for pid in _worker_pids(master.pid):
        os.kill(pid, sig)
    client.join(timeout=30)
    # (Either drops the connection; the server starts a new worker: --respawn-failed-workers.)

    # Then the client's retry with the same key answers with the application the key already made
    retry = wait_for(lambda: _post_or_none(f"{url}/api/v1/applications", body, headers), timeout=30)
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    made = Application.objects.get(business=business)
    assert retry.json()["id"] == str(made.public_id)
    assert Application.objects.filter(business=business).count() == 1
    if "response" in outcome and outcome["response"].status_code == 201:
        assert outcome["response"].json()["id"] == str(made.public_id)


def _post_or_none(url, body, headers):
    """A response once the server has a new worker listening; None while it is restarting it."""
    try:
        return requests.post(url, json=body, headers=headers, timeout=30)
    except requests.ConnectionError:
        return None
