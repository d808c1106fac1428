"""One merchant's history as column arrays, and the time-ordered form every consistency check reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

IN, OUT = 1, 2
DAY_SECONDS = 86_400

# Trading inflows (the takings): what customers pay for goods and services.
TRADING_KINDS = frozenset({"sale", "card_payment", "payout"})
# When a file has no trading inflow, every inflow counts except these.
NOT_TAKINGS = frozenset({"cash_deposit", "loan_disbursement", "interest", "refund", "chargeback",
                         "cash_withdrawal", "loan_repayment"})


@dataclass(frozen=True)
class HistoryRows:
    """One merchant's transactions, in any order: column arrays of equal length (coerced on creation)."""

    occurred_at: np.ndarray  # datetime64[s] (UTC)
    amount_minor: np.ndarray  # int64, positive, cents
    direction: np.ndarray  # int8: 1 = in, 2 = out
    kind: np.ndarray  # object array of kind names ("sale", "transfer", ...)
    counterparty: np.ndarray  # object array, None where missing
    balance_minor: np.ndarray  # float64 cents, NaN where missing

    def __post_init__(self) -> None:
        dtypes = {"occurred_at": "datetime64[s]", "amount_minor": np.int64, "direction": np.int8,
                  "kind": object, "counterparty": object, "balance_minor": np.float64}
        sizes = set()
        for name, dtype in dtypes.items():
            value = np.asarray(getattr(self, name), dtype=dtype)
            if value.ndim != 1:
                raise ValueError(f"HistoryRows.{name} must be one-dimensional")
            object.__setattr__(self, name, value)
            sizes.add(value.size)
        if len(sizes) > 1:
            raise ValueError("every column of HistoryRows must have the same length")

    def __len__(self) -> int:
        return int(self.amount_minor.size)


def utc_seconds(now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return int(now.astimezone(UTC).timestamp())


@dataclass(frozen=True)
class Prepared:
    """The rows in time order (ties keep the input order) and the columns every check uses."""

    seconds: np.ndarray  # int64 epoch seconds, non-decreasing
    day: np.ndarray  # int64 epoch days (UTC), non-decreasing
    amount: np.ndarray  # int64 minor units
    direction: np.ndarray  # int8
    kind: np.ndarray  # int64 index into kind_names
    kind_names: tuple[str, ...]
    signed: np.ndarray  # int64 minor units, + in, - out
    balance: np.ndarray  # float64 minor units, NaN where missing
    takings: np.ndarray  # bool: trading inflow


def kind_codes(kind: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Lower-cased distinct kind names and each row's index into them (lowering only the distinct
    values: a file has a handful)."""
    if kind.size == 0:
        return (), np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(kind.astype(str), return_inverse=True)
    names, remap = np.unique(np.array([u.strip().lower() for u in uniq]), return_inverse=True)
    return tuple(str(n) for n in names), remap.reshape(-1)[inv.reshape(-1)].astype(np.int64)


def prepare(rows: HistoryRows) -> Prepared:
    secs = rows.occurred_at.astype(np.int64)
    order = np.argsort(secs, kind="stable")
    secs = secs[order]
    names, codes = kind_codes(rows.kind)
    codes = codes[order]
    amount = rows.amount_minor[order]
    direction = rows.direction[order]
    inflow = direction == IN
    takings = inflow & np.isin(codes, [i for i, k in enumerate(names) if k in TRADING_KINDS])
    if not takings.any():
        takings = inflow & ~np.isin(codes, [i for i, k in enumerate(names) if k in NOT_TAKINGS])
    return Prepared(seconds=secs, day=np.floor_divide(secs, DAY_SECONDS), amount=amount,
                     direction=direction, kind=codes, kind_names=names,
                     signed=np.where(inflow, amount, -amount), balance=rows.balance_minor[order], takings=takings)


def day_segments(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, size and day of each run of equal days in a non-decreasing array."""
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if day.size else np.zeros(0, dtype=np.int64)
    return starts, np.diff(np.r_[starts, day.size]), day[starts]


def day_of_month(day: np.ndarray) -> np.ndarray:
    d = day.astype("datetime64[D]")
    return (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
