"""Set-based rollup SQL: daily by direction and kind, daily by counterparty, and the day's balance.

The counterparty rollup keeps, per merchant, day and direction, only the TOP_COUNTERPARTIES largest
counterparties by the day's total (ties by name). A busy shop with hundreds of payers a day would
otherwise store hundreds of rows a day, and a decision reading its last months would cost hundreds of
milliseconds; concentration, payment processors and new or round-tripping payers are about the large
ones. The features read this same table in training and live, so they agree (docs/features.md).

Each statement aggregates a row source (`src`: one row per transaction with its UTC day) into whole
days, so a day's rollup rows always equal the aggregate of that day's raw rows however the day
arrived. An import's source covers only the (merchant, day) pairs it touched; a rebuild's covers a
merchant's whole history.
"""

from __future__ import annotations

from underwriting.history.ingest.dialect import Dialect
from underwriting.history.models import CounterpartyDailyRollup, DailyBalance, DailyRollup, Transaction

T = Transaction._meta.db_table
DR = DailyRollup._meta.db_table
CR = CounterpartyDailyRollup._meta.db_table
DB = DailyBalance._meta.db_table
ROLLUP_TABLES = (DR, CR, DB)
TOP_COUNTERPARTIES = 8  # per merchant, day and direction (see the module docstring)


def rollup_statements(d: Dialect, src: str, *, upsert: bool) -> list[str]:
    """`src` selects business_id, day, occurred_at, transaction_id, direction, kind, amount_minor,
    counterparty, balance_after_minor. With `upsert` False the days must have no rollup rows yet
    (plain inserts, in key order so the indexes fill sequentially)."""

    def on_conflict(keys: str, columns: list[str]) -> str:
        if not upsert:
            return ""
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns)
        return f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"

    # SQLite's upsert needs a WHERE before ON CONFLICT when the SELECT has a FROM (parser ambiguity).
    return [
        f"""WITH src AS ({src})
        INSERT INTO {DR} (business_id, day, direction, kind, "count", total_minor, max_minor)
        SELECT business_id, day, direction, kind, COUNT(*), SUM(amount_minor), MAX(amount_minor)
        FROM src WHERE 1 = 1 GROUP BY business_id, day, direction, kind
        ORDER BY business_id, day, direction, kind"""
        + on_conflict("business_id, day, direction, kind", ['"count"', "total_minor", "max_minor"]),
        f"""WITH src AS ({src})
        INSERT INTO {CR} (business_id, day, direction, counterparty, "count", total_minor)
        SELECT business_id, day, direction, counterparty, n, total FROM (
            SELECT business_id, day, direction, counterparty, COUNT(*) AS n, SUM(amount_minor) AS total,
                ROW_NUMBER() OVER (
                    PARTITION BY business_id, day, direction
                    ORDER BY SUM(amount_minor) DESC, counterparty {d.binary_collation}
                ) AS rk
            FROM src WHERE counterparty IS NOT NULL GROUP BY business_id, day, direction, counterparty
        ) ranked
        WHERE rk <= {TOP_COUNTERPARTIES}
        ORDER BY business_id, day, direction, counterparty"""
        + on_conflict("business_id, day, direction, counterparty", ['"count"', "total_minor"]),
        f"""WITH src AS ({src})
        INSERT INTO {DB} (business_id, day, min_balance_minor, close_balance_minor)
        SELECT business_id, day, min_balance, balance_after_minor FROM (
            SELECT business_id, day, balance_after_minor,
                MIN(balance_after_minor) OVER (PARTITION BY business_id, day) AS min_balance,
                ROW_NUMBER() OVER (
                    PARTITION BY business_id, day
                    ORDER BY occurred_at DESC, transaction_id {d.binary_collation} DESC
                ) AS rn
            FROM src WHERE balance_after_minor IS NOT NULL
        ) last_of_day
        WHERE rn = 1"""
        + on_conflict("business_id, day", ["min_balance_minor", "close_balance_minor"]),
    ]


def raw_source(d: Dialect, where: str) -> str:
    return (
        f"SELECT t.business_id, {d.day('t.occurred_at')} AS day, t.occurred_at, t.transaction_id, t.direction,"
        f" t.kind, t.amount_minor, t.counterparty, t.balance_after_minor FROM {T} t WHERE {where}"
    )


def rebuild_business(cursor, d: Dialect, business_id: int) -> int:
    business_id = int(business_id)
    for table in ROLLUP_TABLES:
        cursor.execute(f"DELETE FROM {table} WHERE business_id = %s", [business_id])
    written = 0
    for sql in rollup_statements(d, raw_source(d, f"t.business_id = {business_id}"), upsert=False):
        cursor.execute(sql)
        written += d.rowcount(cursor)
    return written
