"""Row validation for the four files: one reference parser per file kind, plus the lean loop that
stages transactions (the only file large enough for per-row cost to matter).

A parsed row becomes a staging tuple: (line, *values, err_col, reason). A rejected row becomes one
tuple per problem with the values left empty, so problems stream to the database with the data
instead of piling up in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from . import values as v
from .csvio import SUSPECT_BYTES


@dataclass(frozen=True)
class Field:
    name: str  # the CSV column
    parse: Callable[[str], Any]
    required_column: bool = True
    required_value: bool = True
    empty: Any = None  # stored when the value is empty (or the optional column is absent)
    staged: bool = True


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[Field, ...]
    stage_columns: tuple[tuple[str, str], ...]  # (column, logical type), excluding line/err_col/reason
    check: Callable[[dict], list[tuple[str, str]]] | None = None

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required_column]

    @property
    def known(self) -> set[str]:
        return {f.name for f in self.fields}


def _currency(partner_currency: str) -> Callable[[str], str]:
    def parse(s: str) -> str:
        if s.upper() != partner_currency:
            raise ValueError(f"{s!r} is not this partner's currency ({partner_currency})")
        return partner_currency

    return parse


def _check_loan(row: dict) -> list[tuple[str, str]]:
    status, defaulted_on, originated_on = row["status"], row["defaulted_on"], row["originated_on"]
    if status == "defaulted":
        if defaulted_on is None:
            return [("defaulted_on", "a value is required when status is defaulted")]
        if defaulted_on < originated_on:  # ISO dates compare as text
            return [("defaulted_on", f"{defaulted_on} is before originated_on ({originated_on})")]
    elif defaulted_on is not None:
        return [("defaulted_on", "must be empty unless status is defaulted")]
    return []


def kinds_for(currency: str) -> dict[str, Kind]:
    text64 = v.text_parser(64)
    return {
        "merchants": Kind(
            "merchants",
            (
                Field("merchant_id", text64),
                Field("name", v.text_parser(200)),
                Field("category", text64, required_value=False, empty=""),
                Field("region", text64, required_value=False, empty=""),
                Field("onboarded_on", v.parse_date),
                Field("established_on", v.parse_date, required_column=False, required_value=False),
                Field("registration_number", text64, required_column=False, required_value=False, empty=""),
            ),
            (
                ("merchant_id", "text"),
                ("legal_name", "text"),
                ("sector", "text"),
                ("region", "text"),
                ("onboarded_on", "date"),
                ("established_on", "date"),
                ("registration_number", "text"),
            ),
        ),
        "transactions": Kind(
            "transactions",
            (
                Field("merchant_id", text64),
                Field("transaction_id", text64),
                Field("occurred_at", v.parse_datetime),
                Field("amount", v.parse_amount_minor),
                Field("currency", _currency(currency), staged=False),
                Field("direction", v.parse_direction),
                Field("kind", v.parse_kind),
                Field("counterparty", v.text_parser(128), required_column=False, required_value=False),
                Field("balance_after", v.parse_signed_minor, required_column=False, required_value=False),
            ),
            (
                ("merchant_id", "text"),
                ("transaction_id", "text"),
                ("occurred_at", "datetime"),
                ("amount_minor", "bigint"),
                ("direction", "smallint"),
                ("kind", "smallint"),
                ("counterparty", "text"),
                ("balance_after_minor", "bigint"),
            ),
        ),
        "metrics": Kind(
            "metrics",
            (
                Field("merchant_id", text64),
                Field("observed_on", v.parse_date),
                Field("metric", text64),
                Field("value", v.parse_metric_value),
            ),
            (("merchant_id", "text"), ("observed_on", "date"), ("metric", "text"), ("value", "numeric")),
        ),
        "loans": Kind(
            "loans",
            (
                Field("loan_id", text64),
                Field("merchant_id", text64),
                Field("originated_on", v.parse_date),
                Field("amount", v.parse_loan_amount),
                Field("term_months", v.parse_term_months),
                Field("status", v.parse_loan_status, required_column=False, required_value=False),
                Field("defaulted_on", v.parse_date, required_column=False, required_value=False),
            ),
            (
                ("loan_id", "text"),
                ("merchant_id", "text"),
                ("originated_on", "date"),
                ("amount", "numeric"),
                ("term_months", "integer"),
                ("status", "text"),
                ("defaulted_on", "date"),
            ),
            check=_check_loan,
        ),
    }


# The id columns a rejected row keeps in staging (see RowParser.error_tuples).
ID_COLUMNS = {
    "merchants": ("merchant_id",),
    "transactions": ("merchant_id", "transaction_id"),
    "metrics": ("merchant_id",),
    "loans": ("loan_id", "merchant_id"),
}


class HeaderError(Exception):
    def __init__(self, column: str | None, reason: str):
        super().__init__(reason)
        self.column = column
        self.reason = reason


class RowParser:
    """The reference validation of one file's rows, bound to that file's header."""

    def __init__(self, kind: Kind, header: list[str]):
        self.kind = kind
        names = [h.strip().lower() for h in header]
        if any(v.has_undecodable_text(h) for h in names):
            raise HeaderError(None, "the header row is not valid UTF-8 (save the file as UTF-8)")
        seen: set[str] = set()
        for name in names:
            if name in kind.known and name in seen:
                raise HeaderError(name, "the column appears more than once in the header")
            seen.add(name)
        missing = [c for c in kind.required if c not in seen]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            found = ", ".join(n for n in names if n).replace("\x00", "\\x00") or "nothing"
            raise HeaderError(
                ", ".join(missing), f"required column{plural} missing from the header (found: {found})"
            )
        self.names = names
        self.ncols = len(names)
        position = {name: i for i, name in enumerate(names)}
        self.index = {f.name: position.get(f.name, -1) for f in kind.fields}
        self.present = {name for name, i in self.index.items() if i >= 0}
        self._plan = [(f, self.index[f.name]) for f in kind.fields]
        self._nstaged = len(kind.stage_columns)
        staged = [name for name, _ in kind.stage_columns]
        self._ids = [(staged.index(name), self.index[name]) for name in ID_COLUMNS[kind.name]]

    def parse(
        self, row: list[str], *, check_encoding: bool = True
    ) -> tuple[tuple | None, list[tuple[str | None, str]]]:
        """Validates one row. `check_encoding` may be False while no byte of the file has failed to
        decode (see csvio.SUSPECT_BYTES)."""
        if len(row) != self.ncols:
            return None, [(None, f"the row has {len(row)} fields but the header has {self.ncols}")]
        if check_encoding:
            bad = [self.names[i] or None for i, value in enumerate(row) if v.has_undecodable_text(value)]
            if bad:
                return None, [(name, "is not valid UTF-8 text (save the file as UTF-8)") for name in bad]
        errors: list[tuple[str | None, str]] = []
        parsed: dict[str, Any] = {}
        for f, i in self._plan:
            raw = row[i].strip() if i >= 0 else ""
            if not raw:
                if f.required_value:
                    errors.append((f.name, "a value is required"))
                parsed[f.name] = f.empty
                continue
            try:
                parsed[f.name] = f.parse(raw)
            except ValueError as exc:
                errors.append((f.name, str(exc)))
        if errors:
            return None, errors
        if self.kind.check is not None:
            errors = self.kind.check(parsed)
            if errors:
                return None, errors
        return tuple(parsed[f.name] for f in self.kind.fields if f.staged), []

    def error_tuples(
        self, line: int, row: list[str], errors: list[tuple[str | None, str]]
    ) -> list[tuple]:
        """One tuple per problem. The first keeps the row's ids that are valid (ID_COLUMNS), so the checks
        that need only ids also see a rejected row: a later file naming a rejected merchant gets a
        pointed message, and an all-or-nothing call reports a repeated id or an unknown merchant on a
        row that has other problems too, in the same pass (Loader.id_check_rows)."""
        values: list[str | None] = [None] * self._nstaged
        if len(row) == self.ncols:
            for position, index in self._ids:
                value = row[index].strip()
                if value and len(value) <= 64 and not v.has_undecodable_text(value) and "\x00" not in value:
                    values[position] = value
        tuples = [(line, *values, col, reason) for col, reason in errors[:1]]
        empty = [None] * self._nstaged
        return tuples + [(line, *empty, col, reason) for col, reason in errors[1:]]


@dataclass
class StageCounts:
    read: int = 0
    valid: int = 0
    errors: int = 0  # problems (a row may have several)


def stage_rows(reader, parser: RowParser, write: Callable[[tuple], object], *, clean: int) -> StageCounts:
    """`clean`: the value of SUSPECT_BYTES before the file was opened (the decoder reads ahead)."""
    counts = StageCounts()
    marks = SUSPECT_BYTES
    while True:
        try:
            for row in reader:
                if not row:
                    continue
                counts.read += 1
                line = reader.line_num
                parsed, errors = parser.parse(row, check_encoding=marks[0] != clean)
                if errors:
                    for t in parser.error_tuples(line, row, errors):
                        write(t)
                    counts.errors += len(errors)
                else:
                    write((line, *parsed, None, None))
                    counts.valid += 1
            return counts
        except csv.Error as exc:
            _csv_error(reader, parser, write, counts, exc)


def _csv_error(reader, parser: RowParser, write, counts: StageCounts, exc: csv.Error) -> None:
    # csv.reader raises on a NUL byte or an oversized field; the reader can carry on past the line.
    counts.read += 1
    counts.errors += 1
    for t in parser.error_tuples(reader.line_num, [], [(None, f"the row cannot be read as CSV ({exc})")]):
        write(t)


class _Slow(Exception):
    """Not an error: the row needs the reference parser."""


_SLOW = _Slow()


def stage_transactions(
    reader,
    parser: RowParser,
    write: Callable[[tuple], object],
    currency: str,
    *,
    clean: int,
    canonical: bool = True,
) -> StageCounts:
    """The hot loop: the common shapes inline, anything else through the reference parser.

    `canonical` False (PostgreSQL) lets 'YYYY-MM-DDTHH:MM:SS[Z]' through as written: the server reads
    it as the same UTC instant, so the canonical text is only needed where it is stored as text."""
    ix = parser.index
    im, it, io, ia, ic = (
        ix["merchant_id"],
        ix["transaction_id"],
        ix["occurred_at"],
        ix["amount"],
        ix["currency"],
    )
    idr, ik, icp, ib = ix["direction"], ix["kind"], ix["counterparty"], ix["balance_after"]
    ncols = parser.ncols
    directions, kinds = v.DIRECTIONS, v.KINDS
    fromiso = datetime.fromisoformat
    marks = SUSPECT_BYTES
    counts = StageCounts()
    read = valid = 0
    try:
        while True:
            try:
                for row in reader:
                    if not row:
                        continue
                    read += 1
                    line = reader.line_num
                    if marks[0] == clean and len(row) == ncols:
                        try:
                            m = row[im].strip()
                            t = row[it].strip()
                            ts = row[io]
                            n = len(ts)
                            if n == 20 and ts[19] == "Z":
                                if canonical:
                                    ts = ts[:19]
                            elif n != 19:
                                raise _SLOW
                            if (
                                ts[13] != ":"
                                or ts[16] != ":"
                                or ts[4] != "-"
                                or ts[7] != "-"
                                or ts[10] not in "T "
                            ):
                                raise _SLOW
                            fromiso(ts)
                            if canonical:
                                ts = ts[:10] + " " + ts[11:]
                            a = row[ia]
                            if a[-3:-2] != ".":
                                raise _SLOW
                            a = a[:-3] + a[-2:]
                            if not a.isdigit() or not a.isascii() or len(a) > 14:
                                raise _SLOW
                            amount = int(a)
                            if not amount or row[ic] != currency:
                                raise _SLOW
                            d = directions[row[idr]]
                            k = kinds[row[ik]]
                            cp = row[icp].strip() if icp >= 0 else ""
                            if not m or not t or len(m) > 64 or len(t) > 64 or len(cp) > 128:
                                raise _SLOW
                            bal = None
                            if ib >= 0:
                                b = row[ib]
                                if b:
                                    neg = b[0] == "-"
                                    if neg:
                                        b = b[1:]
                                    if b[-3:-2] != ".":
                                        raise _SLOW
                                    b = b[:-3] + b[-2:]
                                    if not b.isdigit() or not b.isascii() or len(b) > 14:
                                        raise _SLOW
                                    bal = -int(b) if neg else int(b)
                            write((line, m, t, ts, amount, d, k, cp or None, bal, None, None))
                            valid += 1
                            continue
                        except (_Slow, ValueError, KeyError):
                            pass
                    parsed, errors = parser.parse(row)
                    if errors:
                        for e in parser.error_tuples(line, row, errors):
                            write(e)
                        counts.errors += len(errors)
                    else:
                        write((line, *parsed, None, None))
                        valid += 1
                return counts
            except csv.Error as exc:
                read += 1
                counts.errors += 1
                for e in parser.error_tuples(
                    reader.line_num, [], [(None, f"the row cannot be read as CSV ({exc})")]
                ):
                    write(e)
    finally:
        counts.read = read
        counts.valid = valid


def stage_metrics(reader, parser: RowParser, write: Callable[[tuple], object], *, clean: int) -> StageCounts:
    """The metrics loop: plain dates and unsigned decimals inline, anything else by the reference parser."""
    ix = parser.index
    im, io, imt, iv = ix["merchant_id"], ix["observed_on"], ix["metric"], ix["value"]
    ncols = parser.ncols
    fromiso = date.fromisoformat
    marks = SUSPECT_BYTES
    pad = ("", "00000", "0000", "000", "00", "0", "")
    counts = StageCounts()
    read = valid = 0
    try:
        while True:
            try:
                for row in reader:
                    if not row:
                        continue
                    read += 1
                    line = reader.line_num
                    if marks[0] == clean and len(row) == ncols:
                        try:
                            m = row[im].strip()
                            name = row[imt].strip()
                            day = row[io]
                            if len(day) != 10 or day[4] != "-" or day[7] != "-":
                                raise _SLOW
                            fromiso(day)
                            value = row[iv]
                            h, dot, f = value.partition(".")
                            if not h.isdigit() or len(h) > 14 or (len(h) > 1 and h[0] == "0"):
                                raise _SLOW
                            if dot:
                                if not 0 < len(f) <= 6 or not f.isdigit():
                                    raise _SLOW
                                value = value + pad[len(f)]
                            else:
                                value = value + ".000000"
                            if not value.isascii() or not m or not name or len(m) > 64 or len(name) > 64:
                                raise _SLOW
                            write((line, m, day, name, value, None, None))
                            valid += 1
                            continue
                        except (_Slow, ValueError):
                            pass
                    parsed, errors = parser.parse(row)
                    if errors:
                        for e in parser.error_tuples(line, row, errors):
                            write(e)
                        counts.errors += len(errors)
                    else:
                        write((line, *parsed, None, None))
                        valid += 1
                return counts
            except csv.Error as exc:
                read += 1
                counts.errors += 1
                for e in parser.error_tuples(
                    reader.line_num, [], [(None, f"the row cannot be read as CSV ({exc})")]
                ):
                    write(e)
    finally:
        counts.read = read
        counts.valid = valid
