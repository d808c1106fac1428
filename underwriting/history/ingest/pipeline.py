"""One import call: stream each file into staging, run the set-based checks and inserts in file order,
then either hand back the counts or abort with the problems found. Must run inside a transaction."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

from accounts.models import PartnerBank
from config import clock
from underwriting.history.ingest.csvio import SUSPECT_BYTES, file_size, open_text, rejected_path_for
from underwriting.history.ingest.dialect import Dialect, dialect_for
from underwriting.history.ingest.load import KindOutcome, Loader
from underwriting.history.ingest.rows import (
    HeaderError,
    Kind,
    RowParser,
    StageCounts,
    kinds_for,
    stage_metrics,
    stage_rows,
    stage_transactions,
)
from underwriting.history.ingest.staging import REJECTS, Stager, create_work_tables, drop_work_tables
from underwriting.history.ingest.types import FILE_KINDS, FileCounts, ImportIssue

ERROR_SAMPLE = 1000
# pg_advisory_xact_lock(namespace, partner): imports of one partner queue instead of interleaving, so
# each one's touched-day recompute sees every committed row of those days.
LOCK_NAMESPACE = 310_0001


class ImportAborted(Exception):
    def __init__(self, errors: list[ImportIssue], error_count: int, files: dict[str, FileCounts]):
        super().__init__(f"{error_count} error(s)")
        self.errors = errors
        self.error_count = error_count
        self.files = files


@dataclass
class Outcome:
    files: dict[str, FileCounts]
    rollup_rows: int = 0
    error_count: int = 0
    errors: list[ImportIssue] = field(default_factory=list)


class _Progress:
    def __init__(self, enabled: bool, total: int):
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True)

    @property
    def on_read(self):
        return self._bar.update if self._bar is not None else None

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_import(
    *, partner: PartnerBank, sources: list[tuple[str, Path]], skip_invalid: bool, progress: bool,
    run_id: int | None = None, provenance: str = "partner_feed", known_issues: Iterable[ImportIssue] = (),
) -> Outcome:
    """`known_issues`: problems the caller found in the files itself (e.g. rows it left out of them);
    they are reported with the import's own, in one list, and counted like them."""
    d = dialect_for(connection)
    names = {kind: path.name for kind, path in sources}
    bar = _Progress(progress, sum(file_size(p) for _, p in sources))
    try:
        with connection.cursor() as cursor:
            if d.postgres:
                _configure_transaction(cursor, partner)
            kinds = kinds_for(partner.currency, today=clock.today())
            create_work_tables(cursor, d, [kinds[k] for k, _ in sources])
            loader = Loader(
                cursor,
                d,
                partner_id=partner.pk,
                now=connection.ops.adapt_datetimefield_value(clock.now()),
                skip_invalid=skip_invalid,
                run_id=run_id,
                provenance=provenance,
            )
            outcome = Outcome(files={})
            problems = _record_known_issues(cursor, known_issues)
            fatal = _load_files(cursor, d, loader, kinds, sources, outcome, problems, partner.currency, bar)
            cursor.execute(f"SELECT COUNT(*) FROM {REJECTS}")
            outcome.error_count = cursor.fetchone()[0]
            if outcome.error_count and (fatal or not skip_invalid):
                raise ImportAborted(_sample(cursor, names, ERROR_SAMPLE), outcome.error_count, outcome.files)
            _finish_counts(cursor, loader, sources, outcome, skip_invalid)
            outcome.errors = _sample(cursor, names, ERROR_SAMPLE) if outcome.error_count else []
            drop_work_tables(cursor)
            return outcome
    finally:
        bar.close()


def _configure_transaction(cursor, partner: PartnerBank) -> None:
    # The call is one transaction: a crash right after commit loses the import whole (its run
    # record stays 'running'), never half of it, so the commit need not wait for the WAL flush.
    cursor.execute("SET LOCAL synchronous_commit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL timezone = 'UTC'")
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, partner.pk])


def _record_known_issues(cursor, known_issues: Iterable[ImportIssue]) -> int:
    problems = 0
    for issue in known_issues:
        cursor.execute(
            f"INSERT INTO {REJECTS} (kind, line, col, reason) VALUES (%s, %s, %s, %s)",
            [issue.kind, issue.line, issue.column, issue.reason],
        )
        problems += 1
    return problems


def _load_files(
    cursor, d: Dialect, loader: Loader, kinds: dict[str, Kind], sources: list[tuple[str, Path]],
    outcome: Outcome, problems: int, currency: str, bar: _Progress,
) -> bool:
    """Stages and loads each file in order, filling `outcome`. `problems` counts those found so far.
    Returns whether a file as a whole was unusable (the call then fails even with skip_invalid)."""
    skip_invalid = loader.skip_invalid
    fatal = False
    merchants_fatal = False
    for kind, path in sources:
        counts = FileCounts(kind=kind, path=str(path))
        outcome.files[kind] = counts
        bar.describe(path.name)
        staged = _stage_file(cursor, d, kinds[kind], path, counts, currency, bar)
        if staged is None:
            fatal = True
            merchants_fatal |= kind == "merchants"
            continue
        parser, stage_counts = staged
        problems += stage_counts.errors
        if stage_counts.errors:
            loader.move_parse_errors(kind)
        doomed = fatal or (problems > 0 and not skip_invalid)
        bar.describe(f"loading {kind}")
        # With the merchants file unusable every merchant would look unknown; its own error says why.
        loader.check_merchants = not merchants_fatal
        result = _load_kind(loader, kind, path, parser, stage_counts, doomed=doomed)
        problems += result.new_rejects
        counts.inserted, counts.updated = result.inserted, result.updated
        outcome.rollup_rows += result.rollup_rows
    return fatal


def _load_kind(
    loader: Loader, kind: str, path: Path, parser: RowParser, stage_counts: StageCounts, *, doomed: bool
) -> KindOutcome:
    if kind == "merchants":
        loader.merchants_file = path.name
        return loader.load_merchants(parser.present)
    if kind == "transactions":
        return loader.load_transactions(doomed=doomed, staged_valid=stage_counts.valid)
    if kind == "metrics":
        return loader.load_metrics(doomed=doomed, staged_valid=stage_counts.valid)
    return loader.load_loans(doomed=doomed)


def _finish_counts(
    cursor, loader: Loader, sources: list[tuple[str, Path]], outcome: Outcome, skip_invalid: bool
) -> None:
    """Each file's rejected and unchanged rows, and with skip_invalid its `<file>.rejected.csv`."""
    for kind, path in sources:
        counts = outcome.files[kind]
        counts.rejected = loader.rejected_lines(kind)
        counts.unchanged = counts.read - counts.rejected - counts.inserted - counts.updated
        if skip_invalid:
            counts.rejected_path = _write_rejected(cursor, kind, path, counts.rejected)


def _stage_file(
    cursor, d: Dialect, kind: Kind, path: Path, counts: FileCounts, currency: str, bar: _Progress
) -> tuple[RowParser, StageCounts] | None:
    """Streams one file into its staging table. None when the file as a whole is unusable (the problem
    is recorded against line 0 for a missing file, line 1 for the header)."""

    def file_error(line: int, column: str | None, reason: str) -> None:
        cursor.execute(
            f"INSERT INTO {REJECTS} (kind, line, col, reason) VALUES (%s, %s, %s, %s)",
            [kind.name, line, column, reason],
        )

    if not path.is_file():
        file_error(0, None, f"file not found: {path}")
        return None
    with open(path, "rb") as raw:
        start = raw.read(2)
    if start in (b"\xff\xfe", b"\xfe\xff"):
        file_error(1, None, "the file is UTF-16 encoded; save it as UTF-8")
        return None
    clean = SUSPECT_BYTES[0]
    with open_text(path, bar.on_read) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            file_error(1, None, "the file is empty: no header row")
            return None
        except csv.Error as exc:
            file_error(1, None, f"the header row cannot be read as CSV ({exc})")
            return None
        if not header:
            file_error(1, None, "the first line is empty; it must be the header row")
            return None
        try:
            parser = RowParser(kind, header)
        except HeaderError as exc:
            file_error(1, exc.column, exc.reason)
            return None
        with Stager(cursor, d, kind) as stager:
            if kind.name == "transactions":
                stage_counts = stage_transactions(
                    reader, parser, stager.write, currency, clean=clean, canonical=not d.postgres
                )
            elif kind.name == "metrics":
                stage_counts = stage_metrics(reader, parser, stager.write, clean=clean)
            else:
                stage_counts = stage_rows(reader, parser, stager.write, clean=clean)
    counts.read = stage_counts.read
    if stage_counts.read == 0:
        file_error(1, None, "the file has a header but no data rows")
        return None
    return parser, stage_counts


_KIND_ORDER = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(FILE_KINDS))


def _sample(cursor, names: dict[str, str], limit: int) -> list[ImportIssue]:
    cursor.execute(
        f"""SELECT kind, line, col, reason FROM {REJECTS}
        ORDER BY CASE kind {_KIND_ORDER} END, line, COALESCE(col, ''), reason LIMIT %s""",
        [limit],
    )
    return [
        ImportIssue(file=names.get(kind, kind), line=line, column=col, reason=reason, kind=kind)
        for kind, line, col, reason in cursor.fetchall()
    ]


def _reasons_by_line(cursor, kind: str) -> Iterator[tuple[int, str]]:
    """Rejected lines in order with their problems joined, a page at a time (memory stays bounded)."""
    last = -1
    while True:
        cursor.execute(
            f"SELECT DISTINCT line FROM {REJECTS} WHERE kind = %s AND line > %s ORDER BY line LIMIT 2000",
            [kind, last],
        )
        lines = [row[0] for row in cursor.fetchall()]
        if not lines:
            return
        cursor.execute(
            f"""SELECT line, col, reason FROM {REJECTS} WHERE kind = %s AND line >= %s AND line <= %s
            ORDER BY line, COALESCE(col, ''), reason""",
            [kind, lines[0], lines[-1]],
        )
        current, parts = None, []
        for line, col, reason in cursor.fetchall():
            if line != current and current is not None:
                yield current, "; ".join(parts)
                parts = []
            current = line
            parts.append(f"{col}: {reason}" if col else reason)
        if current is not None:
            yield current, "; ".join(parts)
        last = lines[-1]


def _write_rejected(cursor, kind: str, path: Path, rejected: int) -> str | None:
    """Writes `<file>.rejected.csv`: each rejected row as read, plus its line number and reasons."""
    out_path = rejected_path_for(path)
    if not rejected:
        out_path.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
        return None
    reasons = _reasons_by_line(cursor, kind)
    target = next(reasons, None)
    with open_text(path) as fh, open(out_path, "w", encoding="utf-8", errors="replace", newline="") as out:
        reader = csv.reader(fh)
        writer = csv.writer(out)
        header = next(reader)
        lowered = {h.strip().lower() for h in header}
        extra = [
            "line" if "line" not in lowered else "rejected_line",
            "reason" if "reason" not in lowered else "rejected_reason",
        ]
        writer.writerow([*header, *extra])
        while target is not None:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                row = []
            line = reader.line_num
            while target is not None and target[0] < line:
                target = next(reasons, None)  # pragma: no cover - lines are always found in order
            if target is not None and target[0] == line:
                writer.writerow([*row, line, target[1]])
                target = next(reasons, None)
    return str(out_path)
