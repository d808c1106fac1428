"""Bench: the simulated marketplace at 10,000 merchants x 24 months into PostgreSQL (budget: 300 s).

    python bench/bench_simulator.py [--merchants 10000] [--months 24] [--seed 1] [--keep]

Runs against a dedicated database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lending_bench_sim), recreated and migrated before each run so
the figure does not depend on what earlier runs left behind (--keep reuses it; each run then uses a
fresh partner slug bench-<UTC timestamp> either way). Prints generation, import and total seconds,
rows, default rate and oracle AUC, and exits non-zero when the total exceeds the budget.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 300.0
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_sim"


def _recreate(url: str) -> None:
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    admin = psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1",
        port=cfg["PORT"] or 5432,
        user=cfg["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep", action="store_true", help="reuse the bench database instead of recreating it"
    )
    parser.add_argument("--out", default=None, help="keep the CSV files in this directory")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not args.keep:
        _recreate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from underwriting.simulator import simulate_marketplace

    slug = "bench-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    start = time.perf_counter()
    result = simulate_marketplace(
        merchants=args.merchants,
        months=args.months,
        seed=args.seed,
        partner_slug=slug,
        out_dir=args.out,
        progress=True,
    )
    total = time.perf_counter() - start
    c = result.calibration
    generation = result.generation_seconds + result.write_seconds
    print(f"partner {slug}: {args.merchants} merchants x {args.months} months, seed {args.seed}")
    print(
        f"rows: {result.total_rows:,} ({result.rows['transactions']:,} transactions, "
        f"{result.rows['metrics']:,} metrics, {result.rows['loans']:,} loans, {result.rows['merchants']:,} merchants)"
    )
    print(
        f"generation: {generation:.1f} s (simulate {result.generation_seconds:.1f} s + write {result.write_seconds:.1f} s)"
    )
    print(
        f"import: {result.import_seconds:.1f} s ({result.rows['transactions'] / max(result.import_seconds, 1e-9):,.0f} "
        f"transactions/s); truth rows: {result.truth_seconds:.1f} s"
    )
    print(f"total: {total:.1f} s (budget {BUDGET_SECONDS:.0f} s)")
    print(
        f"default rate: {c.default_rate:.2%} (mean true PD {c.mean_true_pd:.2%}); oracle AUC, latest originations: "
        f"{c.oracle_auc_latest:.3f} ({c.latest_loans:,} loans, {c.latest_defaults:,} defaults); "
        f"calibration max error {c.calibration_max_error:.3f}"
    )
    return 0 if total <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
