"""Recurring payments found in a statement that does not name them.

A bank statement calls rent, wages and another lender's instalments all `transfer`. They still show:
the same amount leaving on about the same day each month (rent, instalments) or every other week
(wages), which a supplier paid for what was sold, or an owner's drawings, do not. Where a source
classifies no expense at all, the obligation features read these inferred payments as the rent and
payroll a classifying source would have named (obligations.py), instead of leaving the family empty.

A day's rollup row holds every transfer of that day; its largest single amount (`max`) is the
candidate payment, so a rent paid on a supplier's day is still found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underwriting.features.chunk import Chunk
from underwriting.features.history import KIND

SAME_AMOUNT = 0.005  # two payments within 0.5% of each other are the same obligation
# Days between payments one, two and three periods apart (a week late either side for a monthly one):
MONTHLY = ((22, 38), (52, 72), (82, 102))
FORTNIGHTLY = ((12, 16), (26, 30), (40, 44))
NEAR = (1, 11)  # the same amount again within 11 days: a daily or weekly flow, not a monthly one
# A payment is recurring when it meets its like at least three times within three periods either
# side (the first and the last of a year's still do); fewer is too easily a coincidence of amounts.
MATCHES = 3
LOOKAHEAD = 105  # rows ahead compared (at most one transfer row a day: 105 covers the 102-day gap)
YEAR = 365


@dataclass(frozen=True)
class Recurring:
    """Per daily row of the chunk: whether it carries an inferred monthly or fortnightly payment, and
    its amount (the row's largest transfer)."""

    monthly: np.ndarray  # bool
    fortnightly: np.ndarray  # bool
    amount: np.ndarray  # float64, 0 where neither


def find_recurring(chunk: Chunk, outflow: np.ndarray, classifies: np.ndarray) -> Recurring:
    """The recurring transfers out of the last year, for merchants whose source classifies no expense
    (`classifies`: per merchant)."""
    n_rows = chunk.dday.size
    age = chunk.as_of[chunk.dm] - chunk.dday
    cand = np.flatnonzero(outflow & (chunk.dkind == KIND["transfer"]) & ~classifies[chunk.dm] & (age <= YEAR))
    hits = {name: np.zeros(cand.size, np.int64) for name in ("monthly", "fortnightly", "near")}
    merchant, day, amount = chunk.dm[cand], chunk.dday[cand], chunk.dmax[cand]
    windows = {"monthly": MONTHLY, "fortnightly": FORTNIGHTLY, "near": (NEAR,)}
    for k in range(1, min(LOOKAHEAD, cand.size - 1) + 1):
        a, b = slice(0, cand.size - k), slice(k, cand.size)
        same = (merchant[a] == merchant[b]) & (np.abs(amount[b] - amount[a])
                                               <= SAME_AMOUNT * np.maximum(amount[a], amount[b]))
        gap = day[b] - day[a]
        for name, spans in windows.items():
            match = same & np.any([(gap >= lo) & (gap <= hi) for lo, hi in spans], axis=0)
            hits[name][a] += match
            hits[name][b] += match
    monthly = np.zeros(n_rows, bool)
    fortnightly = np.zeros(n_rows, bool)
    fortnightly[cand] = (hits["fortnightly"] >= MATCHES) & (hits["near"] == 0)
    # A fortnightly payment also recurs a month later: it is the fortnightly one.
    monthly[cand] = (hits["monthly"] >= MATCHES) & (hits["near"] == 0) & ~fortnightly[cand]
    amount_out = np.where(monthly | fortnightly, chunk.dmax, 0.0)
    return Recurring(monthly, fortnightly, amount_out)
