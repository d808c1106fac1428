"""The few places where PostgreSQL and SQLite spell the same SQL differently.

Everything else in the import is one SQL text run on both, so the fallback cannot drift from the
fast path. Dates are 'YYYY-MM-DD' text and datetimes 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC text on
SQLite (Django's storage format there); PostgreSQL uses date and timestamptz with the session in UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    vendor: str

    @property
    def postgres(self) -> bool:
        return self.vendor == "postgresql"

    def type(self, logical: str) -> str:
        if self.postgres:
            return {"datetime": "timestamptz"}.get(logical, logical)
        return {
            "text": "TEXT",
            "date": "TEXT",
            "datetime": "TEXT",
            "bigint": "INTEGER",
            "smallint": "INTEGER",
            "integer": "INTEGER",
            "numeric": "NUMERIC",
            "boolean": "INTEGER",
        }[logical]

    def day(self, ts: str) -> str:
        """The UTC calendar day of a stored datetime."""
        if self.postgres:
            return f"(({ts}) AT TIME ZONE 'UTC')::date"
        return f"substr({ts}, 1, 10)"

    def day_start(self, day: str) -> str:
        if self.postgres:
            return f"(({day})::timestamp AT TIME ZONE 'UTC')"
        return f"(({day}) || ' 00:00:00')"

    def day_end(self, day: str) -> str:
        """The first instant of the next day: ranges are half-open."""
        if self.postgres:
            return f"((({day}) + 1)::timestamp AT TIME ZONE 'UTC')"
        return f"(date({day}, '+1 day') || ' 00:00:00')"

    def distinct(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}" if self.postgres else f"{a} IS NOT {b}"

    @property
    def binary_collation(self) -> str:
        # Ties on occurred_at are broken by transaction_id in code-point order on both backends.
        return 'COLLATE "C"' if self.postgres else "COLLATE BINARY"

    def delete_days(self, table: str, ranges: str) -> str:
        """Deletes `table`'s rows on the days spanned by `ranges` rows marked fresh. Driven from the
        ranges through the (business_id, day, ...) primary key, never a scan of the rollup table."""
        if self.postgres:
            return (
                f"DELETE FROM {table} USING {ranges} r WHERE r.fresh AND {table}.business_id = r.business_id"
                f" AND {table}.day >= r.lo_day AND {table}.day <= r.hi_day"
            )
        return (
            f"DELETE FROM {table} WHERE rowid IN (SELECT x.rowid FROM {ranges} r JOIN {table} x"
            f" ON x.business_id = r.business_id AND x.day >= r.lo_day AND x.day <= r.hi_day WHERE r.fresh)"
        )

    def delete_touched(self, table: str, touched: str) -> str:
        """Deletes `table`'s rows on the (business_id, day) pairs listed in `touched`, through the
        primary key: used where a day's rows are a selection (top counterparties) that an upsert
        alone would leave stale."""
        if self.postgres:
            return (
                f"DELETE FROM {table} USING {touched} x WHERE {table}.business_id = x.business_id"
                f" AND {table}.day = x.day"
            )
        return (
            f"DELETE FROM {table} WHERE rowid IN (SELECT t.rowid FROM {touched} x JOIN {table} t"
            f" ON t.business_id = x.business_id AND t.day = x.day)"
        )

    def rowcount(self, cursor) -> int:
        """Rows changed by the last statement. sqlite3 reports -1 for statements that start with WITH."""
        if self.postgres:
            return max(cursor.rowcount, 0)
        cursor.execute("SELECT changes()")
        return cursor.fetchone()[0]

    @property
    def new_uuid(self) -> str:
        return "gen_random_uuid()" if self.postgres else "ingest_uuid4()"


def dialect_for(connection) -> Dialect:
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        # Django stores UUIDField as 32 hex digits on SQLite; set-based inserts need a generator.
        connection.connection.create_function("ingest_uuid4", 0, lambda: uuid.uuid4().hex)
    return Dialect(connection.vendor)
