"""Point-in-time features of a merchant (plain data in, plain data out; no Django models).

    from underwriting.features import FEATURES, feature_names, compute_features, MerchantHistory, LoanRequest

See docs/features.md for the catalog and the point-in-time rule.
"""

from underwriting.features.burden import BURDEN_NAMES, REFERENCE_APR, REQUEST_BASE_NAMES, request_features
from underwriting.features.catalog import FAMILIES, FeatureSpec
from underwriting.features.compute import (
    compute_features,
    compute_features_with_bases,
    compute_features_with_request_bases,
    feature_index,
    feature_names,
)
from underwriting.features.history import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PriorLoans,
)
from underwriting.features.peer_bases import PEER_BASE_NAMES, PEER_BASES
from underwriting.features.peers import PeerBenchmarks
from underwriting.features.specs import FEATURES

__all__ = [
    "BURDEN_NAMES",
    "FAMILIES",
    "FEATURES",
    "PEER_BASES",
    "PEER_BASE_NAMES",
    "REFERENCE_APR",
    "REQUEST_BASE_NAMES",
    "BalanceRows",
    "CounterpartyRows",
    "DailyRows",
    "FeatureSpec",
    "LoanRequest",
    "MerchantHistory",
    "MetricRows",
    "PeerBenchmarks",
    "PriorLoans",
    "compute_features",
    "compute_features_with_bases",
    "compute_features_with_request_bases",
    "feature_index",
    "feature_names",
    "request_features",
]
