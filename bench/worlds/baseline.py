"""The two fixed baselines the engine is held against: about twenty features of the obvious kinds, written
once without looking at any world, fed to LightGBM with default settings (300 trees) and to a
logistic regression with cross-validated regularisation.

"Sales" here is money coming in that is not a loan: card and cash takings, payouts and transfers
from customers (on a bank statement: card settlements and incoming transfers). Each feature reads
only rows of days before the snapshot's `as_of`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from underwriting.features import LoanRequest, MerchantHistory
from underwriting.kinds import Direction, TransactionKind

K = TransactionKind
IN, OUT = int(Direction.IN), int(Direction.OUT)
_SALES = [int(k) for k in (K.SALE, K.CARD_PAYMENT, K.PAYOUT, K.TRANSFER, K.CASH_DEPOSIT)]
_REFUNDS = [int(K.REFUND), int(K.CHARGEBACK)]
_FEES = [int(K.FEE), int(K.INTEREST)]

NAMES = (
    "sales_30d", "sales_90d", "sales_180d", "sales_365d", "growth_90d_vs_year", "weekly_sales_cv_26w",
    "refund_rate_90d", "balance_mean_90d", "balance_min_90d", "fees_to_sales_90d", "rent_months_paid_6m",
    "supplier_gap_cv_12m", "loan_repayments_to_sales_90d", "amount_to_monthly_sales", "term_months",
    "tenure_days", "top_customer_share_180d", "sales_spike_14d", "outflow_to_inflow_90d", "prior_defaults",
)


def _row(h: MerchantHistory, r: LoanRequest) -> list[float]:
    d = h.daily
    end = h.as_of_day
    age = end - d.day
    sales = np.isin(d.kind, _SALES) & (d.direction == IN)
    s = lambda days: float(d.total[sales & (age <= days)].sum())  # noqa: E731
    s30, s90, s180, s365 = s(30), s(90), s(180), s(365)
    weeks = np.bincount(np.minimum(age[sales] // 7, 26), weights=d.total[sales], minlength=27)[:26]
    refunds = float(d.total[np.isin(d.kind, _REFUNDS) & (age <= 90)].sum())
    fees = float(d.total[np.isin(d.kind, _FEES) & (d.direction == OUT) & (age <= 90)].sum())
    rent_days = age[(d.kind == int(K.RENT)) & (age <= 180)]
    supplier_days = np.sort(d.day[(d.kind == int(K.SUPPLIER_PAYMENT)) & (age <= 365)])
    gaps = np.diff(supplier_days)
    repay = float(d.total[(d.kind == int(K.LOAN_REPAYMENT)) & (age <= 90)].sum())
    inflow = float(d.total[(d.direction == IN) & (age <= 90)].sum())
    outflow = float(d.total[(d.direction == OUT) & (age <= 90)].sum())
    b = h.balances
    recent_b = b.close[b.day >= end - 90]
    cp = h.counterparties
    pay_in = (cp.direction == IN) & (cp.day >= end - 180)
    per_cp = np.bincount(np.unique(cp.counterparty[pay_in], return_inverse=True)[1],
                         weights=cp.total[pay_in]) if pay_in.any() else np.zeros(0)
    first = h.first_day
    monthly = s90 / 3
    nan = float("nan")
    return [
        s30, s90, s180, s365,
        s90 / (s365 / 4) if s365 > 0 else nan,
        float(weeks.std() / weeks.mean()) if weeks.mean() > 0 else nan,
        refunds / s90 if s90 > 0 else nan,
        float(recent_b.mean()) if recent_b.size else nan,
        float(recent_b.min()) if recent_b.size else nan,
        fees / s90 if s90 > 0 else nan,
        float(np.unique(rent_days // 30).size),
        float(gaps.std() / gaps.mean()) if gaps.size > 2 and gaps.mean() > 0 else nan,
        repay / s90 if s90 > 0 else nan,
        r.amount / monthly if monthly > 0 else nan,
        float(r.term_months),
        float(end - first) if first is not None else nan,
        float(per_cp.max() / per_cp.sum()) if per_cp.size and per_cp.sum() > 0 else nan,
        float(d.total[sales & (age <= 14)].sum()) / (s90 / 90 * 14) if s90 > 0 else nan,
        outflow / inflow if inflow > 0 else nan,
        float((h.loans.status == 2).sum()),
    ]


def baseline_features(histories: Sequence[MerchantHistory], requests: Sequence[LoanRequest]) -> np.ndarray:
    """(n, 20) float64, NaN where a feature cannot be computed (e.g. balances on a bank statement)."""
    return np.array([_row(h, r) for h, r in zip(histories, requests, strict=True)], dtype=np.float64)


def fit_lightgbm(X: np.ndarray, y: np.ndarray, seed: int):
    """LightGBM with default settings and 300 trees: what a modeller gets in fifteen minutes."""
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=300, random_state=seed, verbose=-1, n_jobs=2)
    model.fit(X, y)
    return lambda Z: model.predict_proba(Z)[:, 1]


def fit_logistic(X: np.ndarray, y: np.ndarray, seed: int):
    """Logistic regression with cross-validated L2 strength, on signed logs of the features (money
    spans orders of magnitude), missing values imputed with the median plus a missing flag."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    signed_log = FunctionTransformer(lambda Z: np.sign(Z) * np.log1p(np.abs(Z)))
    model = make_pipeline(signed_log, SimpleImputer(strategy="median", add_indicator=True,
                                                    keep_empty_features=True),
                          StandardScaler(), LogisticRegressionCV(Cs=8, cv=3, scoring="roc_auc", max_iter=2000))
    model.fit(X, y)
    return lambda Z: model.predict_proba(Z)[:, 1]
