"""Point-in-time features: one vectorised code path for one live decision and for a training batch.

`compute_features(histories, requests)` returns an (n, F) float64 array in the order of FEATURES
(NaN = explicitly missing). Merchants are processed in chunks: each chunk's rollup rows are
concatenated with a merchant index and turned into dense per-merchant daily panels (PANEL_DAYS days
ending the day before each merchant's as_of) of a few channels; windows are differences of
cumulative sums, groups are bincounts. Nothing loops over merchants or rows in Python except the
gathering of each history's arrays. Row i of the result depends only on history i and request i
(exactly: every reduction runs per merchant in the same order whatever the batch), so a batch equals
n single computations bit for bit.

This module runs the chunks and lays out the columns; the pieces live in their own modules: chunk.py
(rows and panels), flows.py (the revenue, sales and expense panels several families share), one
module per group of families (sales, cashflow, obligations, counterparties, reputation, tenure, debt,
burden) and peer_bases.py (the peer columns, given a benchmark fitted by peers.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from underwriting.features.burden import REQUEST_BASE_NAMES, burden_columns
from underwriting.features.cashflow import cashflow_features
from underwriting.features.chunk import Chunk
from underwriting.features.counterparties import counterparty_features
from underwriting.features.debt import debt_features
from underwriting.features.flows import Flows
from underwriting.features.history import LoanRequest, MerchantHistory
from underwriting.features.obligations import obligation_features
from underwriting.features.peer_bases import PEER_BASE_NAMES, SectorReference, peer_columns
from underwriting.features.reputation import reputation_features
from underwriting.features.sales import sales_features
from underwriting.features.season import season_bases
from underwriting.features.specs import FEATURES
from underwriting.features.tenure import tenure_features

__all__ = ["CHUNK", "compute_features", "compute_features_with_bases", "compute_features_with_request_bases",
           "feature_index", "feature_names"]

CHUNK = 256  # merchants per chunk (panels of CHUNK x PANEL_DAYS per channel stay in cache-friendly sizes)

_NAMES = [f.name for f in FEATURES]
_INDEX = {name: i for i, name in enumerate(_NAMES)}


def feature_names() -> list[str]:
    return list(_NAMES)


def feature_index(name: str) -> int:
    return _INDEX[name]


def compute_features(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest],
                     peers: SectorReference | None = None) -> np.ndarray:
    """(n, F) float64 features of n (history, request) pairs, columns in FEATURES order.

    `peers`: the sector benchmarks fitted with the model (peers.PeerBenchmarks); without them the peer
    columns ("..._vs_sector") are NaN."""
    return _compute(histories, requests, peers)[0]


def compute_features_with_request_bases(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest],
                                        peers: SectorReference | None = None) -> tuple[np.ndarray, np.ndarray]:
    """compute_features plus each history's REQUEST_BASE_NAMES values (what a decision stores)."""
    out, _, request = _compute(histories, requests, peers)
    return out, request


def compute_features_with_bases(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]
                                ) -> tuple[np.ndarray, np.ndarray]:
    """compute_features without a benchmark, plus the (n, len(PEER_BASE_NAMES)) values the peer
    features compare with their sector: what a training-set builder needs to fit PeerBenchmarks and
    fill the peer columns in one pass (PeerBenchmarks.fit_values, PeerBenchmarks.apply)."""
    out, bases, _ = _compute(histories, requests, None)
    return out, bases


def _compute(histories, requests, peers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(histories)
    if len(requests) != n:
        raise ValueError(f"{n} histories but {len(requests)} requests")
    out = np.full((n, len(FEATURES)), np.nan)
    bases = np.full((n, len(PEER_BASE_NAMES)), np.nan)
    request = np.full((n, len(REQUEST_BASE_NAMES)), np.nan)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        with np.errstate(divide="ignore", invalid="ignore"):  # windows the history does not cover: NaN
            cols = _chunk_features(histories[lo:hi], requests[lo:hi])
            cols.update(peer_columns([h.sector for h in histories[lo:hi]], cols, peers))
        missing = set(_NAMES) - cols.keys()
        if missing:
            raise RuntimeError(f"features not computed: {sorted(missing)}")
        for i, name in enumerate(_NAMES):  # (cols also holds helper columns, e.g. peer bases)
            out[lo:hi, i] = cols[name]
        for i, name in enumerate(PEER_BASE_NAMES):
            bases[lo:hi, i] = cols[name]
        for i, name in enumerate(REQUEST_BASE_NAMES):
            request[lo:hi, i] = cols[name]
    return out, bases, request


def _chunk_features(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]) -> dict[str, np.ndarray]:
    """The feature columns of one chunk (plus helper columns: the peer and request bases)."""
    chunk = Chunk(histories, requests)
    flows = Flows(chunk)
    f: dict[str, np.ndarray] = {}
    sales_features(chunk, flows, f)
    season_bases(chunk, flows, f)
    cashflow_features(chunk, flows, f)
    obligation_features(chunk, flows, f)
    counterparty_features(chunk, flows, f)
    reputation_features(chunk, f)
    tenure_features(chunk, flows, f)
    debt_features(chunk, flows, f)
    # burden: the request against what the history supports, through the one function a decision
    # also uses to weigh other amounts of the same request (request_features)
    bases = np.column_stack([flows.monthly_revenue, flows.net_monthly, f["external_service"],
                             flows.monthly_net_revenue, f["largest_prior_loan"]])
    f.update(zip(REQUEST_BASE_NAMES, bases.T, strict=True))
    f.update(burden_columns(chunk.amount, chunk.term, bases))
    return f
