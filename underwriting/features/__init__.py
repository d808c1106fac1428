"""Point-in-time features of a merchant (plain data in, plain data out; no Django models).

    from underwriting.features import FEATURES, feature_names, compute_features, MerchantHistory, LoanRequest

See docs/features.md for the catalog and the point-in-time rule.
"""

from .catalog import FAMILIES, FeatureSpec
from .compute import FEATURES, REFERENCE_APR, compute_features, feature_index, feature_names
from .history import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PriorLoans,
)

__all__ = [
    "FAMILIES",
    "FEATURES",
    "REFERENCE_APR",
    "BalanceRows",
    "CounterpartyRows",
    "DailyRows",
    "FeatureSpec",
    "LoanRequest",
    "MerchantHistory",
    "MetricRows",
    "PriorLoans",
    "compute_features",
    "feature_index",
    "feature_names",
]
