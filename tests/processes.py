"""Throwaway services and worker processes for the fault tests: a `redis-server` on a spare port that a
test may stop and start again, and `celery worker` processes on it reading the test database. The
machine's shared PostgreSQL and Redis are never stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str):
    """A needed tool or service is absent: a skip on a laptop, a failure under CI=true (scripts/test.sh
    installs what it can, so in CI a missing one is a defect of the set-up)."""
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of this test's own, with no persistence: `restart()` loses nothing the test relies
    on but drops every connection, as a restarted production Redis does."""

    def __init__(self, folder: Path):
        binary = shutil.which("redis-server")
        if binary is None:  # scripts/test.sh installs it
            missing("redis-server is not installed")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def throwaway_redis(folder: Path):
    server = ThrowawayRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stop_process(proc: subprocess.Popen, log=None, timeout: float = 15) -> None:
    """TERM, then KILL if it has not exited within `timeout`; closes its log."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if log is not None and not log.closed:
        log.close()


class Worker:
    """`celery -A config worker` as the run command starts it (prefork), in its own process group."""

    def __init__(self, *, broker_url: str, log_path: Path, clock_pin, env: dict | None = None, concurrency: int = 1):
        full_env = dict(os.environ)
        full_env.update(DATABASE_URL=database_url(), CELERY_BROKER_URL=broker_url, **clock_pin.env(), **(env or {}))
        self.log_path = log_path
        self.log = open(log_path, "a")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
             f"--concurrency={concurrency}", "--without-mingle", "--without-gossip", "-n", f"fault-{free_port()}@%h"],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the worker exited with {self.proc.returncode}; see {self.log_path}", pytrace=False)
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"the worker did not become ready in 60 s; see {self.log_path}", pytrace=False)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the main process and its pool: a host lost, nothing acknowledged or restored."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if not self.log.closed:
            self.log.close()
