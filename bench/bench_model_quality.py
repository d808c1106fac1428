"""Bench: model quality on the simulator's out-of-time validation loans (issue 3 targets).

    python bench/bench_model_quality.py [--merchants 45000] [--months 24] [--seed 1] [--train-seed 1]
                                        [--fresh] [--prepare-only]

Targets: AUC at least 97% of the oracle AUC (the true PDs on the same validation loans), calibration
error (mean |predicted - observed| over PD deciles) at most 0.02, with at least 1,000 defaults among
the validation loans.

Why 45,000 merchants: validation is the latest 15% of the loans whose outcome window (term + 90
days) has closed by the end of the data (docs/adr/0003: the latest *finished* loans are a biased
sample, early defaults and early repayments only). 20,000 x 24 months leaves ~590 defaults there;
45,000 x 24 leaves ~1,300 and also gives a book of ~105,000 finished loans, which
bench/bench_train.py reuses for the training-time target.

The world lives in its own database (BENCH_QUALITY_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/lending_bench_quality), created and migrated here. It is
simulated once (~8 minutes: generation, CSV, the import at ~84k transactions/s) and reused by later
runs while the partner `quality-m<merchants>-s<seed>` holds it; --fresh drops and recreates it.
The model is trained with `underwriting.modeling` (the code `manage.py train_model` runs) and
written to a model store under the bench's own directory, not registered.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lending_bench_quality"
RATIO_TARGET = 0.97
CALIBRATION_TARGET = 0.02
DEFAULTS_TARGET = 1000


def _admin_connection(url: str):
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    conn = psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1",
        port=cfg["PORT"] or 5432,
        user=cfg["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    )
    return conn, cfg["NAME"]


def _ensure_database(url: str, fresh: bool) -> None:
    conn, name = _admin_connection(url)
    with conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, fresh: bool = False) -> None:
    """Point Django at the bench database (created when missing) and migrate it."""
    _ensure_database(url, fresh)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("MODEL_STORE", str(ROOT / "var" / "bench-models"))
    # Pages are requested over plain http (bench_dashboard): production's HTTPS redirect off.
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        os.environ.setdefault(name, "false")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def partner_slug(merchants: int, seed: int, months: int) -> str:
    return f"quality-m{merchants}-x{months}-s{seed}"


def prepare_world(*, merchants: int, months: int, seed: int) -> str:
    """The simulated world for (merchants, months, seed), simulated unless already loaded. Returns the slug."""
    from underwriting.history.models import LoanRecord
    from underwriting.simulator import simulate_marketplace
    from underwriting.simulator.models import SimulationTruth

    slug = partner_slug(merchants, seed, months)
    loans = LoanRecord.objects.filter(partner__slug=slug).count()
    if loans and SimulationTruth.objects.filter(loan__partner__slug=slug).count() == loans:
        print(f"reusing world {slug}: {loans:,} loans")
        return slug
    start = time.perf_counter()
    result = simulate_marketplace(merchants=merchants, months=months, seed=seed, partner_slug=slug, progress=True)
    c = result.calibration
    print(
        f"simulated {slug} in {time.perf_counter() - start:.0f} s: {result.rows['transactions']:,} transactions, "
        f"{result.rows['loans']:,} loans, default rate {c.default_rate:.2%}, "
        f"simulator's oracle AUC on the latest originations {c.oracle_auc_latest:.3f}"
    )
    return slug


def load_or_build(slug: str, cache: str | None):
    import numpy as np

    from underwriting.features import FEATURES
    from underwriting.modeling.dataset import TrainingSet, build_training_set

    if cache and Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        names = [str(n) for n in z["feature_names"]]
        specs = {s.name: s for s in FEATURES}
        if names != [s.name for s in FEATURES]:
            raise SystemExit(f"{cache} was built with other features; delete it")
        from datetime import date

        return TrainingSet(X=z["X"], y=z["y"], originated_on=z["originated_on"], specs=[specs[n] for n in names],
                           matured=z["matured"], true_pd=z["true_pd"], partner=slug,
                           data_end=date.fromisoformat(str(z["data_end"])), sectors=z["sectors"],
                           peer_bases=z["peer_bases"])
    ts = build_training_set(partner=slug, progress=True)
    if cache:
        np.savez(cache, X=ts.X, y=ts.y, originated_on=ts.originated_on, matured=ts.matured, true_pd=ts.true_pd,
                 feature_names=np.array(ts.feature_names), data_end=str(ts.data_end), sectors=ts.sectors,
                 peer_bases=ts.peer_bases)
    return ts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=45_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1, help="the world's seed")
    parser.add_argument("--train-seed", type=int, default=1, help="LightGBM's seed")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the bench database first")
    parser.add_argument("--prepare-only", action="store_true", help="simulate and load the world, do not train")
    parser.add_argument("--cache", default=None,
                        help="an .npz file: reuse the training set stored there (written on first use) to tune "
                             "training without rebuilding features")
    args = parser.parse_args()

    setup_django(os.environ.get("BENCH_QUALITY_DATABASE_URL", DEFAULT_URL), fresh=args.fresh)
    slug = prepare_world(merchants=args.merchants, months=args.months, seed=args.seed)
    if args.prepare_only:
        return 0

    from django.conf import settings

    from underwriting.modeling.artifact import write_artifact
    from underwriting.modeling.train import train_model

    t0 = time.perf_counter()
    ts = load_or_build(slug, args.cache)
    t1 = time.perf_counter()
    model = train_model(ts, seed=args.train_seed, progress=True)
    t2 = time.perf_counter()
    path = write_artifact(model, store=Path(settings.MODEL_STORE))
    m = model.metrics["validation"]
    print(f"\nworld {slug}: {ts.n_rows:,} finished loans ({int(ts.y.sum()):,} defaults), "
          f"{ts.n_features} features; build {t1 - t0:.0f} s, training {t2 - t1:.0f} s")
    print(model.split.describe(ts.originated_on))
    print(f"trees {model.booster.num_trees()}, params {model.params}")
    ratio = m["auc"] / m["oracle_auc"] if m.get("oracle_auc") else float("nan")
    rows = [
        ("validation loans", f"{m['n']:,}", ""),
        ("validation defaults", f"{m['defaults']:,}", f">= {DEFAULTS_TARGET:,}"),
        ("AUC", f"{m['auc']:.4f}", ""),
        ("oracle AUC (true PD, same loans)", f"{m.get('oracle_auc', float('nan')):.4f}", ""),
        ("AUC / oracle", f"{ratio:.4f}", f">= {RATIO_TARGET}"),
        ("Gini", f"{m['gini']:.4f}", ""),
        ("KS", f"{m['ks']:.4f}", ""),
        ("Brier", f"{m['brier']:.4f}", ""),
        ("calibration error", f"{m['calibration_error']:.4f}", f"<= {CALIBRATION_TARGET}"),
        ("mean PD / default rate", f"{m['mean_pd']:.4f} / {m['default_rate']:.4f}", ""),
    ]
    for name, value, target in rows:
        print(f"  {name:<34} {value:>18}  {target}")
    print(f"artifact: {path} (report {path / 'report.html'})")
    ok = ratio >= RATIO_TARGET and m["calibration_error"] <= CALIBRATION_TARGET and m["defaults"] >= DEFAULTS_TARGET
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
