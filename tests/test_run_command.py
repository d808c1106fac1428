"""The run command (scripts/run.sh) as a newcomer runs it: on the embedded default (SQLite and a
filesystem broker, no server), it serves at once, prepares the demo in the background, keeps its
secrets and the demo key in VAR_DIR, runs a worker for decisions and one for webhook deliveries,
restarts a worker or beat that dies, and stops every process it started on a signal."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRIPPED = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DECISION_HMAC_KEY", "DEBUG", "CLOCK_AT", "CLOCK_ANCHOR",
            "VAR_DIR", "ALLOWED_HOSTS", "SIMULATED_DISBURSEMENT_PARTNERS", "WEBHOOK_ALLOW_PRIVATE_URLS",
            "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:  # not listening (yet)
        return 0, ""


def _session_processes(sid: int) -> dict[int, str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        pid, session, args = line.split(None, 2)
        if int(session) == sid:
            found[int(pid)] = args
    return found


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s")


def test_the_run_command_serves_prepares_supervises_and_stops_everything(tmp_path):
    var, port = tmp_path / "var", _free_port()
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env.update(VAR_DIR=str(var), PORT=str(port), DEMO_MERCHANTS="300")
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    run = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        # it serves before the demo is ready, and the demo gets ready in the background
        _until(lambda: _get(f"{base}/login/")[0] == 200, 180, "the site did not answer")
        status = var / "demo-status.json"
        _until(lambda: status.exists() and json.loads(status.read_text())["state"] == "ready", 240,
               f"the demo was not ready ({(tmp_path / 'run.log').read_text()[-2000:]})")
        # (the status file is written just before the last lines are printed)
        def printed_all() -> str:
            text = (tmp_path / "run.log").read_text()
            return text if "The demo is ready" in text else ""

        printed = _until(printed_all, 30, "the demo's last lines were not printed")
        assert "AUC / oracle" in printed
        key = (var / "demo-api-key").read_text().strip()
        assert key in printed
        for secret in ("secret-key", "decision-hmac-key", "demo-api-key"):
            assert oct((var / secret).stat().st_mode & 0o777) == "0o600", secret
        # production-like pages: no technical 404
        code, body = _get(f"{base}/no-such-page/")
        assert code == 404 and "Traceback" not in body and "URLconf" not in body

        # decisions and webhook deliveries each have their own worker, on their own queue
        workers = [a for a in _session_processes(run.pid).values() if "celery -A config worker" in a]
        assert any("-Q celery " in a for a in workers) and any("-Q webhooks " in a for a in workers), workers

        # a beat that dies is started again
        def beat():
            return next((pid for pid, args in _session_processes(run.pid).items() if "celery -A config beat" in args), None)

        first = _until(beat, 30, f"no beat process among {_session_processes(run.pid)}")
        os.kill(first, signal.SIGKILL)
        _until(lambda: (pid := beat()) is not None and pid != first, 30, "beat was not restarted")

        # and so is a worker whose main process dies (as on kombu's "Unrecoverable error")
        def workers():
            return {pid for pid, args in _session_processes(run.pid).items() if "celery -A config worker" in args}

        before = _until(workers, 30, f"no worker process among {_session_processes(run.pid)}")
        os.kill(min(before), signal.SIGKILL)  # the main process (its pool is forked after it)
        _until(lambda: workers() - before, 60, "the worker was not restarted")
    finally:
        # a TERM to the script stops everything it started
        stop_started = time.monotonic()
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            pytest.fail("the run command did not stop on TERM")
        log.close()
    time.sleep(1)
    left = {pid: args for pid, args in _session_processes(run.pid).items() if "<defunct>" not in args}
    assert left == {}, left
    assert time.monotonic() - stop_started < 14  # a clean stop, not the last-resort KILL after 15 s
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/login/", timeout=5)
