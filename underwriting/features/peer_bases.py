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
    """The peer features: log(max(value, floor)) minus the sector's reference, and the sector calendar's
    two (season.py); NaN without peers."""
    n = len(sectors)
    if peers is None:
        return {name: np.full(n, np.nan) for name in (*PEER_BASES, *SEASON_FEATURES)}
    # each distinct sector looked up once, spread back to the rows
    keys, inv = np.unique(np.array([sector_key(s) for s in sectors], dtype=object), return_inverse=True)
    inv = inv.reshape(-1)
    out: dict[str, np.ndarray] = {}
    for name, (b, floor) in PEER_BASES.items():
        ref = np.array([peers.reference(k, b) for k in keys], dtype=np.float64)[inv]
        out[name] = np.log(np.maximum(base[b], floor)) - ref
    calendars = [peers.season(k) for k in keys]
    index = np.array([np.full(12, np.nan) if c is None else c for c in calendars], dtype=np.float64).reshape(-1, 12)
    out.update(season_columns(index[inv], base))
    return out
