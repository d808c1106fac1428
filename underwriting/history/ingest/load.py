"""The set-based half of the import: checks that need the whole file or the database
(duplicates, unknown merchants, conflicting re-imports), the inserts, and the touched-day rollups.

Rejected lines of every file go to one table, ingest_rejects(kind, line, col, reason); a row is
imported only if it has no line there. The statements are shared by PostgreSQL and SQLite.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.models import Business
from underwriting.history.ingest.dialect import Dialect
from underwriting.history.ingest.rollups import CR, ROLLUP_TABLES, T, rollup_statements
from underwriting.history.ingest.staging import BATCH, RANGES, REJECTS, TOUCHED, not_rejected, stage_table
from underwriting.history.models import HistorySource, LoanRecord, MerchantMetric, Transaction

B = Business._meta.db_table
MM = MerchantMetric._meta.db_table
L = LoanRecord._meta.db_table
logger = logging.getLogger(__name__)
BATCH_COLUMNS = "business_id, day, occurred_at, transaction_id, direction, kind, amount_minor, counterparty, balance_after_minor"
assert Transaction._meta.db_table == T


class _Retry(Exception):
    """The optimistic insert did not take every row: roll it back and check."""


@dataclass
class KindOutcome:
    inserted: int = 0
    updated: int = 0
    new_rejects: int = 0
    rollup_rows: int = 0


def _as_date(value) -> dt.date:
    # SQLite hands dates back as text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


class Loader:
    """Runs one call's set-based steps. `doomed` means the call will be rolled back: checks still run
    (every problem is reported) but nothing is written that a later check does not need."""

    def __init__(self, cursor, d: Dialect, *, partner_id: int, now, skip_invalid: bool,
                 run_id: int | None = None, provenance: str = "partner_feed"):
        self.cursor = cursor
        self.d = d
        self.pid = int(partner_id)
        self.now = now
        self.skip_invalid = skip_invalid
        self.run_id = run_id
        self.provenance = provenance
        self.merchants_file: str | None = None
        self.check_merchants = True

    # --- shared steps ---------------------------------------------------------------------------
    def _execute(self, sql: str, params: list | None = None) -> int:
        started = time.perf_counter()
        self.cursor.execute(sql, params)
        rows = self.d.rowcount(self.cursor)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%.2f s, %s rows: %s",
                time.perf_counter() - started,
                rows,
                " ".join(sql.split())[:160],
            )
        return rows

    def move_parse_errors(self, kind: str) -> None:
        self._execute(
            f"INSERT INTO {REJECTS} (kind, line, col, reason) SELECT '{kind}', line, err_col, reason"
            f" FROM {stage_table(kind)} WHERE reason IS NOT NULL"
        )

    def analyze(self, kind: str) -> None:
        if self.d.postgres:
            # Temp tables are never auto-analyzed; the join and aggregate plans need row counts.
            self.cursor.execute(f"ANALYZE {stage_table(kind)}")
        else:
            # SQLite joins the partner's merchants (by their partner index) to the staging rows with
            # the merchants in the outer loop: without an index it scanned the whole staging table
            # once per merchant (the demo's 1,000 merchants x 724,000 rows took over a minute).
            table = stage_table(kind)
            self.cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_merchant ON {table} (merchant_id)")

    def id_check_rows(self, keys: list[str], alias: str = "") -> str:
        """Which staged rows the id checks (duplicates, unknown merchants) look at. With skip_invalid the
        rows that passed the row checks, as the rejected file documents. All or nothing, also the rows
        rejected for another problem whose ids are valid (RowParser.error_tuples): nothing is imported
        anyway, and one pass then reports every problem of the file."""
        prefix = f"{alias}." if alias else ""
        if self.skip_invalid:
            return f"{prefix}reason IS NULL"
        return " AND ".join(f"{prefix}{key} IS NOT NULL" for key in keys)

    def reject_duplicates(self, kind: str, keys: list[str], column: str, label: str) -> int:
        keylist = ", ".join(keys)
        return self._execute(
            f"""INSERT INTO {REJECTS} (kind, line, col, reason)
            SELECT '{kind}', line, '{column}',
                'duplicate ' || {label} || ' (first seen on line ' || CAST(first_line AS TEXT) || ')'
            FROM (
                SELECT line, {keylist}, MIN(line) OVER (PARTITION BY {keylist}) AS first_line
                FROM {stage_table(kind)} WHERE {self.id_check_rows(keys)}
            ) x
            WHERE line > first_line"""
        )

    def reject_unknown_merchants(self, kind: str) -> int:
        if not self.check_merchants:
            return 0
        hint_join = ""
        hint = "': this partner has no such merchant (import it in a merchants file first)'"
        params: list = []
        if self.merchants_file is not None:
            hint_join = f"""LEFT JOIN (
                SELECT ms.merchant_id, MIN(ms.line) AS line FROM {stage_table("merchants")} ms
                WHERE ms.merchant_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM {REJECTS} r WHERE r.kind = 'merchants' AND r.line = ms.line)
                GROUP BY ms.merchant_id
            ) rm ON rm.merchant_id = s.merchant_id"""
            hint = f"COALESCE(': its row on line ' || CAST(rm.line AS TEXT) || ' of ' || %s || ' was rejected', {hint})"
            params.append(self.merchants_file)
        params.append(self.pid)
        return self._execute(
            f"""INSERT INTO {REJECTS} (kind, line, col, reason)
            SELECT '{kind}', s.line, 'merchant_id', 'unknown merchant_id "' || s.merchant_id || '"' || {hint}
            FROM {stage_table(kind)} s {hint_join}
            WHERE {self.id_check_rows(["merchant_id"], "s")}
              AND NOT EXISTS (SELECT 1 FROM {B} b WHERE b.partner_id = %s AND b.external_id = s.merchant_id)""",
            params,
        )

    def _reject_conflicts(
        self, kind: str, joins: str, params: list, differs: list[tuple[str, str]], label: str
    ) -> int:
        """`differs`: (CSV column, SQL condition true when the stored value differs), in column order."""
        case = " ".join(f"WHEN {cond} THEN '{col}'" for col, cond in differs)
        first = f"CASE {case} END"
        any_diff = " OR ".join(f"({cond})" for _, cond in differs)
        return self._execute(
            f"""INSERT INTO {REJECTS} (kind, line, col, reason)
            SELECT '{kind}', s.line, {first},
                {label} || ' was already imported with a different ' || {first}
                    || '; a re-import must be identical (history is never overwritten)'
            FROM {stage_table(kind)} s {joins}
            WHERE s.reason IS NULL AND {not_rejected(kind)} AND ({any_diff})""",
            params,
        )

    def rejected_lines(self, kind: str) -> int:
        self.cursor.execute(f"SELECT COUNT(DISTINCT line) FROM {REJECTS} WHERE kind = %s", [kind])
        return self.cursor.fetchone()[0]

    # --- merchants --------------------------------------------------------------------------------
    def load_merchants(self, present: set[str]) -> KindOutcome:
        out = KindOutcome()
        kind = "merchants"
        self.analyze(kind)
        out.new_rejects += self.reject_duplicates(
            kind, ["merchant_id"], "merchant_id", """'merchant_id "' || merchant_id || '"'"""
        )
        # Written even when the call is doomed (it will be rolled back): later files are checked
        # against these merchants.
        mutable = [("legal_name", False), ("sector", False), ("region", False), ("onboarded_on", False)]
        if "established_on" in present:
            mutable.append(("established_on", True))
        if "registration_number" in present:
            mutable.append(("registration_number", False))
        sets = ", ".join(f"{c} = s.{c}" for c, _ in mutable)
        differs = " OR ".join(
            self.d.distinct(f"b.{c}", f"s.{c}") if nullable else f"b.{c} <> s.{c}" for c, nullable in mutable
        )
        out.updated = self._execute(
            f"""UPDATE {B} AS b SET {sets}, updated_at = %s
            FROM {stage_table(kind)} s
            WHERE b.partner_id = %s AND b.external_id = s.merchant_id AND s.reason IS NULL
              AND {not_rejected(kind)} AND ({differs})""",
            [self.now, self.pid],
        )
        out.inserted = self._execute(
            f"""INSERT INTO {B} (public_id, partner_id, external_id, legal_name, registration_number, sector,
                region, established_on, onboarded_on, owner_id, is_blocked, created_at, updated_at)
            SELECT {self.d.new_uuid}, %s, s.merchant_id, s.legal_name, COALESCE(s.registration_number, ''),
                s.sector, s.region, s.established_on, s.onboarded_on, NULL, %s, %s, %s
            FROM {stage_table(kind)} s
            WHERE s.reason IS NULL AND {not_rejected(kind)}
              AND NOT EXISTS (SELECT 1 FROM {B} b WHERE b.partner_id = %s AND b.external_id = s.merchant_id)""",
            [self.pid, False, self.now, self.now, self.pid],
        )
        return out

    # --- metrics ----------------------------------------------------------------------------------
    def load_metrics(self, *, doomed: bool, staged_valid: int) -> KindOutcome:
        out = KindOutcome()
        kind = "metrics"
        stage = stage_table(kind)
        self.analyze(kind)
        if not doomed:
            # Optimistic, as for transactions: a clean file goes in with one plain insert; a repeated
            # key fails it, an unknown merchant shortens it, and only then do the checks run.
            try:
                with transaction.atomic():
                    inserted = self._execute(
                        f"""INSERT INTO {MM} (business_id, observed_on, metric, value)
                        SELECT b.id, s.observed_on, s.metric, s.value
                        FROM {stage} s JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
                        WHERE s.reason IS NULL ORDER BY b.id, s.observed_on, s.metric""",
                        [self.pid],
                    )
                    if inserted != staged_valid:
                        raise _Retry
                out.inserted = inserted
                return out
            except (IntegrityError, _Retry):
                pass
        out.new_rejects += self.reject_duplicates(
            kind,
            ["merchant_id", "observed_on", "metric"],
            "metric",
            """'metric "' || metric || '" of merchant "' || merchant_id || '" on ' || CAST(observed_on AS TEXT)""",
        )
        out.new_rejects += self.reject_unknown_merchants(kind)
        out.new_rejects += self._reject_conflicts(
            kind,
            f"""JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
            JOIN {MM} m ON m.business_id = b.id AND m.observed_on = s.observed_on AND m.metric = s.metric""",
            [self.pid],
            [("value", "m.value <> s.value")],
            """'metric "' || s.metric || '" of merchant "' || s.merchant_id || '" on ' || CAST(s.observed_on AS TEXT)""",
        )
        if doomed or (out.new_rejects and not self.skip_invalid):
            return out
        out.inserted = self._execute(
            f"""INSERT INTO {MM} (business_id, observed_on, metric, value)
            SELECT b.id, s.observed_on, s.metric, s.value
            FROM {stage} s JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
            WHERE s.reason IS NULL AND {not_rejected(kind)}
            ORDER BY b.id, s.observed_on, s.metric
            ON CONFLICT DO NOTHING""",
            [self.pid],
        )
        return out

    # --- loans ------------------------------------------------------------------------------------
    def load_loans(self, *, doomed: bool) -> KindOutcome:
        out = KindOutcome()
        kind = "loans"
        d = self.d
        self.analyze(kind)
        out.new_rejects += self.reject_duplicates(
            kind, ["loan_id"], "loan_id", """'loan_id "' || loan_id || '"'"""
        )
        out.new_rejects += self.reject_unknown_merchants(kind)
        out.new_rejects += self._reject_conflicts(
            kind,
            f"""JOIN {L} l ON l.partner_id = %s AND l.loan_id = s.loan_id
            JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id""",
            [self.pid, self.pid],
            [
                ("loan_id", "l.source <> 'imported'"),
                ("merchant_id", "l.business_id <> b.id"),
                ("originated_on", "l.originated_on <> s.originated_on"),
                ("amount", "l.amount <> s.amount"),
                ("term_months", "l.term_months <> s.term_months"),
                ("status", d.distinct("l.status", "s.status")),
                ("defaulted_on", d.distinct("l.defaulted_on", "s.defaulted_on")),
            ],
            """'loan_id "' || s.loan_id || '"'""",
        )
        if doomed or (out.new_rejects and not self.skip_invalid):
            return out
        out.inserted = self._execute(
            f"""INSERT INTO {L} (public_id, partner_id, business_id, loan_id, source, originated_on, amount,
                term_months, status, defaulted_on, days_past_due, updated_at)
            SELECT {d.new_uuid}, %s, b.id, s.loan_id, 'imported', s.originated_on, s.amount, s.term_months,
                s.status, s.defaulted_on, 0, %s
            FROM {stage_table(kind)} s JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
            WHERE s.reason IS NULL AND {not_rejected(kind)}
              AND NOT EXISTS (SELECT 1 FROM {L} l WHERE l.partner_id = %s AND l.loan_id = s.loan_id)""",
            [self.pid, self.now, self.pid, self.pid],
        )
        return out

    # --- transactions -----------------------------------------------------------------------------
    def _check_transactions(self, *, unknown: bool = True) -> tuple[int, int]:
        """Every problem that needs the whole file or the database. Returns (found, of which duplicates)."""
        kind = "transactions"
        dups = n = self.reject_duplicates(
            kind,
            ["merchant_id", "transaction_id"],
            "transaction_id",
            """'transaction_id "' || transaction_id || '" of merchant "' || merchant_id || '"'""",
        )
        if unknown:
            n += self.reject_unknown_merchants(kind)
        n += self._reject_conflicts(
            kind,
            f"""JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
            JOIN {T} t ON t.business_id = b.id AND t.transaction_id = s.transaction_id""",
            [self.pid],
            [
                ("occurred_at", "t.occurred_at <> s.occurred_at"),
                ("amount", "t.amount_minor <> s.amount_minor"),
                ("direction", "t.direction <> s.direction"),
                ("kind", "t.kind <> s.kind"),
                ("counterparty", self.d.distinct("t.counterparty", "s.counterparty")),
                ("balance_after", self.d.distinct("t.balance_after_minor", "s.balance_after_minor")),
            ],
            """'transaction_id "' || s.transaction_id || '" of merchant "' || s.merchant_id || '"'""",
        )
        return n, dups

    def _build_batch(self, *, careful: bool) -> int:
        """The accepted rows with their business id and UTC day, sorted by (business, day): inserting
        in that order fills each index in runs instead of scattering writes over it, stores a merchant's
        history contiguously, and lets the rollups aggregate presorted input."""
        d = self.d
        kind = "transactions"
        self.cursor.execute(f"DROP TABLE IF EXISTS {BATCH}")
        self.cursor.execute(
            f"""CREATE TEMP TABLE {BATCH} (business_id {d.type("bigint")}, day {d.type("date")},
            transaction_id {d.type("text")}, occurred_at {d.type("datetime")}, amount_minor {d.type("bigint")},
            direction {d.type("smallint")}, kind {d.type("smallint")}, counterparty {d.type("text")},
            balance_after_minor {d.type("bigint")})"""
        )
        extra = ""
        if careful:
            # Rows already stored (identical, or a rejected conflict) are left out: the batch is then
            # exactly the new rows, and its days exactly the days whose rollups change.
            extra = f""" AND {not_rejected(kind)} AND NOT EXISTS (
                SELECT 1 FROM {T} t WHERE t.business_id = b.id AND t.transaction_id = s.transaction_id)"""
        n = self._execute(
            f"""INSERT INTO {BATCH} (business_id, day, transaction_id, occurred_at, amount_minor, direction, kind,
                counterparty, balance_after_minor)
            SELECT b.id, {d.day("s.occurred_at")}, s.transaction_id, s.occurred_at, s.amount_minor, s.direction,
                s.kind, s.counterparty, s.balance_after_minor
            FROM {stage_table(kind)} s JOIN {B} b ON b.partner_id = %s AND b.external_id = s.merchant_id
            WHERE s.reason IS NULL{extra}
            ORDER BY 1, 2, s.direction, s.kind, s.occurred_at""",
            [self.pid],
        )
        if d.postgres:
            self.cursor.execute(f"ANALYZE {BATCH}")
        return n

    def _insert_transactions(self) -> int:
        # The batch is read in the order it was written (a heap scan of a fresh temp table).
        return self._execute(
            f"""INSERT INTO {T} (business_id, transaction_id, occurred_at, amount_minor, direction, kind,
                counterparty, balance_after_minor)
            SELECT business_id, transaction_id, occurred_at, amount_minor, direction, kind, counterparty,
                balance_after_minor
            FROM {BATCH}"""
        )

    def _touched_days(self) -> tuple[bool, bool]:
        """Per merchant in the batch, the span of days it covers and whether the merchant had any
        transaction in that span before this import ("fresh"); for the other merchants, the
        (merchant, day) pairs to recompute. Returns (every merchant fresh, some merchant fresh).
        Call before inserting the batch."""
        d = self.d
        for table in (TOUCHED, RANGES):
            self.cursor.execute(f"DROP TABLE IF EXISTS {table}")
        self.cursor.execute(
            f"CREATE TEMP TABLE {TOUCHED} (business_id {d.type('bigint')}, day {d.type('date')})"
        )
        self.cursor.execute(
            f"""CREATE TEMP TABLE {RANGES} (business_id {d.type("bigint")}, lo_day {d.type("date")},
            hi_day {d.type("date")}, lo {d.type("datetime")}, hi {d.type("datetime")}, fresh {d.type("boolean")})"""
        )
        self._execute(
            f"""INSERT INTO {RANGES} (business_id, lo_day, hi_day, lo, hi, fresh)
            SELECT x.business_id, x.lo_day, x.hi_day, x.lo, x.hi, NOT EXISTS (
                SELECT 1 FROM {T} t WHERE t.business_id = x.business_id AND t.occurred_at >= x.lo
                  AND t.occurred_at < x.hi)
            FROM (
                SELECT business_id, MIN(day) AS lo_day, MAX(day) AS hi_day,
                    {d.day_start("MIN(day)")} AS lo, {d.day_end("MAX(day)")} AS hi
                FROM {BATCH} GROUP BY business_id
            ) x"""
        )
        self.cursor.execute(f"SELECT COUNT(*), SUM(CASE WHEN fresh THEN 1 ELSE 0 END) FROM {RANGES}")
        total, fresh = self.cursor.fetchone()
        fresh = fresh or 0
        if fresh < total:
            self._execute(
                f"""INSERT INTO {TOUCHED} (business_id, day)
                SELECT DISTINCT x.business_id, x.day FROM {BATCH} x
                JOIN {RANGES} r ON r.business_id = x.business_id WHERE NOT r.fresh"""
            )
        self.cursor.execute(f"CREATE INDEX ingest_touched_day ON {TOUCHED} (business_id, day)")
        if d.postgres:
            self.cursor.execute(f"ANALYZE {TOUCHED}")
            self.cursor.execute(f"ANALYZE {RANGES}")
        return fresh == total, fresh > 0

    def _rollups(self, *, all_fresh: bool, any_fresh: bool) -> int:
        """Recomputes every touched day. A fresh merchant's days hold exactly the batch's rows, so they
        are aggregated from the batch (presorted, in cache) after clearing any stale rollup rows in the
        span; other merchants' touched days are re-read from the transactions table, old rows and new,
        and upserted."""
        d = self.d
        written = 0
        if d.postgres:
            # The batch is sorted by (business, day): sorting presorted rows is a linear pass, and
            # grouping them streams rows out in key order, where hashing would scatter them.
            self.cursor.execute("SET LOCAL enable_hashagg = off")
        if any_fresh:
            for table in ROLLUP_TABLES:
                self._execute(d.delete_days(table, RANGES))
            src = (
                f"SELECT {BATCH_COLUMNS} FROM {BATCH}"
                if all_fresh
                else f"SELECT {', '.join('x.' + c for c in BATCH_COLUMNS.split(', '))} FROM {BATCH} x"
                f" JOIN {RANGES} r ON r.business_id = x.business_id WHERE r.fresh"
            )
            written += sum(self._execute(sql) for sql in rollup_statements(d, src, upsert=False))
        if not all_fresh:
            # The day's top counterparties may change: its old selection goes before the new is written.
            self._execute(d.delete_touched(CR, TOUCHED))
            src = f"""
                SELECT t.business_id, {d.day("t.occurred_at")} AS day, t.occurred_at, t.transaction_id,
                    t.direction, t.kind, t.amount_minor, t.counterparty, t.balance_after_minor
                FROM {RANGES} r
                JOIN {T} t ON t.business_id = r.business_id AND t.occurred_at >= r.lo AND t.occurred_at < r.hi
                WHERE NOT r.fresh AND EXISTS (
                    SELECT 1 FROM {TOUCHED} x WHERE x.business_id = t.business_id AND x.day = {d.day("t.occurred_at")})
            """
            written += sum(self._execute(sql) for sql in rollup_statements(d, src, upsert=True))
        if d.postgres:
            self.cursor.execute("RESET enable_hashagg")
        return written

    def load_transactions(self, *, doomed: bool, staged_valid: int) -> KindOutcome:
        out = KindOutcome()
        kind = "transactions"
        self.analyze(kind)
        if doomed:
            out.new_rejects, _ = self._check_transactions()
            return out
        unknown_checked = False
        if self._build_batch(careful=False) < staged_valid:
            # Only an unknown merchant drops a row from the batch.
            if not self.skip_invalid:
                out.new_rejects, _ = self._check_transactions()
                return out
            out.new_rejects += self.reject_unknown_merchants(kind)
            unknown_checked = True
        all_fresh, any_fresh = self._touched_days()
        # Optimistic: a plain insert of the whole batch. It fails on the first id already stored or
        # repeated in the file; only then are those (costlier) checks run.
        try:
            with transaction.atomic():
                out.inserted = self._insert_transactions()
        except IntegrityError:
            found, _ = self._check_transactions(unknown=not unknown_checked)
            out.new_rejects += found
            if out.new_rejects and not self.skip_invalid:
                return out
            self._build_batch(careful=True)
            all_fresh, any_fresh = self._touched_days()
            out.inserted = self._insert_transactions()
        out.rollup_rows = self._rollups(all_fresh=all_fresh, any_fresh=any_fresh)
        self._record_sources()
        return out

    def _record_sources(self) -> None:
        """One HistorySource per merchant this batch added transactions to (the batch table holds
        exactly the inserted rows here): what the decision reads provenance from."""
        if self.run_id is None:
            return

        self.cursor.execute(
            f"SELECT business_id, COUNT(*), MIN(day), MAX(day) FROM {BATCH} GROUP BY business_id ORDER BY business_id"
        )
        HistorySource.objects.bulk_create(
            [HistorySource(import_run_id=self.run_id, business_id=business_id, provenance=self.provenance,
                           transactions=count, first_day=_as_date(first), last_day=_as_date(last))
             for business_id, count, first, last in self.cursor.fetchall()],
            batch_size=2000,
        )
