"""Bench: batch scoring (features plus PD) for many merchants (issue 3 target: features plus PD for
at least 2,000 merchants per second on this machine, vectorised).

    python bench/bench_batch.py [--merchants 45000] [--months 24] [--seed 1] [--limit N] [--repeat 2]

Scores every merchant of bench/bench_model_quality.py's world (simulated into its database on first
use) as of the day after the world ends, for a 20,000 over 12 months request, with
`underwriting.decisions.batch.businesses_score`: histories from the rollups (each merchant read once),
features with the model's sector norms, calibrated PD and score for the whole matrix; no SHAP.
The model is the newest artifact in the bench's model store (trained here with `train_model
--no-activate` if there is none). Prints merchants per second with the time split into load,
features and PD; the best of --repeat runs (the first warms the database cache). The target is
judged on features plus PD; reading the histories from PostgreSQL is printed beside it, because it
is the slower part (~600 merchants/s here: the server aggregates ~1,500 rollup rows per merchant).
"""

import argparse
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model_quality import DEFAULT_URL, prepare_world, setup_django

TARGET_PER_SECOND = 2000


def _model(slug: str):
    from django.core.management import call_command

    from underwriting.modeling.models import ModelVersion
    from underwriting.modeling.registry import load_model_version

    version = ModelVersion.objects.order_by("-created_at").first()
    if version is None:
        print("no model in the bench database: training one (train_model --no-activate) ...", flush=True)
        call_command("train_model", partner=slug, seed=1, no_activate=True, verbosity=0)
        version = ModelVersion.objects.order_by("-created_at").first()
    return load_model_version(version)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=45_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N merchants")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import os

    setup_django(os.environ.get("BENCH_QUALITY_DATABASE_URL", DEFAULT_URL))
    from django.db.models import Max

    from accounts.models import Business
    from underwriting.decisions.batch import businesses_score
    from underwriting.history.models import DailyRollup

    slug = prepare_world(merchants=args.merchants, months=args.months, seed=args.seed)
    model = _model(slug)
    ids = list(Business.objects.filter(partner__slug=slug).order_by("pk").values_list("pk", flat=True))
    if args.limit:
        ids = ids[: args.limit]
    end = DailyRollup.objects.filter(business_id__in=ids[:100]).aggregate(Max("day"))["day__max"]
    as_of = end + timedelta(days=1)
    best = None
    for run in range(max(args.repeat, 1)):
        start = time.perf_counter()
        result = businesses_score(business_ids=ids, as_of=as_of, amount=Decimal("20000.00"), term_months=12,
                                  model=model)
        elapsed = time.perf_counter() - start
        s = result.seconds
        print(f"run {run + 1}: {len(ids):,} merchants in {elapsed:.1f} s = {len(ids) / elapsed:,.0f} merchants/s "
              f"(load {s['load']:.1f} s, features {s['features']:.1f} s, PD {s['pd']:.2f} s)", flush=True)
        if best is None or elapsed < best:
            best, best_seconds = elapsed, dict(s)
    rate = len(ids) / best
    compute = len(ids) / (best_seconds["features"] + best_seconds["pd"])
    print(f"batch scoring with model {model.version} as of {as_of}, {len(ids):,} merchants:")
    print(f"  features + PD (vectorised): {compute:,.0f} merchants/s (target >= {TARGET_PER_SECOND:,}): "
          f"{'MET' if compute >= TARGET_PER_SECOND else 'NOT MET'}")
    print(f"  reading histories from PostgreSQL: {len(ids) / best_seconds['load']:,.0f} merchants/s; "
          f"end to end: {rate:,.0f} merchants/s")
    p10, p50, p90 = np.percentile(result.score, [10, 50, 90])
    print(f"mean PD {result.pd.mean():.4f}; score p10 / p50 / p90: {p10:.0f} / {p50:.0f} / {p90:.0f}")
    return 0 if compute >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
