"""The import's work tables: one staging table per file kind, the rejects of every file, and the
scratch tables of the transactions load; and the Stager that streams parsed rows into staging (COPY on
PostgreSQL, batched inserts elsewhere)."""

from __future__ import annotations

from underwriting.history.ingest.dialect import Dialect
from underwriting.history.ingest.rows import Kind

REJECTS = "ingest_rejects"
TOUCHED = "ingest_touched"
RANGES = "ingest_ranges"
BATCH = "ingest_batch"


def stage_table(kind: str) -> str:
    return f"ingest_stage_{kind}"


def not_rejected(kind: str, alias: str = "s") -> str:
    return f"NOT EXISTS (SELECT 1 FROM {REJECTS} r WHERE r.kind = '{kind}' AND r.line = {alias}.line)"


def drop_work_tables(cursor) -> None:
    for table in (
        REJECTS,
        TOUCHED,
        RANGES,
        BATCH,
        *(stage_table(k) for k in ("merchants", "transactions", "metrics", "loans")),
    ):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def create_work_tables(cursor, d: Dialect, kinds: list[Kind]) -> None:
    drop_work_tables(cursor)
    temp = "TEMP"
    cursor.execute(
        f"CREATE {temp} TABLE {REJECTS} (kind {d.type('text')}, line {d.type('integer')},"
        f" col {d.type('text')}, reason {d.type('text')})"
    )
    cursor.execute(f"CREATE INDEX ingest_rejects_line ON {REJECTS} (kind, line)")
    for kind in kinds:
        columns = ", ".join(f"{name} {d.type(logical)}" for name, logical in kind.stage_columns)
        cursor.execute(
            f"CREATE {temp} TABLE {stage_table(kind.name)} (line {d.type('integer')}, {columns},"
            f" err_col {d.type('text')}, reason {d.type('text')})"
        )


class Stager:
    """Streams staging tuples into a staging table: COPY on PostgreSQL, batched inserts elsewhere."""

    BATCH = 5000

    def __init__(self, cursor, d: Dialect, kind: Kind):
        self.cursor = cursor
        self.d = d
        columns = ["line", *(name for name, _ in kind.stage_columns), "err_col", "reason"]
        self.table = stage_table(kind.name)
        self.columns = ", ".join(columns)
        self._n = len(columns)

    def __enter__(self):
        if self.d.postgres:
            # Django's wrapper exposes the psycopg 3 cursor, whose COPY formats rows in C.
            self._copy_cm = self.cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN")
            self.write = self._copy_cm.__enter__().write_row
        else:
            self._buffer: list[tuple] = []
            self._sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({', '.join(['%s'] * self._n)})"
            self.write = self._append
        return self

    def _append(self, row: tuple) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self.cursor.executemany(self._sql, self._buffer)
            self._buffer = []

    def __exit__(self, exc_type, exc, tb):
        if self.d.postgres:
            return self._copy_cm.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self._flush()
        return False
