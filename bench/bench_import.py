"""Throughput of the history import into PostgreSQL, rollups included.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lending python bench/bench_import.py [--rows N]

Generates (once, cached under var/bench/) a synthetic merchants file and a transactions file in time
order across merchants (the shape of a bank or marketplace export), creates a fresh partner, runs
history_import on both files and prints rows, seconds and transactions per second. The partner's
data is deleted afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS_IN = [("sale", 0.62), ("transfer", 0.04), ("cash_deposit", 0.02)]
KINDS_OUT = [
    ("supplier_payment", 0.12),
    ("refund", 0.03),
    ("fee", 0.05),
    ("payroll", 0.04),
    ("rent", 0.02),
    ("payout", 0.04),
    ("tax", 0.01),
    ("card_payment", 0.01),
]


def generate(directory: Path, rows: int, merchants: int, seed: int = 310) -> tuple[Path, Path]:
    """Writes merchants.csv and transactions.csv; about rows/merchants transactions each over 24 months."""
    directory.mkdir(parents=True, exist_ok=True)
    m_path = directory / f"merchants-{merchants}.csv"
    t_path = directory / f"transactions-{rows}-{merchants}.csv"
    if m_path.exists() and t_path.exists():
        return m_path, t_path
    rng = np.random.default_rng(seed)
    with open(m_path, "w", encoding="utf-8") as out:
        out.write("merchant_id,name,category,region,onboarded_on,established_on\n")
        for i in range(merchants):
            out.write(
                f"M{i:06d},Merchant {i} Ltd,{['grocery', 'apparel', 'food', 'electronics'][i % 4]},"
                f"{['east', 'west', 'north', 'south'][i % 4]},2022-12-01,20{10 + i % 12}-03-01\n"
            )

    start = np.datetime64("2023-01-01T00:00:00", "s").astype(np.int64)
    span = 730 * 86400
    merchant = rng.integers(0, merchants, rows)
    # Merchants differ in size; each merchant's transactions spread over the two years.
    ts = np.sort(start + rng.integers(0, span, rows))
    names, probs = zip(*(KINDS_IN + KINDS_OUT), strict=True)
    probs = np.array(probs) / sum(probs)
    kind = rng.choice(len(names), rows, p=probs)
    direction = np.where(kind < len(KINDS_IN), "in", "out")
    cents = np.maximum(1, np.round(rng.lognormal(8.5, 1.2, rows))).astype(np.int64)
    signed = np.where(kind < len(KINDS_IN), cents, -cents)
    # A running balance per merchant, reported by a third of the merchants (the bank-feed ones).
    order = np.lexsort((np.arange(rows), merchant))
    bal = np.empty(rows, dtype=np.int64)
    ms, ss = merchant[order], signed[order]
    run = np.cumsum(ss)
    first = np.r_[True, ms[1:] != ms[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(rows), 0))
    offset = np.where(group_start > 0, run[group_start - 1], 0)
    bal[order] = run - offset + 5_000_000
    with_balance = (merchant % 3) == 0
    counterparty = rng.integers(0, 400, rows)
    has_cp = rng.random(rows) < 0.5

    iso = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s")
    with open(t_path, "w", encoding="utf-8") as out:
        out.write(
            "merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty,balance_after\n"
        )
        chunk = 200_000
        for lo in range(0, rows, chunk):
            hi = min(rows, lo + chunk)
            lines = []
            for i in range(lo, hi):
                c = int(cents[i])
                b = int(bal[i])
                lines.append(
                    f"M{merchant[i]:06d},T{i:010d},{iso[i]}Z,{c // 100}.{c % 100:02d},CNY,{direction[i]},"
                    f"{names[kind[i]]},{f'C{counterparty[i]:04d}' if has_cp[i] else ''},"
                    f"{(('-' if b < 0 else '') + f'{abs(b) // 100}.{abs(b) % 100:02d}') if with_balance[i] else ''}\n"
                )
            out.write("".join(lines))
    return m_path, t_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--merchants", type=int, default=None, help="default: rows / 1000")
    parser.add_argument("--keep", action="store_true", help="keep the bench partner's data")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    merchants = args.merchants or max(1, args.rows // 1000)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.services import partner_create
    from underwriting.history.services import history_import

    if connection.vendor != "postgresql":
        print("warning: DATABASE_URL is not PostgreSQL; this measures the portable fallback", file=sys.stderr)
    call_command("migrate", verbosity=0)
    from django.conf import settings

    t0 = time.perf_counter()
    m_path, t_path = generate(Path(settings.VAR_DIR) / "bench", args.rows, merchants)
    print(
        f"data: {t_path} ({t_path.stat().st_size / 1e6:.0f} MB), generated/reused in {time.perf_counter() - t0:.1f} s"
    )

    slug = f"bench-{int(time.time())}"
    partner = partner_create(slug=slug, name="Import benchmark", currency="CNY")
    t0 = time.perf_counter()
    result = history_import(
        partner=partner, merchants=m_path, transactions=t_path, progress=args.progress, source="bench"
    )
    seconds = time.perf_counter() - t0
    tx = result.files["transactions"]
    print(f"merchants: {result.files['merchants'].inserted} inserted")
    print(f"transactions: {tx.read} read, {tx.inserted} inserted, {result.rollup_rows} rollup rows written")
    print(f"seconds: {seconds:.1f}")
    print(f"throughput: {tx.read / seconds:,.0f} transactions/s (rollups included)")

    if not args.keep:
        _cleanup(partner)


def _cleanup(partner) -> None:
    from django.db import connection, transaction

    from accounts.models import Business
    from underwriting.history.models import (
        CounterpartyDailyRollup,
        DailyBalance,
        DailyRollup,
        ImportRun,
        LoanRecord,
        MerchantMetric,
        Transaction,
    )

    ids = Business.objects.filter(partner=partner).values("id")
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (Transaction, DailyRollup, CounterpartyDailyRollup, DailyBalance, MerchantMetric):
            sql, params = ids.query.sql_with_params()
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE business_id IN ({sql})", params)
        LoanRecord.objects.filter(partner=partner).delete()
        ImportRun.objects.filter(partner=partner).delete()
        Business.objects.filter(partner=partner).delete()
        partner.delete()
    if connection.vendor == "postgresql":
        # Autovacuum is off on the dev server: reclaim the deleted rows so that runs stay comparable.
        with connection.cursor() as cursor:
            for model in (Transaction, DailyRollup, CounterpartyDailyRollup, DailyBalance, MerchantMetric):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


if __name__ == "__main__":
    main()
