"""Bench: one decision through the decision service, model loaded, features from 24 months of rollups.

    python bench/bench_decision.py [--repeat 300] [--keep]

Uses a dedicated database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
lending_bench_decision), recreated unless --keep: simulates a world, trains and activates a model on
it, then imports two extra merchants with the same two years of business, one recorded as 1,000
transactions and one as 1,000,000, and times a decision as the decision task takes it (lock the
business and its related parties, read their exposure, `decision_make`: load history, features, rules,
PD, SHAP, limit, price, schedule, reasons, HMAC-chained insert) for each, once for a request that fits
and once for 500,000 (more than either can carry: the counter-offer search runs). Targets: p50 < 15 ms
and p99 < 40 ms for both.
"""

import argparse
import csv
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from harness import django_setup, ensure_database, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_decision"
END = date(2026, 10, 31)
DAYS = 730



def _write_merchant(folder: Path, merchant_id: str, transactions: int, seed: int) -> tuple[Path, Path]:
    """Two years of a steady shop: the same daily sales and costs, split into `transactions` rows."""
    rng = np.random.default_rng(seed)
    merchants = folder / f"{merchant_id}-merchants.csv"
    with open(merchants, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["merchant_id", "name", "category", "region", "onboarded_on", "established_on"])
        w.writerow([merchant_id, f"Bench shop {merchant_id}", "grocery", "east", "2022-01-01", "2019-03-01"])
    path = folder / f"{merchant_id}-transactions.csv"
    start = END - timedelta(days=DAYS - 1)
    days = rng.integers(0, DAYS, size=transactions)
    days.sort()
    is_sale = rng.random(transactions) < 0.8
    # Daily sales ~ 3,000 and costs ~ 2,200 whatever the number of rows that carry them.
    sale_amount = 3000.0 * DAYS / max(is_sale.sum(), 1)
    cost_amount = 2200.0 * DAYS / max((~is_sale).sum(), 1)
    seconds = rng.integers(0, 86_400, size=transactions)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(
            [
                "merchant_id",
                "transaction_id",
                "occurred_at",
                "amount",
                "currency",
                "direction",
                "kind",
                "counterparty",
            ]
        )
        for i in range(transactions):
            moment = datetime.combine(start + timedelta(days=int(days[i])), datetime.min.time(), tzinfo=UTC)
            moment += timedelta(seconds=int(seconds[i]))
            amount = (sale_amount if is_sale[i] else cost_amount) * (0.5 + rng.random())
            w.writerow(
                [
                    merchant_id,
                    f"b{i}",
                    moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    f"{max(amount, 0.01):.2f}",
                    "CNY",
                    "in" if is_sale[i] else "out",
                    "sale" if is_sale[i] else "supplier_payment",
                    f"customer-{rng.integers(0, 500)}" if is_sale[i] else f"supplier-{rng.integers(0, 8)}",
                ]
            )
    return merchants, path


def _decide(business, amount, as_of):
    """One decision as loans.applications.services.application_decide takes it: exposure read under the row lock."""
    from django.db import transaction

    from config import clock
    from loans.applications.exposure import exposure_read, parties_lock
    from underwriting.decisions.services import decision_make

    with transaction.atomic():
        parties = parties_lock(business=business)
        exposure = exposure_read(parties=parties, now=clock.now())
        return decision_make(business=business, amount=amount, term_months=12, as_of=as_of, exposure=exposure)


def _time(business, amount, as_of, repeat: int, label: str) -> None:
    _decide(business, amount, as_of)  # warm-up
    times, parts = [], {"load_ms": [], "features_ms": [], "engine_ms": []}
    for _ in range(repeat):
        start = time.perf_counter()
        decision = _decide(business, amount, as_of)
        times.append((time.perf_counter() - start) * 1000)
        for key in parts:
            parts[key].append(decision.timings[key])
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    detail = ", ".join(f"{k[:-3]} {statistics.median(v):.2f}" for k, v in parts.items())
    print(f"{label}, asking {amount:>10,}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms "
          f"(median parts, ms: {detail}); {decision.outcome} {decision.offered_amount or ''}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--merchants", type=int, default=1500, help="size of the world the model trains on")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database and its model")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if args.keep:
        ensure_database(url)
    else:
        recreate_database(url)
    django_setup(database_url=url)
    from django.core.management import call_command

    from accounts.models import Business
    from accounts.selectors import partner_get_by_slug
    from underwriting.history.services import history_import
    from underwriting.modeling.models import ModelVersion
    from underwriting.simulator import simulate_marketplace

    call_command("migrate", verbosity=0)
    if not ModelVersion.objects.filter(is_active=True).exists():
        print(f"simulating {args.merchants} merchants and training a model ...", flush=True)
        simulate_marketplace(
            merchants=args.merchants, months=24, seed=7, partner_slug="bench", progress=False
        )
        call_command("train_model", partner="bench", seed=1, verbosity=0)
    partner = partner_get_by_slug(slug="bench")
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    as_of = datetime.combine(END + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for merchant_id, count in (("SMALL-1K", 1_000), ("LARGE-1M", 1_000_000)):
        if not Business.objects.filter(partner=partner, external_id=merchant_id).exists():
            merchants, transactions = _write_merchant(folder, merchant_id, count, seed=count)
            history_import(partner=partner, merchants=merchants, transactions=transactions)
        business = Business.objects.get(partner=partner, external_id=merchant_id)
        for amount in ("20000.00", "500000.00"):
            _time(business, Decimal(amount), as_of, args.repeat, f"{merchant_id:<9} {count:>9,} transactions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
