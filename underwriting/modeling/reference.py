"""Training reference distributions: bin edges and shares of the score and of every feature.

Computed once at training time on the train slice and stored in the artifact's manifest (key
"reference"), so drift is measured against exactly what the model learnt from, whatever happens to
the loan book later. Pure numpy (no Django).

Binning: interior edges at the deciles of the non-missing values (duplicates dropped, so a feature
with few distinct values gets fewer bins); a value equal to an edge falls in the bin to its right;
missing values (NaN) get their own bin, last. `bin_index` is the one function that puts a value in a
bin, for the reference and for live decisions alike.

Each feature also records its median over the non-missing training values ("median"): the typical
value a decision's reasons compare the applicant's own number with (`typical_values`).
"""

from __future__ import annotations

import math

import numpy as np

QUANTILES = tuple(q / 10 for q in range(1, 10))


def quantile_edges(values: np.ndarray) -> list[float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return []
    return [float(e) for e in np.unique(np.quantile(v, QUANTILES))]


def bin_index(edges: list[float], value: float | None) -> int:
    """The bin of `value`: 0..len(edges) for a number, len(edges) + 1 for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return len(edges) + 1
    lo, hi = 0, len(edges)
    while lo < hi:  # bisect_right
        mid = (lo + hi) // 2
        if value < edges[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def bin_counts(edges: list[float], values: np.ndarray) -> list[int]:
    """Counts per bin (len(edges) + 2 entries: the value bins, then missing)."""
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), v[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).tolist()
    return [int(c) for c in counts] + [int(missing.sum())]


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def reference_distributions(*, X: np.ndarray, feature_names: list[str], pd: np.ndarray, slice_name: str) -> dict:
    """The manifest's "reference": PD (score) bins and per-feature bins, with their shares."""
    X = np.asarray(X, dtype=np.float64)
    pd_edges = quantile_edges(pd)
    features = {}
    for j, name in enumerate(feature_names):
        edges = quantile_edges(X[:, j])
        features[name] = {"edges": edges, "shares": _shares(bin_counts(edges, X[:, j])),
                          "median": _median(X[:, j])}
    return {
        "slice": slice_name,
        "rows": int(X.shape[0]),
        "binning": "deciles of the non-missing values; last bin = missing; median of the non-missing values",
        "score": {"pd_edges": pd_edges, "shares": _shares(bin_counts(pd_edges, pd))},
        "features": features,
    }


def _median(values: np.ndarray) -> float | None:
    v = values[~np.isnan(values)]
    return float(np.median(v)) if v.size else None


def typical_values(reference: dict | None, feature_names: list[str]) -> np.ndarray:
    """Each feature's typical value in the training rows (its median; NaN where unknown), in the order
    of `feature_names`.

    A reference written before medians were stored falls back to the middle decile edge, but only
    when all nine decile edges are there: with duplicates dropped the position of the median among
    fewer edges is unknown. A feature the reference does not know, or a missing reference, is NaN."""
    features = (reference or {}).get("features") or {}
    out = np.full(len(feature_names), np.nan)
    for i, name in enumerate(feature_names):
        entry = features.get(name) or {}
        if "median" in entry:
            value = entry["median"]
        else:
            edges = entry.get("edges") or []
            value = edges[len(QUANTILES) // 2] if len(edges) == len(QUANTILES) else None
        if value is not None:
            out[i] = float(value)
    return out
