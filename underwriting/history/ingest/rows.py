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
from datetime import date, datetime, timedelta
from typing import Any

from underwriting.history.ingest import values as v
from underwriting.history.ingest.csvio import SUSPECT_BYTES

# How far past today a merchant's date may be (the API's FUTURE_TOLERANCE).
FUTURE_GRACE = timedelta(days=1)


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


def _merchant_dates_check(today: date) -> Callable[[dict], list[tuple[str, str]]]:
    """The rules the partner API states for a merchant's dates (loans/api/serializers.py), held here too
    so a merchants file cannot store what the API refuses: neither date more than a day after `today`
    (UTC; a partner's clock may run ahead of ours), and established on or before onboarded."""
    latest = (today + FUTURE_GRACE).isoformat()

    def check(row: dict) -> list[tuple[str, str]]:
        problems = [
            (name, f"{row[name]} is in the future: {name} may be at most one day after today (UTC)")
            for name in ("onboarded_on", "established_on") if row[name] is not None and row[name] > latest
        ]
        established, onboarded = row["established_on"], row["onboarded_on"]
        # A date already refused as in the future is not also reported as out of order.
        if not problems and established is not None and established > onboarded:  # ISO dates compare as text
            problems.append(("established_on", f"{established} is after onboarded_on ({onboarded}): a business "
                                               "is established on or before it is onboarded"))
        return problems

    return check


def kinds_for(currency: str, *, today: date) -> dict[str, Kind]:
    """The four files' rules; `today` (the project clock's UTC day) bounds the merchants' dates."""
    return {
        "merchants": _merchants_kind(today),
        "transactions": _transactions_kind(currency),
        "metrics": _metrics_kind(),
        "loans": _loans_kind(),
    }


_ID_TEXT = v.text_parser(64)


def _merchants_kind(today: date) -> Kind:
    return Kind(
        "merchants",
        (
            Field("merchant_id", _ID_TEXT),
            Field("name", v.text_parser(200)),
            Field("category", _ID_TEXT, required_value=False, empty=""),
            Field("region", _ID_TEXT, required_value=False, empty=""),
            Field("onboarded_on", v.parse_date),
            Field("established_on", v.parse_date, required_column=False, required_value=False),
            Field("registration_number", _ID_TEXT, required_column=False, required_value=False, empty=""),
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
        check=_merchant_dates_check(today),
    )


def _transactions_kind(currency: str) -> Kind:
    return Kind(
        "transactions",
        (
            Field("merchant_id", _ID_TEXT),
            Field("transaction_id", _ID_TEXT),
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
    )


def _metrics_kind() -> Kind:
    return Kind(
        "metrics",
        (
            Field("merchant_id", _ID_TEXT),
            Field("observed_on", v.parse_date),
            Field("metric", _ID_TEXT),
            Field("value", v.parse_metric_value),
        ),
        (("merchant_id", "text"), ("observed_on", "date"), ("metric", "text"), ("value", "numeric")),
    )


def _loans_kind() -> Kind:
    return Kind(
        "loans",
        (
            Field("loan_id", _ID_TEXT),
            Field("merchant_id", _ID_TEXT),
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
    )


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
            counts.read += 1
            counts.errors += 1
            _write_csv_error(reader, parser, write, exc)


def _write_csv_error(reader, parser: RowParser, write, exc: csv.Error) -> None:
    # csv.reader raises on a NUL byte or an oversized field; the reader can carry on past the line.
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
    return _stage_with_fast_path(
        reader, parser, write, _fast_transaction(parser, currency, canonical=canonical), clean=clean
    )


def stage_metrics(reader, parser: RowParser, write: Callable[[tuple], object], *, clean: int) -> StageCounts:
    """The metrics loop: plain dates and unsigned decimals inline, anything else by the reference parser."""
    return _stage_with_fast_path(reader, parser, write, _fast_metric(parser), clean=clean)


def _stage_with_fast_path(
    reader, parser: RowParser, write: Callable[[tuple], object], fast_row: Callable[[int, list[str]], tuple],
    *, clean: int,
) -> StageCounts:
    """Stages each row through `fast_row` (line, row) -> staging tuple while no byte of the file has failed
    to decode; a row it refuses (by raising) goes through the reference parser, which reports why."""
    ncols = parser.ncols
    marks = SUSPECT_BYTES
    counts = StageCounts()
    read = valid = 0  # locals, not attributes: this loop runs once per row of the largest files
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
                            write(fast_row(line, row))
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
                _write_csv_error(reader, parser, write, exc)
    finally:
        counts.read = read
        counts.valid = valid


_TRANSACTION_COLUMNS = (
    "merchant_id", "transaction_id", "occurred_at", "amount", "currency", "direction", "kind", "counterparty",
    "balance_after",
)


def _fast_transaction(parser: RowParser, currency: str, *, canonical: bool) -> Callable[[int, list[str]], tuple]:
    """The inline parse of a transaction row in its common shape: a UTC 'YYYY-MM-DD[T ]HH:MM:SS[Z]', amounts
    with exactly two decimals, the partner's currency as written. Raises on anything else."""
    i_merchant, i_id, i_at, i_amount, i_currency, i_direction, i_kind, i_counterparty, i_balance = (
        parser.index[name] for name in _TRANSACTION_COLUMNS
    )
    directions, kinds = v.DIRECTIONS, v.KINDS
    fromiso = datetime.fromisoformat

    def fast_row(line: int, row: list[str]) -> tuple:
        merchant = row[i_merchant].strip()
        transaction_id = row[i_id].strip()
        ts = row[i_at]
        n = len(ts)
        if n == 20 and ts[19] == "Z":
            if canonical:
                ts = ts[:19]
        elif n != 19:
            raise _SLOW
        if ts[13] != ":" or ts[16] != ":" or ts[4] != "-" or ts[7] != "-" or ts[10] not in "T ":
            raise _SLOW
        fromiso(ts)
        if canonical:
            ts = ts[:10] + " " + ts[11:]
        digits = row[i_amount]
        if digits[-3:-2] != ".":
            raise _SLOW
        digits = digits[:-3] + digits[-2:]
        if not digits.isdigit() or not digits.isascii() or len(digits) > 14:
            raise _SLOW
        amount = int(digits)
        if not amount or row[i_currency] != currency:
            raise _SLOW
        direction = directions[row[i_direction]]
        kind = kinds[row[i_kind]]
        counterparty = row[i_counterparty].strip() if i_counterparty >= 0 else ""
        if not merchant or not transaction_id or len(merchant) > 64 or len(transaction_id) > 64 or len(counterparty) > 128:
            raise _SLOW
        balance = None
        if i_balance >= 0:
            digits = row[i_balance]
            if digits:
                negative = digits[0] == "-"
                if negative:
                    digits = digits[1:]
                if digits[-3:-2] != ".":
                    raise _SLOW
                digits = digits[:-3] + digits[-2:]
                if not digits.isdigit() or not digits.isascii() or len(digits) > 14:
                    raise _SLOW
                balance = -int(digits) if negative else int(digits)
        return (line, merchant, transaction_id, ts, amount, direction, kind, counterparty or None, balance, None, None)

    return fast_row


# Zeros that pad a metric value's decimals to the six the staging text carries, by their count.
_METRIC_PAD = ("", "00000", "0000", "000", "00", "0", "")


def _fast_metric(parser: RowParser) -> Callable[[int, list[str]], tuple]:
    """The inline parse of a metric row in its common shape: a plain ISO date and an unsigned decimal
    of at most 6 places. Raises on anything else."""
    ix = parser.index
    i_merchant, i_observed, i_metric, i_value = ix["merchant_id"], ix["observed_on"], ix["metric"], ix["value"]
    fromiso = date.fromisoformat

    def fast_row(line: int, row: list[str]) -> tuple:
        merchant = row[i_merchant].strip()
        name = row[i_metric].strip()
        day = row[i_observed]
        if len(day) != 10 or day[4] != "-" or day[7] != "-":
            raise _SLOW
        fromiso(day)
        value = row[i_value]
        whole, dot, fraction = value.partition(".")
        if not whole.isdigit() or len(whole) > 14 or (len(whole) > 1 and whole[0] == "0"):
            raise _SLOW
        if dot:
            if not 0 < len(fraction) <= 6 or not fraction.isdigit():
                raise _SLOW
            value = value + _METRIC_PAD[len(fraction)]
        else:
            value = value + ".000000"
        if not value.isascii() or not merchant or not name or len(merchant) > 64 or len(name) > 64:
            raise _SLOW
        return (line, merchant, day, name, value, None, None)

    return fast_row
