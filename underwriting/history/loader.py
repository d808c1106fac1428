"""Loads point-in-time merchant histories from the rollup tables (the Django side of the features).

    load_history(*, business, as_of) -> MerchantHistory
        One merchant as known on as_of's UTC day: rollups, balances and metrics of days strictly before
        it (the last PANEL_DAYS days, plus the first activity day and the balance carried into that
        window), prior loans originated before it with their status on that day. A handful of indexed
        queries; the cost depends on the days of history read, never on the number of transactions.

    load_histories(*, business_ids, as_of, batch_size=500, progress=False) -> list[MerchantHistory]
        One history per (business_ids[i], as_of[i]) pair, in the given order (`as_of` may also be a
        single datetime/date for all). Each merchant's rows are read ONCE (in batches of `batch_size`
        merchants, one query per table and batch) and every snapshot is a point-in-time cut of that
        load (MerchantHistory.truncated): the training set of a loan book, backtests, nightly batches.
        Features of load_histories(...)[i] equal those of load_history(business=..., as_of=as_of[i]).

`as_of` is an aware datetime (its UTC calendar day is the cut) or a date (the day itself). Amounts
are converted from integer minor units to currency units (float64). Loan status as of the day: a loan
counts only if originated before it; DEFAULTED only if defaulted_on is before it; REPAID if the record
says repaid and its term ended before it; UNKNOWN when the record has no status; otherwise CURRENT.
days_past_due is kept only when the record was last updated at or before as_of.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
from django.db import connection

from accounts.models import Business
from underwriting.features.chunk import COUNTERPARTY_DAYS, PANEL_DAYS
from underwriting.features.history import (
    NO_DAY,
    STATUS_CODE,
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    MerchantHistory,
    MetricRows,
    PriorLoans,
    day_date,
    day_number,
)
from underwriting.history.models import (
    CounterpartyDailyRollup,
    DailyBalance,
    DailyRollup,
    LoanRecord,
    MerchantMetric,
)

__all__ = ["as_of_day", "load_histories", "load_history"]

BULK_MIN_MERCHANTS = 8  # from this many merchants per batch, PostgreSQL rows come as one aggregated text
DR = DailyRollup._meta.db_table
CR = CounterpartyDailyRollup._meta.db_table
DB = DailyBalance._meta.db_table
MM = MerchantMetric._meta.db_table
LR = LoanRecord._meta.db_table


def as_of_day(as_of: datetime | date) -> date:
    """The UTC calendar day of a decision time (a date is its own day). Naive datetimes are refused."""
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValueError("as_of must be timezone-aware (USE_TZ=True; days are UTC days)")
        return as_of.astimezone(UTC).date()
    if isinstance(as_of, date):
        return as_of
    raise TypeError(f"as_of must be a datetime or a date, not {type(as_of).__name__}")


def _as_of_moment(as_of: datetime | date) -> datetime:
    if isinstance(as_of, datetime):
        return as_of
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)


# --- SQL helpers (PostgreSQL and SQLite) ------------------------------------------------------------


def _day_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _float_sql(column: str) -> str:
    return f"CAST({column} AS DOUBLE PRECISION)" if connection.vendor == "postgresql" else f"CAST({column} AS REAL)"


def _lit(day: int) -> str:
    """A day as an SQL date literal (generated from an int: nothing user-supplied reaches the SQL)."""
    iso = day_date(day).isoformat()
    return f"DATE '{iso}'" if connection.vendor == "postgresql" else f"'{iso}'"


def _fetch(query: tuple[str, str, int], bulk: bool = True) -> np.ndarray:
    """(rows, ncols) float64 array of an integer query (`select ... from ... where`, its ORDER BY, ncols).

    In bulk on PostgreSQL the server aggregates each column into one binary array (array_send): one
    message instead of one per row (psycopg's per-row cost would dominate), no number formatting on
    the server, decoded here with numpy and sorted; otherwise (SQLite, or a single merchant) the rows
    come through the cursor in order."""
    sql, order, ncols = query
    if bulk and connection.vendor == "postgresql":
        cols = ", ".join(f"c{i}" for i in range(ncols))
        aggs = ", ".join(f"array_send(array_agg(c{i}))" for i in range(ncols))
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:  # server-side binding: binary results
            cursor.execute(f"SELECT {aggs} FROM ({sql}) AS q({cols})", binary=True)
            row = cursor.fetchone()
        if row is None or row[0] is None:
            return np.zeros((0, ncols))
        arr = np.column_stack([_pg_int_array(b) for b in row]).astype(np.float64)
        nkeys = len(order.split(","))
        return arr[np.lexsort(arr[:, :nkeys].T[::-1])]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY {order}")
        rows = cursor.fetchall()
    if not rows:
        return np.zeros((0, ncols))
    return np.array(rows, dtype=np.float64).reshape(len(rows), ncols)


_PG_INT_WIDTH = {20: 8, 23: 4, 21: 2}  # type OIDs of int8, int4, int2


def _pg_int_array(buf: bytes) -> np.ndarray:
    """A one-dimensional PostgreSQL integer array without NULLs in its binary send format."""
    ndim, has_null, oid = struct.unpack_from(">iiI", buf, 0)
    if ndim == 0:
        return np.zeros(0, dtype=np.int64)
    if ndim != 1 or has_null or oid not in _PG_INT_WIDTH:
        raise ValueError(f"unexpected array (ndim {ndim}, nulls {has_null}, type {oid})")
    n, _lower = struct.unpack_from(">ii", buf, 12)
    element = np.dtype([("length", ">i4"), ("value", f">i{_PG_INT_WIDTH[oid]}")])
    return np.frombuffer(buf, dtype=element, count=n, offset=20)["value"].astype(np.int64)


def _in_list(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


def _queries(ids: Sequence[int], lo: int, hi: int, cp_lo: int) -> dict[str, tuple[str, str, int]]:
    """(SQL, ORDER BY, number of columns) of the numeric row groups of the merchants `ids`, days in
    [lo, hi) (counterparties: [cp_lo, hi), the features' counterparty window; balances: plus each
    merchant's last row before lo, the balance carried into the window).
    Every query's first column is business_id; the order is by business and day (the ORDER BY names
    the leading columns in order)."""
    day = _day_sql("day")
    where = f"business_id IN ({_in_list(ids)}) AND day < {_lit(hi)} AND day >= {_lit(lo)}"
    code = ("hashtext(counterparty)" if connection.vendor == "postgresql"
            else "DENSE_RANK() OVER (PARTITION BY business_id ORDER BY counterparty)")
    return {
        "daily": (f'SELECT business_id, {day}, direction, kind, "count", total_minor, max_minor FROM {DR} '
                  f"WHERE {where}", "business_id, day, direction, kind", 7),
        # Counterparty codes: a hash of the name on PostgreSQL (no sort), its rank among the merchant's
        # names elsewhere. Only equality matters: features never read the code's value.
        "counterparties": (f"SELECT business_id, {day}, direction, {code} AS code, \"count\", total_minor FROM {CR} "
                           f"WHERE business_id IN ({_in_list(ids)}) AND day < {_lit(hi)} AND day >= {_lit(cp_lo)}",
                           "business_id, day, direction, code", 6),
        "balances": (f"SELECT business_id, {day}, min_balance_minor, close_balance_minor FROM {DB} b WHERE "
                     f"business_id IN ({_in_list(ids)}) AND day < {_lit(hi)} AND (day >= {_lit(lo)} OR day = "
                     f"(SELECT MAX(day) FROM {DB} b2 WHERE b2.business_id = b.business_id AND b2.day < {_lit(lo)}))",
                     "business_id, day", 4),
    }


def _metric_rows(ids: Sequence[int], lo: int, hi: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT business_id, {_day_sql('observed_on')}, metric, {_float_sql('value')} FROM {MM} "
                       f"WHERE business_id IN ({_in_list(ids)}) AND observed_on < {_lit(hi)} AND observed_on >= "
                       f"{_lit(lo)} ORDER BY business_id, observed_on, metric")
        rows = cursor.fetchall()
    out: dict[int, list] = {}
    for b, d, name, v in rows:
        out.setdefault(b, []).append((d, name, v))
    return {b: (np.array([r[0] for r in rs]), np.array([r[1] for r in rs], dtype=str), np.array([r[2] for r in rs]))
            for b, rs in out.items()}


def _first_days(ids: Sequence[int], hi: int) -> dict[int, int]:
    """Each merchant's first day with a rollup row (one index probe per merchant, not a scan)."""
    values = ",".join(f"({int(i)})" for i in ids)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH v(id) AS (VALUES {values}) SELECT v.id, (SELECT {_day_sql('MIN(day)')} FROM {DR} "
                       f"WHERE business_id = v.id AND day < {_lit(hi)}) FROM v")
        return {int(b): int(d) for b, d in cursor.fetchall() if d is not None}


def _loan_rows(ids: Sequence[int]) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {int(i): [] for i in ids}
    rows = (LoanRecord.objects.filter(business_id__in=list(ids))
            .order_by("business_id", "originated_on", "id")
            .values_list("business_id", "originated_on", "amount", "term_months", "status", "defaulted_on",
                         "days_past_due", "updated_at"))
    for r in rows:
        out[r[0]].append(r[1:])
    return out


def _loans_as_of(rows: list[tuple], as_of: datetime | date) -> PriorLoans:
    day = day_number(as_of_day(as_of))
    moment = _as_of_moment(as_of)
    if not rows:
        return PriorLoans.build()
    orig, amount, term, status, dflt, dpd, updated = zip(*rows, strict=True)
    return PriorLoans.from_record(
        originated_on=[day_number(d) for d in orig], amount=[float(a) for a in amount], term_months=term,
        final_status=[STATUS_CODE[s] for s in status],
        defaulted_on=[NO_DAY if d is None else day_number(d) for d in dflt],
        days_past_due=[float(x) for x in dpd], as_of_day=day,
        dpd_known=[u is not None and u <= moment for u in updated],
    )


def _split(arr: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of a (rows, k) array grouped by business id (column 0; rows ordered by business)."""
    if arr.shape[0] == 0:
        return {}
    b = arr[:, 0].astype(np.int64)
    cuts = np.flatnonzero(np.diff(b)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [b.size]))
    return {int(b[s]): arr[s:e] for s, e in zip(starts, ends, strict=True)}


_EMPTY = {"daily": np.zeros((0, 7)), "counterparties": np.zeros((0, 6)), "balances": np.zeros((0, 4))}
_NO_METRICS = (np.zeros(0), np.zeros(0, dtype="<U1"), np.zeros(0))


def _history(business: Business, as_of: date, groups: dict[str, np.ndarray], metrics: tuple,
             first_day: int | None, loans: PriorLoans) -> MerchantHistory:
    d, c, b = groups["daily"], groups["counterparties"], groups["balances"]
    return MerchantHistory(
        as_of=as_of, sector=business.sector or "", region=business.region or "",
        established_on=business.established_on, onboarded_on=business.onboarded_on,
        daily=DailyRows.build(d[:, 1], d[:, 2], d[:, 3], d[:, 4], d[:, 5] / 100.0, d[:, 6] / 100.0),
        counterparties=CounterpartyRows.build(c[:, 1], c[:, 2], c[:, 3], c[:, 4], c[:, 5] / 100.0),
        balances=BalanceRows.build(b[:, 1], b[:, 2] / 100.0, b[:, 3] / 100.0),
        metrics=MetricRows.build(*metrics),
        loans=loans, business_id=business.pk,
        first_activity=None if first_day is None else day_date(first_day),
    )


def _load(businesses: Sequence[Business], lo: int, hi: int, cp_lo: int) -> dict:
    ids = [b.pk for b in businesses]
    bulk = len(ids) >= BULK_MIN_MERCHANTS
    groups = {name: _split(_fetch(query, bulk)) for name, query in _queries(ids, lo, hi, cp_lo).items()}
    return {"groups": groups, "metrics": _metric_rows(ids, lo, hi), "first": _first_days(ids, hi),
            "loans": _loan_rows(ids)}


def _snapshot(business: Business, data: dict, day: date) -> MerchantHistory:
    bid = business.pk
    groups = {k: data["groups"][k].get(bid, _EMPTY[k]) for k in _EMPTY}
    return _history(business, day, groups, data["metrics"].get(bid, _NO_METRICS), data["first"].get(bid),
                    PriorLoans.build())


def load_history(*, business: Business, as_of: datetime | date, lookback_days: int = PANEL_DAYS) -> MerchantHistory:
    """The merchant as known on as_of's UTC day (rows of the last `lookback_days` days before it)."""
    day = as_of_day(as_of)
    hi = day_number(day)
    data = _load([business], hi - lookback_days, hi, hi - min(lookback_days, COUNTERPARTY_DAYS))
    return replace(_snapshot(business, data, day), loans=_loans_as_of(data["loans"][business.pk], as_of))


def load_histories(*, business_ids: Sequence[int], as_of: Sequence[datetime | date] | datetime | date,
                   batch_size: int = 500, progress: bool = False,
                   businesses: Mapping[int, Business] | None = None) -> list[MerchantHistory]:
    """One history per (business_ids[i], as_of[i]), in order; each merchant's rows are read once.
    `businesses`: the merchants' rows by id, when the caller has read them already."""
    ids = [int(b) for b in business_ids]
    as_ofs = [as_of] * len(ids) if isinstance(as_of, (datetime, date)) else list(as_of)
    if len(as_ofs) != len(ids):
        raise ValueError(f"{len(ids)} business ids but {len(as_ofs)} as_of values")
    days = [as_of_day(a) for a in as_ofs]
    by_business: dict[int, list[int]] = {}
    for i, b in enumerate(ids):
        by_business.setdefault(b, []).append(i)
    if businesses is None or not set(by_business) <= businesses.keys():
        businesses = Business.objects.in_bulk(list(by_business))
    missing = set(by_business) - businesses.keys()
    if missing:
        raise ValueError(f"unknown business ids: {sorted(missing)[:10]}")
    out: list = [None] * len(ids)
    order = sorted(by_business)
    batches = range(0, len(order), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="loading histories", unit="batch")
    for start in batches:
        chunk = order[start:start + batch_size]
        hi = max(day_number(days[i]) for b in chunk for i in by_business[b])
        first = min(day_number(days[i]) for b in chunk for i in by_business[b])
        data = _load([businesses[b] for b in chunk], first - PANEL_DAYS, hi, first - COUNTERPARTY_DAYS)
        for b in chunk:
            latest = max(days[i] for i in by_business[b])
            # The batch was read up to its latest day; cut this merchant's rows at its own latest.
            full = _snapshot(businesses[b], data, latest).truncated(latest)
            for i in by_business[b]:
                snap = full if days[i] == latest else full.truncated(days[i])
                out[i] = replace(snap, loans=_loans_as_of(data["loans"][b], as_ofs[i]))
    return out
