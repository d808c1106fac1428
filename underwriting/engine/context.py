"""What the engine knows of the business besides its features: age, arrears, open loans, cash
flows and exposure, read from the history as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

import numpy as np

from underwriting.engine.exposure import Exposure
from underwriting.engine.product import (
    estimated_outstanding,
)
from underwriting.features.history import CURRENT, DEFAULTED, IN, KIND, OUT, MerchantHistory, day_date
from underwriting.money import ZERO, to_cents


@dataclass(frozen=True)
class BusinessContext:
    """Facts about the business at as_of, beyond the model's features, that rules and sizing use.

    Stored with the decision (as plain JSON) so a replay needs no database read of history."""

    history_days: int
    business_age_days: int | None
    is_blocked: bool
    open_loans: int
    max_days_past_due: float | None
    recent_defaults: int
    existing_exposure: Decimal
    monthly_revenue: Decimal
    avg_monthly_net_inflow: Decimal
    monthly_debt_service: Decimal
    inflow_spike_ratio: float | None
    # Read live at the decision's instant (None in decisions made before exposure was read live, in
    # backtests and batch scores): open platform loans of the business and its related parties, and
    # the whole reading (Exposure.as_dict()).
    open_platform_loans: int | None = None
    exposure: dict | None = None
    # The request's bases (features.REQUEST_BASE_NAMES; None = missing): the engine weighs other amounts
    # of the same request with them (counter-offers). None in decisions made before they were stored.
    request_bases: list[float | None] | None = None
    # The partner's currency (money in reasons is stated with it).
    currency: str = ""
    # Where the history came from (underwriting/provenance.py; "" when never recorded) and the
    # consistency checks its uploaded batches tripped ({code, title, detail}; None when not recorded).
    provenance: str = ""
    history_checks: list[dict] | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("existing_exposure", "monthly_revenue", "avg_monthly_net_inflow", "monthly_debt_service"):
            out[key] = str(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> BusinessContext:
        values = dict(data)
        for key in ("existing_exposure", "monthly_revenue", "avg_monthly_net_inflow", "monthly_debt_service"):
            values[key] = Decimal(values[key])
        return cls(**values)


CLASSIFIED_KINDS = [KIND[k] for k in ("sale", "supplier_payment", "payroll", "rent", "tax")]


def _window_sum(daily, as_of_day: int, days: int, mask: np.ndarray) -> float:
    return float(daily.total[mask & (daily.day >= as_of_day - days)].sum())


def _cash_flows(history: MerchantHistory, history_days: int) -> tuple[float, float, float]:
    """Monthly revenue, monthly net operating inflow after debt service, and monthly debt service."""
    as_of_day, daily = history.as_of_day, history.daily
    inflow = daily.direction == IN
    outflow = daily.direction == OUT
    has_sales = bool(np.any(daily.kind == KIND["sale"]))
    revenue_mask = (
        (inflow & (daily.kind == KIND["sale"]))
        if has_sales
        else (inflow & (daily.kind != KIND["loan_disbursement"]))
    )
    # Revenue is averaged over what the merchant has actually traded in the window (a young
    # merchant's 40 days are not spread over 90).
    window = min(90, max(history_days, 1))
    monthly_revenue = _window_sum(daily, as_of_day, 90, revenue_mask) / window * 30.0
    # Cash flow available for debt service: operating inflows minus operating outflows over 180 days,
    # minus the loan repayments running now (the last 60 days: a loan repaid months ago no longer
    # weighs). When the source classifies its transactions, transfers are the owner's drawings and
    # injections or moves between own accounts, not operations: a shop sweeping its surplus to the
    # owner each month still has that surplus to repay from, as an analyst adding back drawings
    # would see. A coarse bank statement (everything a transfer) keeps every flow, conservatively.
    classified = has_sales or bool(np.any(np.isin(daily.kind, CLASSIFIED_KINDS)))
    loan_flows = np.isin(daily.kind, [KIND["loan_disbursement"], KIND["loan_repayment"]])
    operating = ~loan_flows & (daily.kind != KIND["transfer"]) if classified else ~loan_flows
    net_window = min(180, max(history_days, 1))
    operating_in = _window_sum(daily, as_of_day, 180, inflow & operating)
    operating_out = _window_sum(daily, as_of_day, 180, outflow & operating)
    repayments = outflow & (daily.kind == KIND["loan_repayment"])
    monthly_debt_service = _window_sum(daily, as_of_day, 60, repayments) / min(60, max(history_days, 1)) * 30.0
    net_inflow = (operating_in - operating_out) / net_window * 30.0 - monthly_debt_service
    return monthly_revenue, net_inflow, monthly_debt_service


def _inflow_spike(history: MerchantHistory, history_days: int) -> float | None:
    """The last 14 days' daily inflow over the 90 days before them (None without 30 days of baseline)."""
    as_of_day, daily = history.as_of_day, history.daily
    inflow = daily.direction == IN
    recent = _window_sum(daily, as_of_day, 14, inflow) / 14.0
    base_mask = inflow & (daily.day < as_of_day - 14) & (daily.day >= as_of_day - 104)
    baseline_days = min(90, max(history_days - 14, 0))
    baseline = float(daily.total[base_mask].sum()) / baseline_days if baseline_days >= 30 else 0.0
    return recent / baseline if baseline > 0 else None


def _existing_exposure(history: MerchantHistory, exposure: Exposure | None) -> Decimal:
    if exposure is not None:
        return exposure.total
    # No live reading (a backtest, a batch score): the credit record's loans current on as_of's
    # day, each at its estimated outstanding principal.
    loans = history.loans
    current = loans.status == CURRENT
    return sum(
        (estimated_outstanding(amount=to_cents(amount), originated_on=day_date(int(orig)),
                               term_months=int(term), on=history.as_of)
         for orig, amount, term in zip(loans.originated_on[current], loans.amount[current],
                                       loans.term_months[current], strict=True)),
        ZERO,
    )


def business_context(
    *, history: MerchantHistory, is_blocked: bool, exposure: Exposure | None = None, recent_default_days: int = 365
) -> BusinessContext:
    """Derive the rule and sizing inputs from the same point-in-time history the features use.

    `exposure` is what the business and its related parties owe or have on offer at the instant of
    the decision (underwriting/engine/exposure.py), read by the lending workflow under a row lock; without it
    (backtests, batch scores) the existing exposure is estimated from the credit record on as_of's day
    and the open-loans rule is not applied."""
    as_of_day = history.as_of_day
    daily = history.daily
    history_days = int(as_of_day - daily.day[0]) if daily.day.size else 0
    started = history.established_on or history.onboarded_on
    age = (history.as_of - started).days if started else None
    monthly_revenue, net_inflow, monthly_debt_service = _cash_flows(history, history_days)
    spike = _inflow_spike(history, history_days)
    loans = history.loans
    current = loans.status == CURRENT
    dpd = loans.days_past_due[current]
    known = dpd[~np.isnan(dpd)]
    defaulted_recently = (loans.status == DEFAULTED) & (loans.defaulted_on >= as_of_day - recent_default_days)
    return BusinessContext(
        history_days=history_days,
        business_age_days=age,
        is_blocked=bool(is_blocked),
        open_loans=int(current.sum()),
        max_days_past_due=float(known.max()) if known.size else None,
        recent_defaults=int(defaulted_recently.sum()),
        existing_exposure=to_cents(_existing_exposure(history, exposure)),
        monthly_revenue=to_cents(max(monthly_revenue, 0.0)),
        avg_monthly_net_inflow=to_cents(net_inflow),
        monthly_debt_service=to_cents(monthly_debt_service),
        inflow_spike_ratio=None if spike is None else round(float(spike), 6),
        open_platform_loans=None if exposure is None else exposure.open_platform_loans,
        exposure=None if exposure is None else exposure.as_dict(),
    )
