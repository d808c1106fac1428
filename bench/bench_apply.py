"""Bench: submit-to-decision latency of the owner's apply flow, end to end, under an open-loop load.

    python bench/bench_apply.py [--rate 20] [--seconds 60] [--keep]

Uses a dedicated database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
lending_bench_apply), recreated unless --keep, and its own Redis database (BENCH_BROKER_URL, default
redis://127.0.0.1:6379/11, flushed). It simulates a small demo marketplace (history up to yesterday),
trains and activates a model, gives each of --owners business owners a demo merchant, then starts
the real thing: the web server (config/web.py, 2 workers) serving the site and a Celery worker (prefork, 2 processes) on
Redis. Every owner logs in over HTTP. The load generator then POSTs the application form (the
amount the form suggests) at --rate per second for --seconds, on a fixed schedule (open loop: a
request goes out at its time whether or not earlier ones have been answered; latency counts from the
scheduled moment, so a stalled server cannot hide its backlog). After each decision the owner polls
its status as the progress page does and turns an offer down, so its next turn may apply again (one
application in progress per business).

Latency of one application = the moment its decision was stored (the decided transition's
timestamp, written by the worker in the decision's transaction) minus the moment its POST was due;
both from this machine's clock. Printed: p50, p95, p99, max, achieved throughput, the parts (HTTP
submit, queue wait, decision), the worker's share of the time (the decision's own timings over the
end-to-end latency), submitted vs decided, and applications with more than one decision (must be 0).
Targets (the standing budget, `--standing` runs both): at 20 applications/s for 60 s p99 < 100 ms; at
40/s sustained for 5 minutes p99 < 300 ms; at any rate nothing lost and no application decided twice.

Everything (load generator, the web server, the worker, PostgreSQL, Redis) shares this machine's cores, so
run it when nothing else is: other work shows up as queue wait in the parts line, and the load
average before the run is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from harness import (  # noqa: E402
    cpu_by_component,
    demo_world,
    django_setup,
    ensure_database,
    percentile,
    recreate_database,
    start_stack,
    vacuum,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_apply"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"
PASSWORD = "bench-owner-310"
UUID = re.compile(r"/applications/([0-9a-f-]{36})/")
STANDING = ((20.0, 60.0), (40.0, 300.0))
SATURATED_SECONDS = 5.0


def _prepare(args) -> list[str]:
    """World, model and owners in the bench database; returns the owners' emails."""
    from accounts.models import Business, User
    from accounts.roles import APPLICANT
    from accounts.services import roles_sync, user_create_with_role

    partner = demo_world(args.merchants)
    roles_sync()
    emails = [f"bench-owner-{i:03d}@owners.example.com" for i in range(args.owners)]
    free = Business.objects.filter(partner__slug=partner, owner__isnull=True).order_by("external_id")
    for email in emails:
        user = user_create_with_role(email=email, password=PASSWORD, role=APPLICANT)
        if not Business.objects.filter(owner=user).exists():
            business = free.first()
            if business is None:
                raise SystemExit("not enough demo merchants for the owners; raise --merchants")
            business.owner = user
            business.save(update_fields=["owner", "updated_at"])
    assert User.objects.filter(email__in=emails).count() == len(emails)
    _settle_leftovers(emails)
    return emails


def _settle_leftovers(emails: list[str]) -> None:
    """With --keep, an earlier run stopped at saturation (or interrupted) may have left an owner with an
    application still pending or an offer open, and the owner would be refused all through this run:
    withdraw or turn those down first, through the services an owner's clicks call."""
    from accounts.models import Business
    from loans.applications.models import ApplicationStatus as S
    from loans.applications.selectors import application_in_progress
    from loans.applications.services import application_withdraw, offer_reject

    for business in Business.objects.filter(owner__email__in=emails):
        application = application_in_progress(business=business)
        if application is None:
            continue
        if application.status in (S.SUBMITTED, S.DECIDING):
            application_withdraw(application=application, actor="bench:cleanup")
        else:
            offer_reject(application=application, actor="bench:cleanup")


class Owner:
    """A logged-in owner: the session cookie, a CSRF token and the apply form's URL and values."""

    def __init__(self, base: str, email: str):
        import requests

        session = requests.Session()
        session.get(f"{base}/login/", timeout=10)
        response = session.post(
            f"{base}/login/",
            data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            timeout=10,
        )
        if "sessionid" not in session.cookies:
            raise SystemExit(f"{email} could not log in (HTTP {response.status_code})")
        form = session.get(f"{base}/apply/", timeout=30)
        amount = re.search(r'name="amount" value="([^"]*)"', form.text)
        term = re.search(r'name="term_months" value="([^"]*)"', form.text)
        self.data = {
            "amount": amount.group(1) if amount and amount.group(1) else "5000.00",
            "term_months": term.group(1) if term else "12",
            "purpose": "working_capital",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        }
        self.base = base
        self.path = form.url.removeprefix(base)
        self.prefix = self.path.split("/business/")[0]
        self.cookie = f"sessionid={session.cookies['sessionid']}; csrftoken={session.cookies['csrftoken']}"


_local = threading.local()


def _pool(base: str):
    """This client thread's keep-alive connection to the server. The load generator shares the machine's
    two cores with what it measures: plain urllib3 costs it about half of requests' CPU per call."""
    import urllib3

    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = urllib3.connection_from_url(base, maxsize=1, timeout=urllib3.Timeout(total=30),
                                                          retries=False)
    return pool


def _post(owner: Owner, path: str, fields: dict):
    from urllib.parse import urlencode

    return _pool(owner.base).request(
        "POST", path, body=urlencode(fields),
        headers={"Cookie": owner.cookie, "Content-Type": "application/x-www-form-urlencoded"}, redirect=False,
    )


def _submit(owner: Owner, due_wall: float, due_mono: float) -> dict:
    import urllib3

    sent = time.monotonic()
    try:
        response = _post(owner, owner.path, owner.data)
    except urllib3.exceptions.HTTPError as exc:
        return {"due": due_wall, "late_ms": (sent - due_mono) * 1000, "error": type(exc).__name__}
    answered = time.monotonic()
    match = UUID.search(response.headers.get("Location", ""))
    if match:
        _settle(owner, match.group(1))
    return {
        "due": due_wall,
        "late_ms": (sent - due_mono) * 1000,
        "http_ms": (answered - due_mono) * 1000,
        "status": response.status,
        "public_id": match.group(1) if match else None,
        "error": None if match else f"HTTP {response.status}",
    }


def _settle(owner: Owner, public_id: str) -> None:
    """What the owner does next, as the progress page does: wait for the decision, then turn the offer
    down, so the owner's next turn may apply again (one application in progress per business,
    docs/exposure.md). Not timed: the latency is the server's, from the application's own records."""
    import json

    started = time.monotonic()
    delay = 0.25
    while time.monotonic() < started + 20:
        time.sleep(delay)
        # static/js/progress.js's intervals: every 250 ms for 1 s, then 1.5 times longer each time, to 3 s
        delay = 0.25 if time.monotonic() - started < 1 else min(delay * 1.5, 3.0)
        answer = _pool(owner.base).request("GET", f"{owner.prefix}/applications/{public_id}/status/",
                                           headers={"Cookie": owner.cookie}, redirect=False)
        status = json.loads(answer.data)
        if not status["pending"]:
            break
    if status["status"] in ("approved", "counter_offered"):
        _post(owner, f"{owner.prefix}/applications/{public_id}/reject/",
              {"csrfmiddlewaretoken": owner.data["csrfmiddlewaretoken"]})


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat (Linux only)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _load(owners: list[Owner], rate: float, seconds: float, threads: int, stack=None) -> tuple[list[dict], float]:
    """Open loop: request i is due at start + i / rate; the dispatcher never waits for answers."""
    busy_before, total_before = _cpu_busy()
    parts_before = cpu_by_component(stack) if stack else {}
    results, sent_for = _dispatch(owners, rate, seconds, threads)
    busy, total = (a - b for a, b in zip(_cpu_busy(), (busy_before, total_before), strict=True))
    sent = max(len(results), 1)
    print(f"machine CPU while loaded: {busy / total:.0%} busy of {os.cpu_count()} cores, "
          f"{busy / sent * 1000:.1f} CPU-ms per application (everything: load generator, web, worker, "
          f"PostgreSQL, Redis, and anything else running)", flush=True)
    if stack:
        parts = {k: (v - parts_before[k]) / sent * 1000 for k, v in cpu_by_component(stack).items()}
        print("CPU-ms per application by part: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()), flush=True)
    return results, sent_for


def _dispatch(owners: list[Owner], rate: float, seconds: float, threads: int) -> tuple[list[dict], float]:
    total = round(rate * seconds)
    futures = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        start_mono = time.monotonic() + 0.2
        start_wall = time.time() + (start_mono - time.monotonic())
        for i in range(total):
            due_mono = start_mono + i / rate
            delay = due_mono - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # Past saturation the backlog only grows (and the owners' polling with it): stop offering
            # once more than SATURATED_SECONDS of requests wait for a free client thread, so the bench
            # ends in minutes and says so, instead of measuring its own queue.
            waiting = pool._work_queue.qsize()  # submitted, no client thread free yet
            if waiting > rate * SATURATED_SECONDS:
                print(f"saturated: {waiting} requests waiting for a client thread after "
                      f"{time.monotonic() - start_mono:.0f} s; stopped offering after {i} of {total}", flush=True)
                break
            futures.append(pool.submit(_submit, owners[i % len(owners)], start_wall + i / rate, due_mono))
        sent_for = time.monotonic() - start_mono
    return [f.result() for f in futures], sent_for


def _report(args, results: list[dict], sent_for: float, wait_seconds: float) -> int:
    from django.db.models import Count

    from loans.applications.models import Application, ApplicationStatus, ApplicationTransition
    from underwriting.decisions.models import Decision

    submitted = [r for r in results if r["public_id"]]
    failed = [r for r in results if not r["public_id"]]
    ids = [r["public_id"] for r in submitted]
    decided_states = [ApplicationStatus.APPROVED, ApplicationStatus.COUNTER_OFFERED, ApplicationStatus.DECLINED]

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if Application.objects.filter(public_id__in=ids, decision__isnull=True).count() == 0:
            break
        time.sleep(0.5)
    rows = {
        str(a["public_id"]): a
        for a in Application.objects.filter(public_id__in=ids).values(
            "pk", "public_id", "created_at", "decided_at", "status", "decision__timings", "decision__outcome"
        )
    }
    transitions = {}
    for t in ApplicationTransition.objects.filter(application_id__in=[a["pk"] for a in rows.values()]).values(
        "application_id", "to_status", "at"
    ):
        transitions.setdefault(t["application_id"], {})[t["to_status"]] = t["at"]
    doubled = (
        Decision.objects.filter(application_ref__in=ids).values("application_ref").annotate(n=Count("id")).filter(n__gt=1)
    )

    def ms(a: datetime, b: float) -> float:
        return (a.timestamp() - b) * 1000

    e2e, web, queue, decide, engine, shares, outcomes = [], [], [], [], [], [], {}
    for r in submitted:
        row = rows.get(r["public_id"])
        if row is None or row["decided_at"] is None:
            continue
        steps = transitions.get(row["pk"], {})
        stored = next((steps[s] for s in decided_states if s in steps), row["decided_at"])
        total = ms(stored, r["due"])
        e2e.append(total)
        web.append(ms(row["created_at"], r["due"]))
        if ApplicationStatus.DECIDING in steps:
            queue.append((steps[ApplicationStatus.DECIDING] - row["created_at"]).total_seconds() * 1000)
            decide.append((stored - steps[ApplicationStatus.DECIDING]).total_seconds() * 1000)
        worker_ms = float((row["decision__timings"] or {}).get("total_ms", 0.0))
        engine.append(worker_ms)
        shares.append(worker_ms / total if total > 0 else 0.0)
        outcomes[row["decision__outcome"]] = outcomes.get(row["decision__outcome"], 0) + 1

    print()
    print(f"offered {args.rate:g}/s for {args.seconds:g} s (sent over {sent_for:.1f} s, open loop); "
          f"web server {args.web_workers} workers x {args.web_threads} threads, celery prefork x {args.concurrency}")
    print(f"submitted {len(submitted)} (failed {len(failed)}{': ' + ', '.join(sorted({str(f['error']) for f in failed})) if failed else ''}), "
          f"decided {len(e2e)}, not decided {len(submitted) - len(e2e)}, applications with two decisions {doubled.count()}")
    if not e2e:
        print("no decisions: nothing to measure")
        return 1
    ordered = sorted(e2e)
    first_due = min(r["due"] for r in submitted)
    last_stored = max(
        (next((transitions[rows[r['public_id']]['pk']][s] for s in decided_states
               if s in transitions.get(rows[r['public_id']]['pk'], {})), rows[r["public_id"]]["decided_at"]))
        for r in submitted if r["public_id"] in rows and rows[r["public_id"]]["decided_at"]
    )
    span = last_stored.timestamp() - first_due
    p50, p95, p99 = (percentile(ordered, q) for q in (0.50, 0.95, 0.99))
    print(f"submit-to-decision latency (ms): p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {ordered[-1]:.1f}")
    print(f"achieved throughput: {len(e2e) / span:.2f} decisions/s over {span:.1f} s "
          f"(first submission due to last decision stored)")
    http = sorted(r["http_ms"] for r in submitted)
    late = max(r["late_ms"] for r in results)
    print(f"parts, median ms: HTTP submit answered {statistics.median(http):.1f} (p99 {percentile(http, 0.99):.1f}), "
          f"row stored {statistics.median(web):.1f}, queue wait {statistics.median(queue) if queue else float('nan'):.1f}, "
          f"deciding {statistics.median(decide) if decide else float('nan'):.1f}, engine total_ms {statistics.median(engine):.1f}; "
          f"dispatcher max lateness {late:.1f}")
    print(f"worker's share of the time: {sum(engine) / sum(e2e):.1%} overall "
          f"(decision timings total_ms / end-to-end), median per application {statistics.median(shares):.1%}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    p99_target = p99_target_ms(args.rate)
    sustained = len(e2e) / span >= 0.95 * args.rate
    ok = p99 < p99_target and sustained and len(e2e) == len(submitted) and not failed and doubled.count() == 0
    print(f"targets at {args.rate:g}/s: p99 < {p99_target:.0f} ms, throughput sustained (>= 95% of the rate), "
          f"nothing lost, no double decision: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def p99_target_ms(rate: float) -> float:
    """The standing budget (issue 14): p99 < 100 ms at 20 applications/s, < 300 ms at 40/s."""
    return 100.0 if rate <= 20 else 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="applications per second (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to keep the rate (default 60)")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database, its model and owners")
    parser.add_argument("--merchants", type=int, default=300, help="size of the simulated world (default 300)")
    # Enough owners that each one's turn comes back seconds after its last application settled, at 40/s
    # too (an owner still waiting for a decision, or holding an offer, is refused a second application).
    parser.add_argument("--owners", type=int, default=250, help="logged-in owners taking turns (default 250)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2, help="celery worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=64, help="load generator threads (default 64)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "18150")))
    parser.add_argument("--warmup", type=int, default=20, help="applications sent (and not counted) first")
    parser.add_argument("--standing", action="store_true",
                        help="the standing budget: 20/s for 60 s, then 40/s for 300 s, each against its target")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER)
    if args.keep:
        ensure_database(url)
    else:
        recreate_database(url)
    django_setup(database_url=url, broker_url=broker, ALLOWED_HOSTS="127.0.0.1,localhost")
    import redis

    emails = _prepare(args)
    vacuum(url)
    redis.Redis.from_url(broker).flushdb()
    base = f"http://127.0.0.1:{args.port}"
    stack = start_stack(name="bench-apply", port=args.port, web_workers=args.web_workers,
                        web_threads=args.web_threads, concurrency=args.concurrency, ready_path="/login/")
    try:
        print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} CPUs", flush=True)
        owners = [Owner(base, email) for email in emails]
        # Warm-up: every web worker and every celery process loads code and the model once.
        warm, _ = _load(owners, rate=10, seconds=args.warmup / 10, threads=8)
        time.sleep(3)
        print(f"warm-up: {sum(1 for r in warm if r['public_id'])} applications; measuring ...", flush=True)
        if not args.standing:
            results, sent_for = _load(owners, args.rate, args.seconds, args.threads, stack)
            return _report(args, results, sent_for, wait_seconds=60)
        failures = 0
        for rate, seconds in STANDING:
            args.rate, args.seconds = rate, seconds
            print(f"\n=== {rate:g} applications/s for {seconds:g} s ===", flush=True)
            results, sent_for = _load(owners, rate, seconds, args.threads, stack)
            failures += _report(args, results, sent_for, wait_seconds=60)
            time.sleep(5)
        return 1 if failures else 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
