"""The burden features: a loan request weighed against what the merchant's history supports.

A decision stores each history's REQUEST_BASE_NAMES values, so the same request can be weighed at
another amount exactly as compute_features would have (the counter-offer search, and its replay):
compute_features and request_features both go through `burden_columns`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from underwriting.features.arrays import div

REFERENCE_APR = 0.18  # the instalment of the burden features (a reference price, not the offer's)

# What the burden features compare a request with (per history): monthly business inflows, monthly
# net cash flow, monthly repayments to other lenders, monthly inflows net of refunds, the largest
# earlier loan.
REQUEST_BASE_NAMES = ("monthly_revenue", "net_monthly", "external_service", "monthly_net_revenue",
                      "largest_prior_loan")
BURDEN_NAMES = ("requested_amount", "term_months", "amount_to_monthly_revenue", "instalment_to_net_inflow",
                "total_debt_service_to_revenue", "amount_to_largest_prior_loan")


def burden_columns(amount: np.ndarray, term: np.ndarray, bases: np.ndarray) -> dict[str, np.ndarray]:
    """The BURDEN_NAMES columns of requests (amount, term in months) against their REQUEST_BASE_NAMES
    values (an (n, len(REQUEST_BASE_NAMES)) array)."""
    monthly_rev, net_monthly, external, monthly_net_rev, largest = np.asarray(bases, dtype=np.float64).T
    monthly_rate = REFERENCE_APR / 12.0
    annuity = monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-np.maximum(term, 1.0)))
    instalment = amount * annuity
    ratio = div(instalment, np.maximum(net_monthly, 0.0))
    return {
        "requested_amount": amount.copy(),
        "term_months": term.copy(),
        "amount_to_monthly_revenue": div(amount, monthly_rev),
        "instalment_to_net_inflow": np.where(np.isnan(net_monthly), np.nan,
                                             np.where(np.isnan(ratio), 10.0, np.minimum(ratio, 10.0))),
        "total_debt_service_to_revenue": div(instalment + external, monthly_net_rev),
        "amount_to_largest_prior_loan": div(amount, largest),
    }


def request_features(bases: Sequence[float | None], amounts: Sequence[float], term_months: int) -> np.ndarray:
    """(len(amounts), len(BURDEN_NAMES)) burden features of one history's request at each amount, from
    its REQUEST_BASE_NAMES values (None = missing): bit for bit what compute_features gives."""
    row = np.array([np.nan if b is None else float(b) for b in bases], dtype=np.float64)
    amount = np.asarray(amounts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = burden_columns(amount, np.full(amount.shape, float(term_months)), np.tile(row, (amount.size, 1)))
    return np.column_stack([cols[name] for name in BURDEN_NAMES])
