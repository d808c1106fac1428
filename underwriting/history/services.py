"""Writes of the underwriting app: history import and rollup maintenance."""

from __future__ import annotations

import csv
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction

from accounts.models import Business, PartnerBank
from config import clock
from underwriting.history.ingest.consistency import history_checks
from underwriting.history.ingest.dialect import dialect_for
from underwriting.history.ingest.history_csv import rows_from_csv
from underwriting.history.ingest.pipeline import LOCK_NAMESPACE, ImportAborted, Outcome, run_import
from underwriting.history.ingest.rollups import rebuild_business
from underwriting.history.ingest.types import FileCounts, HistoryImportError, ImportIssue, ImportResult
from underwriting.history.models import (
    HistorySource,
    ImportRun,
    ImportStatus,
    LoanRecord,
    LoanRecordSource,
    LoanRecordStatus,
)
from underwriting.provenance import Provenance

__all__ = [
    "FileCounts",
    "HistoryImportError",
    "ImportIssue",
    "ImportResult",
    "business_rollups_rebuild",
    "credit_record_loan_open",
    "history_import",
]

logger = logging.getLogger(__name__)
RUN_ERRORS_KEPT = 50
PathLike = str | os.PathLike


def history_import(
    *,
    partner: PartnerBank,
    merchants: PathLike | None = None,
    transactions: PathLike | None = None,
    metrics: PathLike | None = None,
    loans: PathLike | None = None,
    skip_invalid: bool = False,
    progress: bool = False,
    source: str = "cli",
    provenance: str = Provenance.PARTNER_FEED,
    checks: dict[str, list[dict]] | None = None,
    known_issues: list[ImportIssue] | None = None,
) -> ImportResult:
    """Imports a partner's history files (see docs/data-format.md), in the order merchants,
    transactions, metrics, loans, in one database transaction.

    Any problem and `skip_invalid` False: nothing from any file is imported and HistoryImportError
    lists the problems. `skip_invalid` True: valid rows are imported and each file's rejected rows are
    written to `<file>.rejected.csv` (problems with a file as a whole still abort the call).
    Re-importing identical rows changes nothing; a transaction, metric or loan that differs from the
    stored one is a problem, never an overwrite. Rollups of every touched day are recomputed.

    `provenance` (underwriting/provenance.py) is recorded on the run and on one HistorySource per
    merchant whose history it adds to; `checks` ({merchant id: CheckResult.as_dict() list}) are the
    consistency checks of an uploaded file, stored with its merchant's source (docs/provenance.md).
    `known_issues` are problems the caller already found in the files (ImportIssue with its `kind`):
    reported with the import's own, in one list, and counted like them.
    """
    provenance = Provenance(provenance).value
    sources = _sources(merchants=merchants, transactions=transactions, metrics=metrics, loans=loans)
    if len(source) > ImportRun._meta.get_field("source").max_length:
        raise ValueError(f"source {source!r} is too long.")
    run = ImportRun.objects.create(
        partner=partner, source=source, provenance=provenance, files={kind: str(path) for kind, path in sources}
    )
    started = time.monotonic()
    try:
        with transaction.atomic():
            outcome = run_import(
                partner=partner, sources=sources, skip_invalid=skip_invalid, progress=progress, run_id=run.pk,
                provenance=provenance, known_issues=known_issues or (),
            )
            _record_success(run, partner, outcome, checks or {})
    except ImportAborted as aborted:
        _record_abort(run, aborted)
        raise HistoryImportError(aborted.errors, aborted.error_count, run.public_id) from None
    except BaseException:
        _mark_failed(run)
        raise
    return ImportResult(
        run_id=run.public_id,
        status=run.status,
        files=outcome.files,
        seconds=time.monotonic() - started,
        rollup_rows=outcome.rollup_rows,
        error_count=outcome.error_count,
        errors=outcome.errors,
    )


def _sources(**paths: PathLike | None) -> list[tuple[str, Path]]:
    """The files given, in the order they are imported (merchants, transactions, metrics, loans)."""
    sources = [(kind, Path(path)) for kind, path in paths.items() if path is not None]
    if not sources:
        raise ValueError("history_import needs at least one file.")
    return sources


def _record_success(run: ImportRun, partner: PartnerBank, outcome: Outcome, checks: dict[str, list[dict]]) -> None:
    for merchant_id, results in checks.items():
        HistorySource.objects.filter(
            import_run=run, business__partner=partner, business__external_id=merchant_id
        ).update(checks=results)
    run.status = ImportStatus.PARTIAL if outcome.error_count else ImportStatus.SUCCEEDED
    run.counts = {kind: counts.as_dict() for kind, counts in outcome.files.items()}
    run.error_count = outcome.error_count
    run.errors_sample = [e.as_dict() for e in outcome.errors[:RUN_ERRORS_KEPT]]
    run.finished_at = clock.now()
    run.save()


def _record_abort(run: ImportRun, aborted: ImportAborted) -> None:
    run.status = ImportStatus.FAILED
    run.counts = {kind: {"path": c.path, "read": c.read} for kind, c in aborted.files.items()}
    run.error_count = aborted.error_count
    run.errors_sample = [e.as_dict() for e in aborted.errors[:RUN_ERRORS_KEPT]]
    run.finished_at = clock.now()
    run.save()


def _mark_failed(run: ImportRun) -> None:
    # Best effort: the connection may be the thing that failed, and the original error matters more.
    try:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.FAILED, finished_at=clock.now())
    except Exception:
        logger.exception("could not mark import run %s as failed", run.public_id)


@transaction.atomic
def history_file_checks(*, path: Path, merchant_id: str) -> list[dict]:
    """The consistency checks of one merchant's transactions file (docs/provenance.md), as stored with
    the batch it adds. A file the checks cannot read is flagged, not called clean; the import names its
    bad lines."""
    try:
        rows = rows_from_csv(path, merchant_id=merchant_id)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        return [{"code": "DC_UNCHECKED", "title": "The file could not be checked", "tripped": True,
                 "applicable": False, "detail": f"The consistency checks could not read the file: {exc}"}]
    return [result.as_dict() for result in history_checks(rows, now=clock.now())]


def import_runs_expire_stale(*, max_age_hours: int = 24) -> int:
    """Marks failed every import still 'running' after `max_age_hours`: its process died, and the audit
    trail must not say it is still going. Returns how many."""
    now = clock.now()
    return ImportRun.objects.filter(status=ImportStatus.RUNNING, started_at__lt=now - timedelta(hours=max_age_hours)).update(
        status=ImportStatus.FAILED, finished_at=now
    )


@transaction.atomic
def business_rollups_rebuild(*, business_id: int) -> int:
    """Recomputes one merchant's daily rollups, counterparty rollups and daily balances from its raw
    transactions (delete and re-aggregate, set-based, in one transaction: a reader never sees the
    rollups half rebuilt). Safe to run twice at once: the partner's import lock is held until commit
    (on SQLite the database has one writer), so a second run waits and then writes the same rows.
    Returns the number of rollup rows written."""
    d = dialect_for(connection)
    with connection.cursor() as cursor:
        if d.postgres:
            partner_id = Business.objects.filter(pk=business_id).values_list("partner_id", flat=True).first()
            if partner_id is not None:
                # Queue behind a running import of the same partner (or another rebuild) rather than
                # race its recompute.
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, partner_id])
        return rebuild_business(cursor, d, business_id)


def history_import_rows(
    *,
    partner: PartnerBank,
    merchants: list[dict] | None = None,
    transactions: list[dict] | None = None,
    source: str = "api",
    provenance: str = Provenance.PARTNER_FEED,
) -> ImportResult:
    """`history_import` for rows already in memory (the partner API's JSON): each list of dicts, keyed by
    the interchange format's column names, is written to a temporary CSV and imported by the same
    service, so the rules, the checks and the all-or-nothing transaction are the CSV import's own. An
    error's `line` is the row's index plus 2 (line 1 is the header). A key absent from every row of a
    list is an absent column (optional columns keep the stored value, as in a file)."""
    import csv
    import tempfile

    lists = {"merchants": merchants, "transactions": transactions}
    with tempfile.TemporaryDirectory(prefix="rows-import-") as folder:
        paths: dict[str, Path] = {}
        for kind, rows in lists.items():
            if rows is None:
                continue
            columns = list(dict.fromkeys(c for row in rows for c in row))  # first-seen order
            path = Path(folder) / f"{kind}.csv"
            with open(path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in columns])
            paths[kind] = path
        return history_import(partner=partner, source=source, provenance=provenance, **paths)


@transaction.atomic
def credit_record_loan_open(
    *, business: Business, loan_id: str, originated_on, amount, term_months: int
) -> LoanRecord:
    """Adds a loan the platform itself disbursed to the business's credit record (within its
    partner), current and 0 days past due. The lending workflow reports servicing facts downward
    through this service; underwriting never reads the workflow's tables. Safe to call twice: a
    record already there is returned unchanged."""
    record, _ = LoanRecord.objects.get_or_create(
        partner_id=business.partner_id,
        loan_id=loan_id,
        defaults={
            "business": business,
            "source": LoanRecordSource.PLATFORM,
            "originated_on": originated_on,
            "amount": amount,
            "term_months": int(term_months),
            "status": LoanRecordStatus.CURRENT,
            "days_past_due": 0,
        },
    )
    if record.business_id != business.pk:
        raise ValueError(f"loan id {loan_id!r} already belongs to another business of this partner")
    return record
