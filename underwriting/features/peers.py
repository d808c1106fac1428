"""Peer benchmarks: how a merchant's rates compare with the typical merchant of its sector.

What is normal differs by trade: a 5% refund rate is alarming for a pharmacy and ordinary for an
apparel shop. A credit analyst compares with the sector; so do these features. The benchmark (per
sector, the median of each rate's logarithm) is *fitted* on a training population and travels with
the model that was trained with it (a JSON-able dict), so training rows, backtests and live decisions
compute the same numbers:

    peers = PeerBenchmarks.fit(train_histories)                     # per sector medians of the rates
    X = compute_features(histories, requests, peers=peers)          # peer columns filled in
    compute_features(histories, requests)                           # peer columns NaN (no benchmark)

    # or in one pass over a training set (no second feature computation):
    X, B = compute_features_with_bases(histories, requests)         # peer columns NaN, B = their bases
    peers = PeerBenchmarks.fit_values(sectors[train], B[train])
    X = peers.apply(X, sectors, B)                                  # == compute_features(..., peers=peers)
    artifact["peers"] = peers.to_dict()  ...  PeerBenchmarks.from_dict(artifact["peers"])

Without a benchmark the peer columns are explicit missing values (NaN), never guesses. A sector with
fewer than `min_merchants` rows in the fitting population (or an empty or unknown sector) is compared
with the whole population instead.

The rates compared and the comparison itself live in peer_bases.py, which compute_features uses to
fill the peer columns; this module builds on compute (a benchmark is fitted on computed features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from underwriting.features.compute import compute_features_with_bases, feature_index
from underwriting.features.history import LoanRequest
from underwriting.features.peer_bases import PEER_BASE_NAMES, PEER_BASES, peer_columns, sector_key
from underwriting.features.season import MONTH_COLUMNS, sector_index


@dataclass(frozen=True)
class PeerBenchmarks:
    """Per sector, the median of log(max(base feature, floor)) for each peer feature's base, and the
    sector's calendar (season.py: 12 monthly log levels; the whole population's for a sector with
    too few rows)."""

    medians: Mapping[str, Mapping[str, float]]
    overall: Mapping[str, float]
    counts: Mapping[str, int] = field(default_factory=dict)
    min_merchants: int = 30
    seasons: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    overall_season: tuple[float, ...] | None = None

    @classmethod
    def fit(cls, histories: Sequence, *, min_merchants: int = 30) -> PeerBenchmarks:
        """Fit on a population of MerchantHistory objects (e.g. the training rows' histories)."""
        _, bases = compute_features_with_bases(histories, [LoanRequest(1.0, 1)] * len(histories))
        return cls.fit_values([h.sector for h in histories], bases, min_merchants=min_merchants)

    @classmethod
    def fit_values(cls, sectors: Sequence[str], base: Mapping[str, np.ndarray] | np.ndarray, *,
                   min_merchants: int = 30) -> PeerBenchmarks:
        """Fit from the rows' sectors and base values: a (n, len(PEER_BASE_NAMES)) matrix as returned by
        compute_features_with_bases, or a mapping base name -> values."""
        if isinstance(base, np.ndarray):
            base = {name: base[:, i] for i, name in enumerate(PEER_BASE_NAMES)}
        keys = np.array([sector_key(s) for s in sectors], dtype=object)
        medians: dict[str, dict[str, float]] = {}
        overall: dict[str, float] = {}
        counts = {str(k): int(c) for k, c in zip(*np.unique(keys, return_counts=True), strict=True)} if keys.size else {}
        for name, floor in dict(PEER_BASES.values()).items():
            x = np.log(np.maximum(np.asarray(base[name], dtype=np.float64), floor))
            ok = np.isfinite(x)
            if ok.any():
                overall[name] = float(np.median(x[ok]))
            for k in counts:
                sel = ok & (keys == k)
                if k and sel.sum() >= min_merchants:
                    medians.setdefault(k, {})[name] = float(np.median(x[sel]))
        seasons, overall_season = _seasons(keys, base, counts, min_merchants)
        return cls(medians=medians, overall=overall, counts=counts, min_merchants=min_merchants, seasons=seasons,
                   overall_season=overall_season)

    def apply(self, X: np.ndarray, sectors: Sequence[str], bases: np.ndarray) -> np.ndarray:
        """A copy of X (compute_features' columns) with the peer columns computed from `bases`
        (compute_features_with_bases): equal to compute_features(..., peers=self)."""
        out = np.array(X, dtype=np.float64, copy=True)
        base = {name: bases[:, i] for i, name in enumerate(PEER_BASE_NAMES)}
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, values in peer_columns(sectors, base, self).items():
                out[:, feature_index(name)] = values
        return out

    def reference(self, sector: str, base: str) -> float:
        value = self.medians.get(sector_key(sector), {}).get(base)
        if value is None:
            value = self.overall.get(base)
        return float("nan") if value is None else float(value)

    def season(self, sector: str) -> np.ndarray | None:
        found = self.seasons.get(sector_key(sector), self.overall_season)
        return None if found is None else np.asarray(found, dtype=np.float64)

    def to_dict(self) -> dict:
        return {"medians": {k: dict(v) for k, v in self.medians.items()}, "overall": dict(self.overall),
                "counts": dict(self.counts), "min_merchants": self.min_merchants,
                "seasons": {k: list(v) for k, v in self.seasons.items()},
                "overall_season": None if self.overall_season is None else list(self.overall_season)}

    @classmethod
    def from_dict(cls, data: Mapping) -> PeerBenchmarks:
        # benchmarks saved before the sector calendar have none: their season columns stay NaN
        overall_season = data.get("overall_season")
        return cls(medians={k: dict(v) for k, v in data["medians"].items()}, overall=dict(data["overall"]),
                   counts=dict(data.get("counts", {})), min_merchants=int(data.get("min_merchants", 30)),
                   seasons={k: tuple(v) for k, v in data.get("seasons", {}).items()},
                   overall_season=None if overall_season is None else tuple(overall_season))


def _seasons(keys: np.ndarray, base: Mapping[str, np.ndarray], counts: Mapping[str, int], min_merchants: int
             ) -> tuple[dict[str, tuple[float, ...]], tuple[float, ...] | None]:
    """Per sector (and for everyone) the calendar's 12 monthly log levels, from the rows' own."""
    if not all(name in base for name in MONTH_COLUMNS):
        return {}, None
    levels = np.column_stack([np.asarray(base[name], dtype=np.float64) for name in MONTH_COLUMNS])
    seasons = {}
    for k in counts:
        index = sector_index(levels[keys == k], min_merchants) if k else None
        if index is not None:
            seasons[k] = tuple(round(float(v), 6) for v in index)
    overall = sector_index(levels, min_merchants)
    return seasons, None if overall is None else tuple(round(float(v), 6) for v in overall)
