"""What an import reports back: per-file counts, the problems found, and the exception for a failed call."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

# The order files are processed in, which is also the order errors are listed in.
FILE_KINDS = ("merchants", "transactions", "metrics", "loans")


@dataclass(frozen=True)
class ImportIssue:
    """One problem in an input file. `line` follows csv.reader's line_num: the header is line 1."""

    file: str
    line: int
    column: str | None
    reason: str
    kind: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:"
        return f"{where} {self.column}: {self.reason}" if self.column else f"{where} {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}


@dataclass
class FileCounts:
    """Row counts of one input file. read = inserted + unchanged + updated + rejected."""

    kind: str
    path: str
    read: int = 0
    inserted: int = 0
    unchanged: int = 0
    updated: int = 0
    rejected: int = 0
    rejected_path: str | None = None

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "read": self.read,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "updated": self.updated,
            "rejected": self.rejected,
            "rejected_path": self.rejected_path,
        }


@dataclass(frozen=True)
class ImportResult:
    run_id: UUID
    status: str
    files: dict[str, FileCounts]
    seconds: float
    rollup_rows: int = 0
    error_count: int = 0
    errors: list[ImportIssue] = field(default_factory=list)

    @property
    def transactions_inserted(self) -> int:
        counts = self.files.get("transactions")
        return counts.inserted if counts else 0

    @property
    def transactions_per_second(self) -> float:
        counts = self.files.get("transactions")
        if counts is None or self.seconds <= 0:
            return 0.0
        return counts.read / self.seconds


class HistoryImportError(Exception):
    """Nothing from the call was imported. `errors` holds the first problems found (in file and line
    order, at most `ERROR_SAMPLE` of them); `error_count` counts them all."""

    def __init__(self, errors: list[ImportIssue], error_count: int, run_id: UUID | None = None):
        self.errors = errors
        self.error_count = error_count
        self.run_id = run_id
        first = f": {errors[0]}" if errors else ""
        super().__init__(f"{error_count} error(s) in the input, nothing was imported{first}")
