"""Reading one merchant's history for the consistency checks from a transactions file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from underwriting.history.ingest.history_rows import HistoryRows
from underwriting.history.ingest.values import (
    parse_amount_minor,
    parse_datetime,
    parse_direction,
    parse_kind,
    parse_signed_minor,
)

_REQUIRED = ("occurred_at", "amount", "direction", "kind")


def _value(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None else ""


def rows_from_csv(path: str | Path, *, merchant_id: str | None = None) -> HistoryRows:
    """One history from a transactions file in the interchange format (docs/data-format.md).

    Header names are matched case-insensitively and without surrounding spaces, other columns are
    ignored, blank lines skipped, a UTF-8 byte-order mark tolerated. Amounts are decimals rounded half up
    to the cent; ``occurred_at`` is ISO 8601, converted to UTC (no offset: UTC). With ``merchant_id`` the
    rows of other merchants are skipped (the file then needs a merchant_id column); without it, a file
    naming several merchants is refused rather than read as one mixed history. A value the format
    rejects raises ValueError naming the line and the column.
    """
    seen: set[str] = set()
    columns: list[list] = [[] for _ in range(6)]  # occurred_at, amount, direction, kind, counterparty, balance
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        width, cols = _read_header(reader, path, merchant_id)
        i_merchant = cols.get("merchant_id")
        for record in reader:
            if not any(field.strip() for field in record):
                continue
            line = reader.line_num
            if len(record) != width:
                raise ValueError(f"{path}:{line}: the row has {len(record)} fields but the header has {width}")
            if merchant_id is not None and record[i_merchant].strip() != merchant_id:
                continue
            if merchant_id is None and i_merchant is not None:
                seen.add(record[i_merchant].strip())
                if len(seen) > 1:
                    raise ValueError(f"{path}:{line}: merchant_id: the file holds several merchants "
                                     f"({', '.join(sorted(seen))}); name the one to read")
            for column, value in zip(columns, _parse_record(record, cols, path, line), strict=True):
                column.append(value)
    occurred, amounts, directions, kinds, counterparties, balances = columns
    return HistoryRows(
        occurred_at=np.array(occurred, dtype="datetime64[s]"),
        amount_minor=np.array(amounts, dtype=np.int64),
        direction=np.array(directions, dtype=np.int8),
        kind=np.array(kinds, dtype=object),
        counterparty=np.array(counterparties, dtype=object),
        balance_minor=np.array(balances, dtype=np.float64),
    )


def _read_header(reader, path: str | Path, merchant_id: str | None) -> tuple[int, dict[str, int]]:
    """The header's width and each (normalised) column name's position; ValueError when a column the
    read needs is missing."""
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}: the file is empty")
    cols = {name.strip().lower(): i for i, name in enumerate(header)}
    required = _REQUIRED + (("merchant_id",) if merchant_id is not None else ())
    missing = [c for c in required if c not in cols]
    if missing:
        raise ValueError(f"{path}:1: required columns missing from the header: {', '.join(missing)}")
    return len(header), cols


def _parse_record(
    record: list[str], cols: dict[str, int], path: str | Path, line: int
) -> tuple[str, int, int, str, str | None, float]:
    """One row's (occurred_at, amount, direction, kind, counterparty, balance); ValueError naming the
    line and the first column, in file-format order, whose value the format rejects."""
    column = "occurred_at"
    try:
        occurred = parse_datetime(_required(record[cols["occurred_at"]]))[:19]
        column = "amount"
        amount = parse_amount_minor(_required(record[cols["amount"]]))
        column = "direction"
        direction = parse_direction(_required(record[cols["direction"]]))
        column = "kind"
        kind = _required(record[cols["kind"]])
        parse_kind(kind)
        column = "counterparty"
        counterparty = _value(record, cols.get("counterparty")) or None
        column = "balance_after"
        balance = _value(record, cols.get("balance_after"))
        balance_minor = float(parse_signed_minor(balance)) if balance else np.nan
    except ValueError as exc:
        raise ValueError(f"{path}:{line}: {column}: {exc}") from None
    return occurred, amount, direction, kind.lower(), counterparty, balance_minor


def _required(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is missing")
    return value
