"""Small vectorised helpers of the feature computation: safe division and per-merchant reductions
(rows grouped by a merchant index, or rows of an (n, days) panel)."""

from __future__ import annotations

import numpy as np


def div(a, b):
    """a / b with NaN where b is 0 or NaN (never a made-up number)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    ok = np.isfinite(b) & (b != 0)
    np.divide(a, b, out=out, where=ok)
    return out


def concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def group_stats(merchant: np.ndarray, values: np.ndarray, n: int):
    """Per-merchant count, mean and median of `values` (rows grouped by merchant index, any order)."""
    count = np.bincount(merchant, minlength=n).astype(np.float64)
    total = np.bincount(merchant, weights=values, minlength=n)
    mean = div(total, count)
    median = np.full(n, np.nan)
    if values.size:
        order = np.lexsort((values, merchant))
        ordered = values[order]
        start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
        has = count > 0
        rows = count[has].astype(np.int64)
        lo = start[has] + (rows - 1) // 2
        hi = start[has] + rows // 2
        median[has] = 0.5 * (ordered[lo] + ordered[hi])
    return count, mean, median


def masked_median(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row medians of x over the masked cells (NaN for rows without any)."""
    k = mask.sum(axis=1)
    srt = np.sort(np.where(mask, x, np.inf), axis=1)
    out = np.full(x.shape[0], np.nan)
    has = k > 0
    rows = np.flatnonzero(has)
    lo = (k[has] - 1) // 2
    hi = k[has] // 2
    out[has] = 0.5 * (srt[rows, lo] + srt[rows, hi])
    return out


def longest_false_run(active: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Longest run of False per row, counting only the last `span[i]` columns of row i."""
    n, w = active.shape
    inside = np.arange(w)[None, :] >= (w - span[:, None])
    gap = inside & ~active
    # Run length = gaps so far minus gaps counted at the latest non-gap cell.
    c = np.cumsum(gap, axis=1)
    reset = np.where(gap, 0, c)
    np.maximum.accumulate(reset, axis=1, out=reset)
    return (c - reset).max(axis=1).astype(np.float64) if w else np.zeros(n)
