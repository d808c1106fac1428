"""An owner's transactions file, made ready for the import.

On the "Link history" page every row of the file is the business's own, so the owner's file needs no
`merchant_id` column (and the page never shows the business's internal merchant id). The file is
copied with the business's id filled in: where the column is missing it is added, where a value is
empty it is set. A row that names another merchant is not copied (an owner must never write into
another merchant's history, and the import must not even look that merchant up): it becomes a
problem of the upload, reported with every other problem of the file in one list.

The copy keeps every line where it was (a row left out becomes blank lines, which the import skips),
so the import's problems name the owner's own line numbers, and it keeps the file's bytes: it is read
and written as Latin-1, which maps every byte to one character and back, so a byte that is not UTF-8
reaches the import as it was and is reported there on its line."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from underwriting.history.services import ImportIssue

FILE = "transactions"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class PreparedUpload:
    path: Path  # what to import: the copy, or the original when the import must judge the file whole
    issues: list[ImportIssue] = field(default_factory=list)  # the rows left out, and why


def owner_upload_prepare(*, source: Path, target: Path, merchant_id: str) -> PreparedUpload:
    """Copies `source` to `target` with every row given `merchant_id` (see the module docstring).

    A file the import must judge as a whole (UTF-16, no header row, a header that is not CSV) is
    returned as it is: the import names its problem on line 1."""
    with open(source, "rb") as raw:
        start = raw.read(3)
    if start[:2] in UTF16_BOMS:
        return PreparedUpload(source)
    skip = len(UTF8_BOM) if start == UTF8_BOM else 0
    issues: list[ImportIssue] = []
    with open(source, encoding="latin-1", newline="") as handle, \
            open(target, "w", encoding="latin-1", newline="") as out:
        handle.seek(skip)
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            return PreparedUpload(source)
        if not header:
            return PreparedUpload(source)
        names = [name.strip().lower() for name in header]
        added = "merchant_id" not in names
        column = len(header) if added else names.index("merchant_id")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*header, "merchant_id"] if added else header)
        out.write("\n" * (reader.line_num - 1))  # a header whose quoted name spans lines (absurd, but kept)
        last = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                issues.append(ImportIssue(FILE, reader.line_num, None, f"the row cannot be read as CSV ({exc})", FILE))
                out.write("\n" * (reader.line_num - last))
                last = reader.line_num
                continue
            lines, last = reader.line_num - last, reader.line_num
            problem = _problem(row, header, column, added, merchant_id)
            if problem is not None:
                issues.append(ImportIssue(FILE, reader.line_num, *problem, FILE))
                out.write("\n" * lines)
                continue
            if row:
                row = [*row, merchant_id] if added else [*row[:column], merchant_id, *row[column + 1:]]
            writer.writerow(row)
            # Line breaks inside quoted values are written as they were, so the row spans as many lines
            # as it did; should it span fewer, blank lines make up the difference.
            breaks = sum(value.count("\n") + value.count("\r") - value.count("\r\n") for value in row)
            out.write("\n" * max(0, lines - 1 - breaks))
    return PreparedUpload(target, issues)


def _problem(row: list[str], header: list[str], column: int, added: bool, merchant_id: str):
    """(column, reason) when the row cannot be copied as this business's, else None."""
    if not row:
        return None  # a blank line: the import skips it
    if added and len(row) != len(header):
        # The import would count the added column; say it in the owner's own terms.
        return None, f"the row has {len(row)} fields but the header has {len(header)}"
    if not added and len(row) > column:
        value = row[column].strip()
        if value and value != merchant_id:
            shown = value if len(value) <= 64 else value[:61] + "..."
            return "merchant_id", (f"{shown!r} is another merchant's id: every row of this file is taken as this "
                                   "business's, so leave the merchant_id column empty or out")
    return None
