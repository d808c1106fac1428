"""Bench: partner A's decisions and webhooks while partner B's webhook endpoint answers in 12 s.

    python bench/bench_webhook_isolation.py [--rate 2] [--seconds 25] [--keep] [--shared-worker]

Uses its own database (BENCH_WEBHOOK_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
lending_bench_webhooks, recreated unless --keep) and Redis database (BENCH_WEBHOOK_BROKER_URL, default
redis://127.0.0.1:6379/14, flushed). It simulates a small demo marketplace, trains and activates a
model, gives partner A (the demo partner) an API key and a webhook endpoint on loopback that answers at
once, and partner B an endpoint on loopback that answers after 12 s (the sender gives up after its 10 s
timeout and retries with backoff). Then it starts the web server (config/web.py), the decisions worker (`-Q celery`, prefork
x 2) and the webhooks worker (`-Q webhooks`, one process), as docs/deploy.md runs them; with
--shared-worker, one worker consuming both queues instead (what a deployment without the second worker
gets).

Two phases of --seconds each: first without B, then with B's events written at --b-rate per second
(B's endpoint holding every request 12 s). In each, A POSTs `/api/v1/applications?wait=10` at --rate
per second on a fixed schedule (open loop). Printed per phase: A's request-to-decision latency (p50,
p99, max, from the moment the request was due to the answer carrying the decision; answers without a
decision are counted apart) and A's webhook delay (from the event's timestamp to its arrival at A's
endpoint: p50, p99, max, and events not arrived within 20 s of the phase's end).

Measured on a 2-core machine (defaults): without B, A's submit-to-decision p50 86 ms / p99 141 ms and
webhook delay p50 18 ms / p99 28 ms; with B's 12 s endpoint, p50 86 ms / p99 95 ms and p50 99 ms /
p99 200 ms. With --shared-worker and B's endpoint, none of A's 50 answers carried a decision (the
worker's processes were all sending webhooks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from harness import (  # noqa: E402
    demo_world,
    django_setup,
    ensure_database,
    percentile,
    recreate_database,
    start_process,
    wait_http,
    wait_worker,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_webhooks"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
SLOW_SECONDS = 12.0
_local = threading.local()


class Endpoint:
    """A loopback webhook endpoint answering 204 after `delay` seconds; records (event timestamp,
    arrival) of what it receives."""

    def __init__(self, delay: float = 0.0):
        self.arrivals: dict[str, tuple[float, float]] = {}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.time()
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stamp = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).timestamp()
                endpoint.arrivals.setdefault(self.headers["webhook-id"], (stamp, arrived))
                time.sleep(delay)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up first (its 10 s timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _prepare(args):
    """World, model, partner A's key and endpoint, partner B; returns (key, merchant ids, B)."""
    from accounts.models import Business, PartnerBank
    from accounts.services import api_key_create

    slug = demo_world(args.merchants)
    partner_a = PartnerBank.objects.get(slug=slug)
    partner_b, _ = PartnerBank.objects.get_or_create(slug="bench-partner-b", defaults={"name": "Partner B"})
    key = api_key_create(partner=partner_a, name="bench", scopes=["write"]).raw_key
    # Merchants that never applied (with --keep, earlier runs' offers are still open: one per business).
    merchants = list(Business.objects.filter(partner=partner_a, applications__isnull=True).order_by("external_id")
                     .values_list("external_id", flat=True))
    return key, merchants, partner_a, partner_b


def _submit(base: str, key: str, merchant: str, due_mono: float) -> dict:
    import requests

    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    try:
        response = session.post(
            f"{base}/api/v1/applications?wait=10", timeout=30,
            json={"merchant_id": merchant, "amount": "5000.00", "term_months": 12, "purpose": "working_capital"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
    except requests.RequestException as exc:
        return {"error": type(exc).__name__}
    if response.status_code != 201:
        return {"error": f"HTTP {response.status_code}"}
    return {"error": None, "ms": (time.monotonic() - due_mono) * 1000, "decided": response.json()["decision"] is not None}


def _phase(name, args, base, key, merchants, partner_a, endpoint_a, emit_b=None) -> None:
    """A's open-loop load for args.seconds (and B's events at args.b_rate if `emit_b`); prints figures."""
    from loans.webhooks.models import WebhookEvent

    stop = threading.Event()
    first_event = WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def b_events():
        while not stop.wait(1 / args.b_rate):
            emit_b()

    if emit_b is not None:
        feeder = threading.Thread(target=b_events, daemon=True)
        feeder.start()
        time.sleep(2)  # B's requests are in flight before A's load starts
    total = round(args.rate * args.seconds)
    # Each phase its own merchants: one pending application per business (an open offer included).
    merchants = merchants[:total]
    futures = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        start = time.monotonic() + 0.2
        for i in range(total):
            due = start + i / args.rate
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            futures.append(pool.submit(_submit, base, key, merchants[i % len(merchants)], due))
        results = [f.result() for f in futures]
    stop.set()
    a_events = set(WebhookEvent.objects.filter(id__gt=first_event, partner=partner_a)
                   .values_list("event_id", flat=True))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not a_events <= endpoint_a.arrivals.keys():
        time.sleep(0.2)
    decided = sorted(r["ms"] for r in results if not r["error"] and r["decided"])
    undecided = sum(1 for r in results if not r["error"] and not r["decided"])
    errors = sorted({r["error"] for r in results if r["error"]})
    delays = sorted((endpoint_a.arrivals[e][1] - endpoint_a.arrivals[e][0]) * 1000
                    for e in a_events if e in endpoint_a.arrivals)
    print(f"\n{name}")
    print(f"  A's applications {len(results)}: decided in the answer {len(decided)}, answered undecided {undecided}"
          f"{', errors ' + ', '.join(errors) if errors else ''}")
    if decided:
        print(f"  A's submit-to-decision (ms): p50 {percentile(decided, 0.5):.0f}, p99 {percentile(decided, 0.99):.0f}, "
              f"max {decided[-1]:.0f}")
    if delays:
        print(f"  A's webhook delay (ms): p50 {percentile(delays, 0.5):.0f}, p99 {percentile(delays, 0.99):.0f}, "
              f"max {delays[-1]:.0f}; {len(a_events) - len(delays)} of {len(a_events)} not arrived within 20 s")


def _workers(args, env: dict) -> list:
    logs = ROOT / "var" / "bench"
    common = [sys.executable, "-m", "celery", "-A", "config", "worker", "--without-mingle", "--without-gossip",
              "--loglevel=INFO"]
    if args.shared_worker:
        plan = [("shared", ["--concurrency=2"])]
    else:
        plan = [("decisions", ["-Q", "celery", "--concurrency=2"]), ("webhooks", ["-Q", "webhooks", "--concurrency=1"])]
    started = []
    for name, extra in plan:
        log = logs / f"bench-webhooks-{name}-worker.log"
        proc = start_process([*common, *extra, "-n", f"bench-{name}-{os.getpid()}@%h"], env, log)
        started.append(proc)
        wait_worker(proc, log)
    return started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2.0, help="A's applications per second")
    parser.add_argument("--b-rate", type=float, default=1.0, help="B's webhook events per second")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--shared-worker", action="store_true")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "18270")))
    args = parser.parse_args()

    url = os.environ.get("BENCH_WEBHOOK_DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("BENCH_WEBHOOK_BROKER_URL", DEFAULT_BROKER)
    if args.keep:
        ensure_database(url)
    else:
        recreate_database(url)
    django_setup(database_url=url, broker_url=broker, ALLOWED_HOSTS="127.0.0.1,localhost",
                 API_RATE_LIMIT="100000/minute", WEBHOOK_ALLOW_PRIVATE_URLS="true")
    import redis

    from config.web import web_server_command
    from loans.webhooks.services import webhook_endpoint_create, webhook_event_emit

    key, merchants, partner_a, partner_b = _prepare(args)
    endpoint_a, endpoint_b = Endpoint(), Endpoint(delay=SLOW_SECONDS)
    webhook_endpoint_create(partner=partner_a, url=endpoint_a.url, event_types=["application.decided"])
    redis.Redis.from_url(broker).flushdb()
    env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    web_log = logs / "bench-webhooks-web.log"
    procs = [start_process(web_server_command(port=args.port, workers=2, threads=8), env, web_log)]
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_http(f"{base}/api/schema/", procs[0], web_log)
        procs += _workers(args, env)
        print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
              f"workers: {'one for both queues' if args.shared_worker else 'decisions (-Q celery) and webhooks (-Q webhooks)'}",
              flush=True)
        per_phase = round(args.rate * args.seconds)
        for merchant in merchants[-5:]:  # warm-up: the processes' first decisions load the model
            _submit(base, key, merchant, time.monotonic())
        _phase("without B's slow endpoint", args, base, key, merchants, partner_a, endpoint_a)
        webhook_endpoint_create(partner=partner_b, url=endpoint_b.url)
        _phase(f"with B's endpoint answering in {SLOW_SECONDS:.0f} s ({args.b_rate:g} B events/s)", args, base, key,
               merchants[per_phase:], partner_a, endpoint_a,
               emit_b=lambda: webhook_event_emit(event_type="application.decided", partner_id=partner_b.pk, data={}))
        print(f"\nB's endpoint received {len(endpoint_b.arrivals)} requests")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
