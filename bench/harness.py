"""Shared pieces of the end-to-end benches: a recreated database, percentiles, and a live stack of the
web server (config/web.py) plus a Celery worker started as real processes (logs under var/bench/)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _connect(url: str, *, admin: bool = False):
    """An autocommit psycopg connection to the database of `url` (`admin`: to the server's `postgres`
    database instead, to drop or create that one); returns (connection, the database's name)."""
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    conn = psycopg.connect(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
                           dbname="postgres" if admin else cfg["NAME"], autocommit=True)
    return conn, cfg["NAME"]


def recreate_database(url: str) -> None:
    """Drops and creates the database named in `url` (a bench's own, never the app's)."""
    admin, name = _connect(url, admin=True)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def ensure_database(url: str) -> None:
    """Creates the database named in `url` when it does not exist yet (--keep on a new machine)."""
    admin, name = _connect(url, admin=True)
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def vacuum(url: str) -> None:
    """VACUUM (ANALYZE) of the bench database before a measured run, when the server's autovacuum is off
    (as on this machine kind's PostgreSQL): a database kept across runs (--keep) otherwise carries
    every earlier run's dead row versions, which production's autovacuum would have cleared, and the
    run measures that instead of the code."""
    conn, _name = _connect(url)
    with conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "on":
            return
        started = time.monotonic()
        conn.execute("VACUUM (ANALYZE)")
        print(f"autovacuum is off on this server: vacuumed the bench database first ({time.monotonic() - started:.1f} s)",
              flush=True)


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of an ascending list (nearest rank)."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_process(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "w")  # noqa: SIM115 - the process owns it until it exits
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until `url` answers without a server error (the web process loaded the app)."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the web server exited with {proc.returncode}; see {log}")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the web server did not answer in {timeout} s; see {log}")


def wait_worker(proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"celery worker exited with {proc.returncode}; see {log}")
        if "ready." in log.read_text():
            return
        time.sleep(0.2)
    raise SystemExit(f"celery worker not ready in {timeout} s; see {log}")


@dataclass
class Stack:
    web: subprocess.Popen
    worker: subprocess.Popen
    web_log: Path
    worker_log: Path

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            proc.terminate()
        for proc in (self.web, self.worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_stack(*, name: str, port: int, web_workers: int, web_threads: int, concurrency: int,
                ready_path: str) -> Stack:
    """The web server (config/web.py) on 127.0.0.1:`port` and a prefork Celery worker, with this
    process's environment (database, broker, keys); returns once both are ready."""
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    web_log, worker_log = logs / f"{name}-web.log", logs / f"{name}-worker.log"
    sys.path.insert(0, str(ROOT))
    from config.web import web_server_command

    web = start_process(web_server_command(port=port, workers=web_workers, threads=web_threads), env, web_log)
    worker = start_process(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--without-mingle", "--without-gossip", "--loglevel=INFO",
         "-n", f"{name}-{os.getpid()}@%h"],
        env, worker_log,
    )
    stack = Stack(web, worker, web_log, worker_log)
    try:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", web, web_log)
        wait_worker(worker, worker_log)
    except BaseException:
        stack.stop()
        raise
    return stack


def django_setup(*, database_url: str, broker_url: str | None = None, **defaults: str) -> None:
    """Points Django at the bench's database (and broker) with bench-only keys, then sets it up.
    `defaults` are further environment defaults (an operator's own value wins)."""
    os.environ["DATABASE_URL"] = database_url
    if broker_url is not None:
        os.environ.update(CELERY_BROKER_URL=broker_url, DEBUG="false")
    # The bench's servers speak plain http on loopback (production's HTTPS defaults off, docs/deploy.md);
    # the demo channel's payouts are simulated as on the run command.
    for name, value in {"SECRET_KEY": "bench-only", "DECISION_HMAC_KEY": "bench-only",
                        "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0",
                        "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
                        "SIMULATED_DISBURSEMENT_PARTNERS": "demo",
                        "DJANGO_SETTINGS_MODULE": "config.settings",
                        "MODEL_STORE": str(ROOT / "var" / "bench" / "models"), **defaults}.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _proc_stats() -> dict[int, tuple[int, str, float, float]]:
    """pid -> (parent pid, command name, own CPU seconds, CPU seconds of its reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        # fields[0] is the state; utime, stime, cutime, cstime are the 14th-17th fields of stat
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick,
                                  (int(fields[13]) + int(fields[14])) / tick)
    return found


def cpu_by_component(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack: the web server and the worker (each process
    and its descendants), PostgreSQL (every server process, and the backends that already exited,
    counted in their parent's reaped-children time), Redis, and this process (the load generator)."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> float:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += stats[pid][2] + stats[pid][3]
                todo.extend(children.get(pid, []))
        return total

    # Exited backends are reaped by the postmaster (the one postgres process whose parent is not one).
    postgres = sum(own + (reaped if stats.get(ppid, (0, ""))[1] != "postgres" else 0.0)
                   for ppid, name, own, reaped in stats.values() if name == "postgres")
    t = os.times()
    return {"web": tree(stack.web.pid), "worker": tree(stack.worker.pid), "postgres": postgres,
            "redis": sum(own for _p, name, own, _r in stats.values() if name == "redis-server"),
            "load generator": t.user + t.system}


def demo_world(merchants: int) -> str:
    """Migrates the bench database and, unless a model is already active (--keep), simulates the demo
    partner's marketplace (history up to yesterday) and trains a model on it; returns the partner's slug."""
    from datetime import timedelta

    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from underwriting.modeling.models import ModelVersion
    from underwriting.simulator import simulate_marketplace

    call_command("migrate", verbosity=0)
    slug = settings.DEMO_MERCHANTS_PARTNER
    if not ModelVersion.objects.filter(is_active=True).exists():
        print(f"simulating {merchants} merchants (history up to yesterday) and training a model ...", flush=True)
        yesterday = (timezone.now() - timedelta(days=1)).date()
        simulate_marketplace(merchants=merchants, months=24, seed=7, end_date=yesterday, partner_slug=slug)
        call_command("train_model", partner=slug, seed=1, verbosity=0, quiet=True)
    return slug
