"""The sector's calendar: how a trade's sales move through the year, learned from the lender's own book.

A merchant's own last year (sales.season_ahead_last_year) says what its season did, but only once it
has a year of history; most applicants do not. Its trade's season is known from the others: a cafe
borrowing in June repays over a summer, an apparel shop borrowing after Christmas repays in the lull.
The benchmark (peers.PeerBenchmarks) learns per sector the typical log level of each calendar month
from the training rows' own last twelve months, and two features read it:

- `sector_season_ahead`: the sector's typical level over the months the loan would run against its
  level over the quarter before the application;
- `sales_change_vs_season_90d`: the merchant's inflows of the last 30 days against a month a quarter
  earlier (the 30 days that ended 75 days ago), less what the sector's calendar alone would have done
  between the two. A shop whose sales fell by its season's usual amount is not in decline; one that
  fell in its high season is.

This module computes each row's inputs (its calendar position, the request's term, its own monthly
levels: SEASON_BASE_NAMES, carried with the peer bases) and the two columns given a sector's index.
A month's level stands for its middle day; between them the calendar is read linearly (a loan taken on
the 28th of a month is nearly in the next one).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from underwriting.features.arrays import div
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows

MONTH_COLUMNS = tuple(f"inflow_level_month_{m:02d}" for m in range(1, 13))
SEASON_BASE_NAMES: tuple[str, ...] = ("as_of_day_of_year", "request_term_months", "log_inflow_change_quarter",
                                      *MONTH_COLUMNS)
SEASON_FEATURES = ("sector_season_ahead", "sales_change_vs_season_90d")
MIN_MONTH_DAYS = 20  # a calendar month counts toward a row's levels when this many of its days were seen


def season_bases(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    """Each row's day of the year (0-365), the requested term, its log inflow change over a quarter and
    its log level in each calendar month of the last year against its average month (NaN: not seen)."""
    n = chunk.n
    cols = np.arange(PANEL_DAYS - 365, PANEL_DAYS)
    days = chunk.panel_start[:, None] + cols[None, :]
    month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    seen = chunk.seen[:, cols]
    key = (np.arange(n)[:, None] * 12 + month).ravel()
    total = np.bincount(key, weights=np.where(seen, flows.revenue[:, cols], 0.0).ravel(), minlength=12 * n)
    count = np.bincount(key, weights=seen.ravel().astype(np.float64), minlength=12 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = np.where(count >= MIN_MONTH_DAYS, total / np.maximum(count, 1), np.nan).reshape(n, 12)
        level = np.log(np.where(daily > 0, daily, np.nan))
        full = np.isfinite(level).sum(axis=1) >= 6  # half a year at least: the average means something
        level = np.where(full[:, None], level - np.nanmean(np.where(full[:, None], level, 0.0), axis=1)[:, None],
                         np.nan)
    f.update(zip(MONTH_COLUMNS, level.T, strict=True))
    as_of = chunk.as_of.astype("datetime64[D]")
    f["as_of_day_of_year"] = (as_of - as_of.astype("datetime64[Y]")).astype(np.int64).astype(np.float64)
    f["request_term_months"] = chunk.term.astype(np.float64)
    recent, before = chunk.win(flows.cum_revenue, 30), chunk.win(flows.cum_revenue, 30, 75)
    with np.errstate(divide="ignore", invalid="ignore"):
        f["log_inflow_change_quarter"] = np.where((flows.history_days >= 105) & (recent > 0) & (before > 0),
                                                  np.log(div(recent, before)), np.nan)


def sector_index(levels: np.ndarray, min_rows: int) -> np.ndarray | None:
    """A sector's 12 monthly log levels (mean 0) from its rows' levels (rows x 12): each month's median
    over the rows that saw it; None when a month has fewer than `min_rows` rows."""
    ok = np.isfinite(levels)
    if levels.shape[0] == 0 or ok.sum(axis=0).min() < min_rows:
        return None
    med = np.array([np.median(levels[ok[:, m], m]) for m in range(12)])
    return med - med.mean()


def calendar_mean(index: np.ndarray, start: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per row, the mean of its sector's calendar (12 monthly levels, read linearly between the months'
    middle days) over `days` days from day of the year `start` (samples every 5 days)."""
    n = index.shape[0]
    steps = np.arange(0, 366, 5, dtype=np.float64)
    pos = start[:, None] + np.minimum(steps[None, :], np.maximum(days[:, None] - 1, 0))
    use = steps[None, :] < np.maximum(days[:, None], 1)
    month = (pos % 365.0) / (365.0 / 12) - 0.5  # 0.0 = the middle of January
    lo = np.floor(month).astype(np.int64)
    w = month - lo
    rows = np.arange(n)[:, None]
    value = (1 - w) * index[rows, lo % 12] + w * index[rows, (lo + 1) % 12]
    return np.where(use, value, 0.0).sum(axis=1) / use.sum(axis=1)


def season_columns(index: np.ndarray, base: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The two features from each row's sector calendar ((n, 12), NaN rows: none) and its bases."""
    n = index.shape[0]
    doy = np.nan_to_num(base["as_of_day_of_year"], nan=0.0)
    term_days = 30.0 * np.clip(np.nan_to_num(base["request_term_months"], nan=1.0), 1, 12)
    quarter = np.full(n, 90.0)
    month = np.full(n, 30.0)
    ahead = calendar_mean(index, doy, term_days) - calendar_mean(index, doy - 90, quarter)
    usual = calendar_mean(index, doy - 30, month) - calendar_mean(index, doy - 105, month)
    return {"sector_season_ahead": ahead, "sales_change_vs_season_90d": base["log_inflow_change_quarter"] - usual}
