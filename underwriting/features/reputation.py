"""Marketplace reputation: the partner's metric rows (rating, dispute, return and late-shipment
rates, active listings) as recent means, changes and the latest value."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div
from underwriting.features.chunk import Chunk


def reputation_features(chunk: Chunk, f: dict[str, np.ndarray]) -> None:
    n = chunk.n
    age = chunk.as_of[chunk.mm] - chunk.mday

    def mean_over(name, lo, hi):
        sel = (chunk.mname == name) & (age > lo) & (age <= hi)
        count = np.bincount(chunk.mm[sel], minlength=n)
        total = np.bincount(chunk.mm[sel], weights=chunk.mvalue[sel], minlength=n)
        return div(total, count)

    def last(name):
        sel = np.flatnonzero(chunk.mname == name)
        out = np.full(n, np.nan)
        if sel.size:
            idx = np.full(n, -1, dtype=np.int64)
            np.maximum.at(idx, chunk.mm[sel], sel)
            has = idx >= 0
            out[has] = chunk.mvalue[idx[has]]
        return out

    f["rating_last"] = last("rating")
    f["rating_6m"] = mean_over("rating", 0, 183)
    f["rating_change_6m"] = mean_over("rating", 0, 92) - mean_over("rating", 182, 274)
    f["dispute_rate_3m"] = mean_over("dispute_rate", 0, 92)
    f["dispute_rate_change_6m"] = div(f["dispute_rate_3m"], mean_over("dispute_rate", 92, 184)) - 1.0
    f["return_rate_3m"] = mean_over("return_rate", 0, 92)
    f["late_shipment_rate_3m"] = mean_over("late_shipment_rate", 0, 92)
    f["listings_change_6m"] = div(last("active_listings"), mean_over("active_listings", 150, 213)) - 1.0
    latest = np.full(n, -1, dtype=np.int64)
    if chunk.mday.size:
        np.maximum.at(latest, chunk.mm, chunk.mday)
    f["metrics_age_days"] = np.where(latest >= 0, (chunk.as_of - latest).astype(float), np.nan)
