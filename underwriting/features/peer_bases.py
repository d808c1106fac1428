"""Which rates the peer features compare with the merchant's sector, and the comparison itself.

compute_features fills the peer columns from these (given a benchmark); peers.py fits the benchmark
(PeerBenchmarks) on computed features. Both import this module, so neither imports the other's
callers: peers depends on compute, compute only on this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from underwriting.features.season import SEASON_BASE_NAMES, SEASON_FEATURES, season_columns

# peer feature -> (base feature, floor applied before the logarithm)
PEER_BASES: dict[str, tuple[str, float]] = {
    "refund_rate_90d_vs_sector": ("refund_rate_90d", 1e-5),
    "refund_rate_365d_vs_sector": ("refund_rate_365d", 1e-5),
    "chargebacks_vs_sector": ("chargebacks_per_10k_sales_365d", 1e-3),
    "sales_volatility_vs_sector": ("log_daily_sales_sd_90d", 1e-3),
    "fixed_costs_vs_sector": ("fixed_costs_to_revenue_90d", 1e-4),
    "supplier_payments_vs_sector": ("supplier_payments_to_revenue_90d", 1e-4),
    "return_rate_vs_sector": ("return_rate_3m", 1e-5),
    "dispute_rate_vs_sector": ("dispute_rate_3m", 1e-5),
}


# the rates' bases, then the calendar inputs of the sector's season (season.py)
PEER_BASE_NAMES: tuple[str, ...] = (*sorted({base for base, _ in PEER_BASES.values()}), *SEASON_BASE_NAMES)


class SectorReference(Protocol):
    """What the peer columns need of a benchmark (peers.PeerBenchmarks): a sector's reference value
    of a base feature's logarithm (NaN when unknown)."""

    def reference(self, sector: str, base: str) -> float: ...

    def season(self, sector: str) -> np.ndarray | None:
        """The sector's 12 monthly log levels (season.sector_index), None when unknown."""


def sector_key(sector: str | None) -> str:
    return (sector or "").strip().lower()


def peer_columns(sectors: Sequence[str], base: Mapping[str, np.ndarray],
                 peers: SectorReference | None) -> dict[str, np.ndarray]:
    """The peer features: log(max(value, floor)) minus the sector's reference (NaN without peers)."""
    n = len(sectors)
    out: dict[str, np.ndarray] = {}
    for name, (b, floor) in PEER_BASES.items():
        if peers is None:
            out[name] = np.full(n, np.nan)
            continue
        keys, inv = np.unique(np.array([sector_key(s) for s in sectors], dtype=object), return_inverse=True)
        ref = np.array([peers.reference(k, b) for k in keys], dtype=np.float64)[inv.reshape(-1)]
        out[name] = np.log(np.maximum(base[b], floor)) - ref
    out.update(_season(sectors, base, peers))
    return out


def _season(sectors: Sequence[str], base: Mapping[str, np.ndarray], peers: SectorReference | None
            ) -> dict[str, np.ndarray]:
    n = len(sectors)
    if peers is None:
        return {name: np.full(n, np.nan) for name in SEASON_FEATURES}
    index = np.full((n, 12), np.nan)
    for i, key in enumerate(sector_key(s) for s in sectors):
        found = peers.season(key)
        if found is not None:
            index[i] = found
    return season_columns(index, base)
