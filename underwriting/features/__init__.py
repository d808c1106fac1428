"""Point-in-time features of a merchant (plain data in, plain data out; no Django models).

    from underwriting.features import FEATURES, feature_names, compute_features, MerchantHistory, LoanRequest

See docs/features.md for the catalog and the point-in-time rule.
"""

from .burden import BURDEN_NAMES, REFERENCE_APR, REQUEST_BASE_NAMES, request_features
from .catalog import FAMILIES, FeatureSpec
from .compute import (
    compute_features,
    compute_features_with_bases,
    compute_features_with_request_bases,
    feature_index,
    feature_names,
)
from .history import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PriorLoans,
)
from .peer_bases import PEER_BASE_NAMES, PEER_BASES
from .peers import PeerBenchmarks
from .specs import FEATURES

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
