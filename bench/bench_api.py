"""Bench: the partner API's request-to-decision latency with `?wait=`, under an open-loop load.

    python bench/bench_api.py [--rate 20] [--seconds 60] [--keep]

Uses its own database (BENCH_API_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
lending_bench_api, recreated unless --keep) and Redis database (BENCH_API_BROKER_URL, default
redis://127.0.0.1:6379/12, flushed). It simulates a demo marketplace (history up to yesterday), trains
and activates a model, creates a partner API key, then starts the web server (config/web.py) and a Celery worker (prefork) and
POSTs `/api/v1/applications?wait=10` (a fresh Idempotency-Key each) at --rate per second for
--seconds, on a fixed schedule (open loop: latency counts from the moment a request was due, so a
backlog cannot hide). Latency = due moment to the HTTP answer carrying the decision, measured by the
client. Printed: p50, p95, p99, max, throughput, answers without a decision, errors. Target: p99 under
300 ms at 20 requests per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from harness import demo_world, django_setup, ensure_database, percentile, recreate_database, start_stack  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_api"
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
_local = threading.local()


def _prepare(args) -> tuple[str, list[str]]:
    """World, model and a key; returns the key and the merchant ids to apply for."""
    from accounts.models import Business, PartnerBank
    from accounts.services import api_key_create

    slug = demo_world(args.merchants)
    partner = PartnerBank.objects.get(slug=slug)
    key = api_key_create(partner=partner, name="bench", scopes=["write"]).raw_key
    merchants = list(Business.objects.filter(partner=partner).order_by("external_id").values_list("external_id", flat=True))
    return key, merchants


def _submit(base: str, key: str, merchant: str, due_mono: float) -> dict:
    import requests

    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    late = (time.monotonic() - due_mono) * 1000
    try:
        response = session.post(
            f"{base}/api/v1/applications?wait=10", timeout=30,
            json={"merchant_id": merchant, "amount": "5000.00", "term_months": 12, "purpose": "working_capital"},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
    except requests.RequestException as exc:
        return {"late_ms": late, "error": type(exc).__name__}
    answered = (time.monotonic() - due_mono) * 1000
    if response.status_code != 201:
        return {"late_ms": late, "error": f"HTTP {response.status_code}"}
    body = response.json()
    return {"late_ms": late, "ms": answered, "decided": body["decision"] is not None,
            "outcome": (body["decision"] or {}).get("outcome"), "error": None}


def _load(base: str, key: str, merchants: list[str], rate: float, seconds: float, threads: int):
    total = round(rate * seconds)
    futures = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.monotonic() + 0.2
        for i in range(total):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_submit, base, key, merchants[i % len(merchants)], due))
        results = [f.result() for f in futures]
        span = time.monotonic() - start
    return results, span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "18260")))
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    url = os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("BENCH_API_BROKER_URL", DEFAULT_BROKER)
    if args.keep:
        ensure_database(url)
    else:
        recreate_database(url)
    django_setup(database_url=url, broker_url=broker, ALLOWED_HOSTS="127.0.0.1,localhost",
                 API_RATE_LIMIT="100000/minute")
    import redis

    key, merchants = _prepare(args)
    redis.Redis.from_url(broker).flushdb()
    base = f"http://127.0.0.1:{args.port}"
    stack = start_stack(name="bench-api", port=args.port, web_workers=args.web_workers,
                        web_threads=args.web_threads, concurrency=args.concurrency, ready_path="/api/schema/")
    try:
        print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
              flush=True)
        _load(base, key, merchants, rate=10, seconds=args.warmup / 10, threads=8)
        time.sleep(2)
        results, span = _load(base, key, merchants, args.rate, args.seconds, args.threads)
    finally:
        stack.stop()

    errors = [r for r in results if r["error"]]
    decided = sorted(r["ms"] for r in results if not r["error"] and r["decided"])
    undecided = sum(1 for r in results if not r["error"] and not r["decided"])
    outcomes: dict[str, int] = {}
    for r in results:
        if r.get("outcome"):
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    print()
    print(f"offered {args.rate:g}/s for {args.seconds:g} s (open loop); web server {args.web_workers} x "
          f"{args.web_threads} threads, celery prefork x {args.concurrency}")
    print(f"requests {len(results)}, decided in the answer {len(decided)}, answered undecided {undecided}, "
          f"errors {len(errors)}{': ' + ', '.join(sorted({e['error'] for e in errors})) if errors else ''}")
    if not decided:
        return 1
    p50, p95, p99 = (percentile(decided, q) for q in (0.5, 0.95, 0.99))
    print(f"request-to-decision latency (ms): p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {decided[-1]:.1f}")
    print(f"throughput: {len(decided) / span:.2f} decided answers/s over {span:.1f} s")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    ok = p99 < 300 and not errors and not undecided
    print(f"target p99 < 300 ms at {args.rate:g}/s, every answer decided: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
