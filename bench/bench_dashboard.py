"""Bench: the risk dashboard and the audit console over a large decision table (issue 6 target: the
dashboard renders in under 1 second with 1,000,000 decisions in PostgreSQL).

    python bench/bench_dashboard.py [--decisions 1000000] [--days 90] [--fresh] [--repeat 5] [--verify]

Works in its own database (BENCH_DASHBOARD_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lending_bench_dashboard), created and migrated here:

1. a small simulated world (300 merchants x 24 months) and a model trained on it and activated, so
   the dashboard's drift panel reads a real artifact's training reference;
2. --decisions decisions spread over the last --days UTC days, seeded in bulk with COPY: outcomes,
   PD, score and band from the policy's own scale, offers, latencies, and a valid HMAC chain (each
   record signed with the code decisions._append uses, `chain.sign`, in append order; --verify
   walks the whole chain afterwards with `decisions_verify`). To keep the seed in minutes on two
   cores, each row's feature snapshot and SHAP values hold 8 features (a live row holds 99, ~7 KB);
   neither the dashboard nor the admin list reads them;
3. the daily summaries built from the same rows by `monitoring.SummaryAccumulator` (the code the
   summaries catch-up runs), bulk-inserted, with the catch-up watermark set after them;
4. timed, through Django's test client as a logged-in loan officer (middleware, sessions, template
   rendering included): the dashboard for 30 and 90 days, the admin index (with the review queue
   count), the decision list and one decision page. Prints the best and median of --repeat runs.

A reused database (same --decisions and --days) skips steps 1-3; --fresh drops it first.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model_quality import setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_dashboard"
TARGET_SECONDS = 1.0
SLUG = "bench-dashboard"
SNAPSHOT_FEATURES = 8
CENT = Decimal("0.01")


def _world():
    from django.core.management import call_command

    from accounts.models import Business
    from underwriting.modeling.models import ModelVersion
    from underwriting.simulator import simulate_marketplace

    if not Business.objects.filter(partner__slug=SLUG).exists():
        t = time.perf_counter()
        simulate_marketplace(merchants=300, months=24, seed=7, partner_slug=SLUG)
        print(f"simulated 300 merchants in {time.perf_counter() - t:.0f} s", flush=True)
    if not ModelVersion.objects.filter(is_active=True).exists():
        call_command("train_model", partner=SLUG, seed=1, quiet=True)
    return list(Business.objects.filter(partner__slug=SLUG).values_list("id", "partner_id"))


def _decision_rows(n: int, days: int, businesses, mv, pv, policy):
    """Yields (row dict for COPY and the accumulator) in append order, signing the chain."""
    from django.conf import settings

    from underwriting.decisions import chain
    from underwriting.decisions.services import CONTENT_VERSION, signed_fields
    from underwriting.engine.pricing import score_band, score_for

    key = settings.DECISION_HMAC_KEY.encode()
    rng = random.Random(310)
    names = list(mv.feature_names[:SNAPSHOT_FEATURES])
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    step = (now - start) / n
    previous = chain.GENESIS
    max_pd = float(policy.max_pd)
    for i in range(n):
        business_id, partner_id = businesses[rng.randrange(len(businesses))]
        created = start + step * i
        amount = Decimal(rng.randrange(20, 2000) * 100).quantize(CENT)
        term = rng.choice((3, 6, 9, 12, 18, 24))
        knockout = rng.random() < 0.12
        row = {
            "public_id": uuid.UUID(int=rng.getrandbits(128), version=4), "partner_id": partner_id,
            "business_id": business_id, "application_ref": None, "as_of": created - timedelta(seconds=1),
            "requested_amount": amount, "requested_term_months": term, "offered_amount": None, "term_months": None,
            "apr": None, "effective_apr": None, "origination_fee": None, "instalment": None, "total_repayable": None,
            "schedule": [], "pd": None, "score": None, "score_band": "", "raw_margin": None,
            "model_version_id": mv.pk, "policy_version_id": pv.pk, "feature_names": names,
            "feature_values": [None if rng.random() < 0.05 else round(rng.lognormvariate(0, 1), 6) for _ in names],
            "context": {}, "shap_values": [], "shap_base": None, "knockouts": [], "limit": {}, "reasons": [],
            "timings": {"total_ms": round(rng.lognormvariate(3.4, 0.35) + (0 if rng.random() > 0.01 else 200), 3)},
            "created_at": created, "sequence": i + 1, "content_version": CONTENT_VERSION,
        }
        if knockout:
            row.update(outcome="declined", decided_by="knockout",
                       knockouts=[{"code": "HISTORY_SHORT", "passed": False, "detail": "bench"}],
                       reasons=[{"family": "policy", "label": "Policy rule", "feature": "HISTORY_SHORT",
                                 "value": None, "contribution": None, "text": "Too little history."}])
        else:
            pd = min(max(rng.betavariate(1.2, 14), 1e-4), 0.9)
            score = score_for(pd, policy)
            row.update(decided_by="model", pd=pd, score=score, score_band=score_band(score, policy.score_bands),
                       raw_margin=round(rng.gauss(-2.5, 1), 9), shap_base=-2.4,
                       shap_values=[round(rng.gauss(0, 0.1), 9) for _ in names])
            if pd > max_pd or rng.random() < 0.05:
                row["outcome"] = "declined"
            else:
                offered = amount if rng.random() < 0.8 else (amount * Decimal("0.6")).quantize(Decimal("100")).quantize(CENT)
                apr = Decimal(str(round(12 + pd * 100, 2))).quantize(CENT, ROUND_HALF_UP)
                monthly = apr / 1200
                instalment = (offered * monthly / (1 - (1 + monthly) ** -term)).quantize(CENT, ROUND_HALF_UP)
                row.update(outcome="approved" if offered == amount else "counter_offer", offered_amount=offered,
                           term_months=term, apr=apr, effective_apr=apr, origination_fee=Decimal("0.00"),
                           instalment=instalment, total_repayable=instalment * term)
        row["previous_hmac"] = previous
        row["hmac"] = chain.sign(key=key, content={f: row[f] for f in signed_fields(CONTENT_VERSION)},
                                 previous=previous)
        previous = row["hmac"]
        yield row


def _seed(n: int, days: int) -> None:
    import json

    from django.db import connection, transaction

    from underwriting.decisions.models import Decision, DecisionChainHead
    from underwriting.decisions.services import CONTENT_VERSION, signed_fields
    from underwriting.modeling.models import ModelVersion
    from underwriting.monitoring.models import (
        DecisionDailyDrift,
        DecisionDailySummary,
        DecisionSummaryWatermark,
    )
    from underwriting.monitoring.services import SummaryAccumulator
    from underwriting.policies.services import policy_active

    businesses = _world()
    mv = ModelVersion.objects.get(is_active=True)
    pv, policy = policy_active()
    columns = [*signed_fields(CONTENT_VERSION), "previous_hmac", "hmac"]
    json_fields = {"schedule", "feature_names", "feature_values", "context", "shap_values", "knockouts", "limit",
                   "reasons", "timings"}
    db_columns = [Decision._meta.get_field(c).column for c in columns]
    acc = SummaryAccumulator()
    acc.prime(mv)  # no query may run on the connection while COPY streams
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            copy_sql = f"COPY underwriting_decision ({', '.join(connection.ops.quote_name(c) for c in db_columns)}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                last = None
                for i, row in enumerate(_decision_rows(n, days, businesses, mv, pv, policy), 1):
                    acc.add(row)
                    copy.write_row([json.dumps(row[c]) if c in json_fields and row[c] is not None else row[c]
                                    for c in columns])
                    last = row
                    if i % 100_000 == 0:
                        print(f"  {i:,} decisions signed and copied ({time.perf_counter() - t0:.0f} s)", flush=True)
        last_id = Decision.objects.order_by("-id").values_list("id", flat=True).first()
        DecisionChainHead.objects.update_or_create(pk=1, defaults={"last_decision_id": last_id,
                                                                   "last_sequence": last["sequence"],
                                                                   "last_hmac": last["hmac"]})
        summaries, drifts = acc.rows()
        DecisionDailySummary.objects.bulk_create(summaries, batch_size=1000)
        DecisionDailyDrift.objects.bulk_create(drifts, batch_size=1000)
        # The summaries now count every seeded decision: the dashboard's catch-up starts after them.
        DecisionSummaryWatermark.objects.update_or_create(pk=1, defaults={"last_decision_id": last_id})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE underwriting_decision")
    print(f"seeded {n:,} decisions over {days} days in {time.perf_counter() - t0:.0f} s "
          f"({len(summaries):,} summary rows, {len(drifts):,} drift rows)", flush=True)


def _time(client, url: str, repeat: int) -> tuple[float, float, int]:
    times, status = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        times.append(time.perf_counter() - start)
        status = response.status_code
    return min(times), statistics.median(times), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the bench database first")
    parser.add_argument("--verify", action="store_true", help="verify the whole HMAC chain after seeding")
    args = parser.parse_args()

    os.environ.setdefault("DECISION_HMAC_KEY", "bench-dashboard-key")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("MODEL_STORE", str(ROOT / "var" / "bench-dashboard-models"))
    setup_django(os.environ.get("BENCH_DASHBOARD_DATABASE_URL", DEFAULT_URL), fresh=args.fresh)
    from django.conf import settings
    from django.test import Client

    from accounts.roles import LOAN_OFFICER
    from accounts.services import roles_sync, user_create_with_role
    from underwriting.decisions.models import Decision

    have = Decision.objects.count()
    if have == 0:
        _seed(args.decisions, args.days)
    elif have != args.decisions:
        print(f"the bench database holds {have:,} decisions, not {args.decisions:,}: run with --fresh", flush=True)
        return 2
    else:
        print(f"reusing {have:,} decisions", flush=True)
    if args.verify:
        from underwriting.decisions.verification import decisions_verify

        t = time.perf_counter()
        checked, problems = decisions_verify()
        print(f"verified the chain of {checked:,} decisions in {time.perf_counter() - t:.0f} s: "
              f"{len(problems)} problem(s)", flush=True)

    roles_sync()
    officer = user_create_with_role(email="bench-officer@example.com", password="bench-officer-310", role=LOAN_OFFICER)
    host = (settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip(".")
    client = Client(HTTP_HOST=host if host != "*" else "localhost")
    client.force_login(officer)
    one = Decision.objects.filter(decided_by="model").order_by("-id").values_list("id", flat=True).first()
    pages = [
        ("dashboard, last 30 days", "/risk/dashboard/?range=30d"),
        ("dashboard, last 90 days", "/risk/dashboard/?range=90d"),
        ("admin index (review queue count)", "/admin/"),
        ("admin decision list", "/admin/underwriting/decision/"),
        ("admin decision list, outcome filter", "/admin/underwriting/decision/?outcome=declined"),
        ("admin review queue", "/admin/underwriting/decision/review-queue/"),
        ("admin decision page", f"/admin/underwriting/decision/{one}/change/"),
    ]
    client.get(pages[0][1])  # warm caches (templates, the artifact's reference)
    print(f"\n{Decision.objects.count():,} decisions; best / median of {args.repeat} runs:")
    verdict = 0
    for label, url in pages:
        best, median, status = _time(client, url, args.repeat)
        mark = ""
        if label.startswith("dashboard"):
            ok = best < TARGET_SECONDS
            mark = f"  (target < {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'})"
            verdict |= 0 if ok else 1
        print(f"  {label:<38} {best * 1000:8.0f} ms / {median * 1000:8.0f} ms  HTTP {status}{mark}", flush=True)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
