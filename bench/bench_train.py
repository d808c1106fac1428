"""Bench: `manage.py train_model` on a book of at least 100,000 finished loans (budget: 300 s).

    python bench/bench_train.py [--merchants 45000] [--months 24] [--seed 1] [--fresh]

Times the whole command as an operator runs it: the training set (loan book, histories from the
rollups, features as of each origination day), the out-of-time split, LightGBM with early stopping
and the refit, calibration, the report and the artifact, and registration (--no-activate, so the
bench never changes which model decides). The book is bench/bench_model_quality.py's world
(45,000 merchants x 24 months, ~107,000 finished loans), simulated into its database on first use
(~8 minutes) and reused afterwards; the simulation is not part of the timed figure.
"""

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model_quality import DEFAULT_URL, prepare_world, setup_django

BUDGET_SECONDS = 300.0
MIN_FINISHED_LOANS = 100_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=45_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the bench database first")
    args = parser.parse_args()

    setup_django(os.environ.get("BENCH_QUALITY_DATABASE_URL", DEFAULT_URL), fresh=args.fresh)
    slug = prepare_world(merchants=args.merchants, months=args.months, seed=args.seed)
    from django.core.management import call_command

    from underwriting.history.models import LoanRecord

    finished = LoanRecord.objects.filter(partner__slug=slug, status__in=["repaid", "defaulted"]).count()
    print(f"book {slug}: {finished:,} finished loans")
    out = io.StringIO()
    start = time.perf_counter()
    call_command("train_model", partner=slug, seed=1, no_activate=True, note="bench", stdout=out)
    total = time.perf_counter() - start
    print(out.getvalue().rstrip())
    print(f"\ntrain_model on {finished:,} finished loans: {total:.1f} s (budget {BUDGET_SECONDS:.0f} s)")
    if finished < MIN_FINISHED_LOANS:
        print(f"the book has fewer than {MIN_FINISHED_LOANS:,} finished loans: simulate more merchants")
        return 1
    return 0 if total <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
