"""Point-in-time features (underwriting.features): catalog, exact values on hand-built histories,
coarse bank-statement data, batch = singles, and behaviour when sales scale up evenly.

These tests need no database: the feature code takes plain data.
"""

import math
import re
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from underwriting.features import (
    BURDEN_NAMES,
    FAMILIES,
    FEATURES,
    PEER_BASES,
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PeerBenchmarks,
    PriorLoans,
    compute_features,
    compute_features_with_bases,
    compute_features_with_request_bases,
    feature_names,
    request_features,
)
from underwriting.features.burden import REFERENCE_APR
from underwriting.features.compute import CHUNK
from underwriting.features.history import CURRENT, DEFAULTED, IN, KIND, KINDS, NO_DAY, OUT, REPAID, day_number
from underwriting.features.season import SEASON_FEATURES
from underwriting.history.models import Direction, TransactionKind

AS_OF = date(2025, 1, 1)
A = day_number(AS_OF)
NAMES = feature_names()


def col(X, name):
    return X[:, NAMES.index(name)]


def one(history, request=None):
    X = compute_features([history], [request or LoanRequest(12_000.0, 12)])
    return dict(zip(NAMES, X[0], strict=True))


# --- a hand-built merchant with known numbers ---------------------------------------------------


def rent_day(d: date) -> int:
    return 12 if (d.year, d.month) in {(2024, 10), (2024, 11)} else 5


def shop_history(*, days: int = 400, as_of: date = AS_OF, kinds: str = "rich") -> MerchantHistory:
    """A steady shop: 100.00 of card sales every day from the 'Pay' processor (code 1), a refund of 35.00
    every Monday, rent 1,000.00 on the 5th of each month (the 12th in October and November 2024),
    a closing balance of 5,000.00 (lowest 4,000.00) except ten days at -200.00 in December 2024,
    a monthly rating of 4.5 and three earlier loans (repaid, defaulted, running)."""
    a = day_number(as_of)
    first = a - days
    daily, cps, bal = [], [], []
    for d in range(first, a):
        dt = date.fromordinal(d + date(1970, 1, 1).toordinal())
        daily.append((d, IN, KIND["sale"], 3, 100.0, 40.0))
        cps.append((d, IN, 1, 3, 100.0))
        if dt.weekday() == 0:
            daily.append((d, OUT, KIND["refund"], 1, 35.0, 35.0))
            cps.append((d, OUT, 1, 1, 35.0))
        if dt.day == rent_day(dt):
            daily.append((d, OUT, KIND["rent"], 1, 1000.0, 1000.0))
            cps.append((d, OUT, 2, 1, 1000.0))
        negative = dt.year == 2024 and dt.month == 12 and 10 <= dt.day < 20
        bal.append((d, -200.0 if negative else 4000.0, -200.0 if negative else 5000.0))
    metrics = [(day_number(date(2024, m, 28)), "rating", 4.5) for m in range(1, 13) if date(2024, m, 28) < as_of]
    # The credit record as stored today; the history sees it as of its day.
    loans = PriorLoans.from_record(
        originated_on=[day_number(date(2023, 6, 1)), day_number(date(2024, 2, 1)), day_number(date(2024, 9, 1))],
        amount=[5000.0, 8000.0, 6000.0], term_months=[6, 6, 12], final_status=[REPAID, DEFAULTED, CURRENT],
        defaulted_on=[NO_DAY, day_number(date(2024, 10, 1)), NO_DAY], days_past_due=[0.0, 95.0, 0.0],
        as_of_day=a)
    d = list(zip(*daily, strict=True))
    c = list(zip(*cps, strict=True))
    b = list(zip(*bal, strict=True))
    m = list(zip(*metrics, strict=True))
    return MerchantHistory(
        as_of=as_of, sector="grocery", region="east", established_on=date(2020, 1, 1),
        onboarded_on=date(2023, 1, 1),
        daily=DailyRows.build(*d), counterparties=CounterpartyRows.build(*c), balances=BalanceRows.build(*b),
        metrics=MetricRows.build(*m), loans=loans,
    )


def test_codes_match_the_models():
    assert IN == Direction.IN and OUT == Direction.OUT
    assert {name: code for code, name in TransactionKind.choices} == {KINDS[c - 1]: c for c in KIND.values()}


def test_catalog_integrity():
    # Given the catalog, then it is large, named uniquely and covers every family
    assert len(FEATURES) >= 60
    assert len(set(NAMES)) == len(NAMES) == len(FEATURES)
    assert {f.family for f in FEATURES} == set(FAMILIES)
    for family in FAMILIES:
        assert sum(f.family == family for f in FEATURES) >= 3, family
    for f in FEATURES:
        assert f.description.strip() and f.family_label
        assert f.monotone in (-1, 0, 1)
        for helped in (False, True):
            for typical in (None, 0.2):
                text = f.statement(0.1234, helped=helped, currency="EUR", typical=typical)
                assert text and any(ch.isdigit() for ch in text), (f.name, text)
                assert "{" not in text and "nan" not in text.lower()
        assert f.statement(float("nan"))  # missing values are stated too
        assert f.statement(float("nan"), typical=0.2) == f.statement(float("nan"))
        # a sense for the wording: the monotone sign, or how an unconstrained feature reads
        assert f.sense == (f.monotone or f.reads)
    # Anomaly features are either unconstrained or risk-raising (scale-invariant ratios).
    assert all(f.monotone in (0, 1) for f in FEATURES if f.family == "anomaly")
    # Growth reads as good news and running loans as bad news, whatever the model makes of them.
    spec = {f.name: f for f in FEATURES}
    assert all(spec[n].sense == -1 for n in ("sales_change_90d", "sales_trend_26w", "sales_vs_peak_12m"))
    assert spec["prior_loans_current"].sense == 1 and spec["sales_spike_14d"].sense == 0


def test_statements_carry_the_applicants_numbers_with_unit_and_scale():
    spec = {f.name: f for f in FEATURES}
    # the old call form still works, with the unit in every number
    assert spec["sales_change_90d"].statement(-0.35) == "Sales fell 35% in the last 90 days against the 90 days before"
    assert spec["sales_change_90d"].statement(0.12, True) == "Sales rose 12% in the last 90 days against the 90 days before"
    assert spec["refund_rate_90d"].statement(0.072) == "Refunds were 7.2% of sales over the last 90 days"
    assert spec["negative_balance_days_90d"].statement(12.0) == "12 days with a negative balance in the last 90 days"
    assert spec["negative_balance_days_90d"].statement(1.0, helped=True) == (
        "Only 1 day with a negative balance in the last 90 days")
    assert spec["business_age_days"].statement(float("nan")) == "The business's founding date is not known"
    assert spec["revenue_90d"].statement(float("nan")) == (
        "Not enough data to measure: business inflows over the last 90 days")
    # money with its currency and two decimals
    assert spec["revenue_90d"].statement(123456.7, helped=True, currency="CNY") == (
        "Business income was 123,456.70 CNY over the last 90 days")
    assert spec["net_inflow_monthly_90d"].statement(28333.0, currency="CNY", typical=41000.0) == (
        "Income minus outgoings (loan repayments aside) averaged only 28,333.00 CNY a month over the last 90 days, "
        "below the typical 41,000.00 CNY")
    # a rating on its scale
    assert spec["rating_last"].statement(4.13, typical=4.5) == (
        "The marketplace rating is only 4.13 of 5, below the typical 4.50 of 5")
    # multiples, ratios and variations say what they are relative to, and how that compares
    assert spec["sales_spike_14d"].statement(3.2, typical=1.0) == (
        "Daily sales in the last two weeks ran at 3.2x the level of the 90 days before, far above the typical 1.0x")
    assert spec["cash_cover_last"].statement(0.42, typical=1.3) == (
        "The latest account balance came to only 0.42 months of expenses, far below the typical 1.3 months of "
        "expenses")
    assert spec["cash_cover_last"].statement(-0.004) == "The latest account balance came to only 0.00 months of expenses"
    assert spec["daily_sales_cv_90d"].statement(0.85, typical=0.6) == (
        "Daily sales over the last 90 days typically strayed 85% from their average, above the typical 60%")
    assert spec["sales_noise_91d"].statement(math.log(1.35)) == (
        "Weekday pattern aside, daily sales typically strayed 35% from their usual level over the last 13 weeks")
    assert spec["chargebacks_per_10k_sales_365d"].statement(1.7, currency="EUR") == (
        "Chargebacks numbered 1.70 per 10,000 EUR of sales over the last 12 months")
    # changes against the typical change: by size the same way, by direction the other way
    assert spec["sales_change_90d"].statement(0.11, typical=0.18) == (
        "Sales rose 11% in the last 90 days against the 90 days before, less than the typical 18%")
    assert spec["sales_change_90d"].statement(-0.05, typical=0.18) == (
        "Sales fell 5% in the last 90 days against the 90 days before, while a rise of 18% is typical")
    assert spec["sales_change_90d"].statement(0.002, typical=0.001) == (
        "Sales stayed flat in the last 90 days against the 90 days before, as is typical")
    assert spec["sales_90d_vs_12m"].statement(-0.12, typical=0.03) == (
        "Daily sales in the last 90 days ran 12% below the daily average of the last 12 months, "
        "while 3% above is typical")
    assert spec["sales_trend_26w"].statement(-0.29, typical=-0.11) == (
        "The sales trend of the last six months is -29% a year, below the typical -11%")
    assert spec["sales_vs_peak_12m"].statement(-0.4, typical=-0.15) == (
        "Sales in the last 30 days were 40% below the best 30 days of the last 12 months, far more than the typical 15%")
    assert spec["rating_change_6m"].statement(-0.3, typical=0.02) == (
        "The marketplace rating fell 0.30 points (out of 5) in the last three months against six to nine months "
        "ago, while a rise of 0.02 points is typical")
    assert spec["balance_change_90d"].statement(-0.5, typical=0.1) == (
        "The balance fell by 0.50 months of expenses over the last 90 days, "
        "while a rise of 0.10 months of expenses is typical")
    # counts and durations by name; equal or nearly equal to typical is said so
    assert spec["prior_loans_current"].statement(2.0, typical=0.0) == "2 loans still running, more than the typical 0"
    assert spec["term_months"].statement(12.0, helped=True, typical=12.0) == (
        "The requested term is 12 months, in line with the typical 12 months")
    assert spec["refund_rate_90d"].statement(0.0721, typical=0.072) == (
        "Refunds were 7.2% of sales over the last 90 days, just above the typical 7.2%")
    # peer features are already a comparison with the sector's typical value
    assert spec["refund_rate_90d_vs_sector"].statement(math.log(2.5), typical=0.0) == (
        "Refunds ran at 2.5x the usual rate for the sector over the last 90 days")


# Per unit: a representative value, and what its statements must show.
UNIT_MARKERS = {
    "money": (45230.0, ["45,230.00 CNY"]),
    "fraction": (0.072, ["7.2%"]),
    "change": (-0.35, ["35%"]),
    "ratio": (1.35, ["1.35x"]),
    "multiple": (2.4, ["2.4x"]),
    "days": (12.0, ["12 days"]),
    "count": (3.0, ["3 "]),
    "months": (6.0, ["6 months"]),
    "rating": (4.62, ["4.62 of 5"]),
    "points": (-0.3, ["0.30 points", "out of 5"]),
    "per10k": (1.7, ["1.70 per 10,000 CNY of sales"]),
    "logratio": (0.9, ["2.5x", "usual"]),
    "variation": (0.85, ["85%"]),
    "spread": (math.log(1.35), ["35%"]),
    "cover": (1.8, ["1.8 months of expenses"]),
}


# What a relative number is relative to, right after it.
RELATIVE_TO = {
    "fraction": r"% of (the |an |sales|income|monthly income|orders|shipments|rent|payments)",
    "change": r"\d% (in the last|over the last|below the|against the|a year|\(out of 5\))",
    "multiple": r"\dx (the|a|an) ",
    "logratio": r"\dx (the usual|as much as is usual|the share of income usual)",
    "ratio": r"\dx outgoings",
    "variation": r"\d% from their average",
    "spread": r"\d% from their usual level",
}


@pytest.mark.parametrize("spec", FEATURES, ids=lambda f: f.name)
def test_every_statement_carries_its_unit_and_scale(spec):
    # Given the representative value of the feature's unit, and a typical value one step away
    value, markers = UNIT_MARKERS[spec.unit]
    typical = value * 0.5 if value > 0 else value * 2
    for helped in (False, True):
        for known in (None, typical):
            # When it is stated
            text = spec.statement(value, helped=helped, currency="CNY", typical=known)
            # Then the number appears with its unit and scale
            for marker in markers:
                assert marker in text, (spec.name, text)
            if spec.unit in RELATIVE_TO:
                # a share, change, multiple or variation says what it is relative to
                assert re.search(RELATIVE_TO[spec.unit], text), (spec.name, text)
            if known is not None and spec.compares:
                assert "typical" in text, (spec.name, text)


def test_the_catalog_document_is_generated_from_the_catalog():
    from underwriting.features.docs import render

    assert (Path(__file__).resolve().parents[3] / "docs" / "features.md").read_text() == render(), (
        "docs/features.md is stale: python -m underwriting.features.docs > docs/features.md")


def test_format_value_shows_unit_and_scale_and_keeps_the_old_call_form():
    from underwriting.features.catalog import format_value

    assert format_value(28333.0, "money", "CNY") == "28,333.00 CNY"
    assert format_value(28333.0, "money") == "28,333.00"
    assert format_value(-0.35, "change") == "-35%" and format_value(0.12, "change") == "+12%"
    assert format_value(0.004, "fraction") == "0.4%" and format_value(0.72, "fraction") == "72%"
    assert format_value(4.13, "rating") == "4.13 of 5"
    assert format_value(1.0, "days") == "1 day" and format_value(2.5, "days") == "2.5 days"
    assert format_value(math.log(2.5), "logratio") == "2.5x"
    assert format_value(None, "money", "CNY") == format_value(float("nan"), "rating") == "not available"
    with pytest.raises(ValueError, match="unknown unit"):
        format_value(1.0, "furlongs")


def test_compute_features_shape_and_empty_batch():
    X = compute_features([shop_history()] * 3, [LoanRequest(1000.0, 6)] * 3)
    assert X.shape == (3, len(FEATURES)) and X.dtype == np.float64
    assert compute_features([], []).shape == (0, len(FEATURES))
    with pytest.raises(ValueError):
        compute_features([shop_history()], [])


def test_exact_values_on_a_hand_built_shop():
    # Given the steady shop (400 days, as of 2025-01-01) asking for 12,000 over 12 months
    f = one(shop_history(), LoanRequest(12_000.0, 12))
    days = [date(2025, 1, 1) - timedelta(days=k) for k in range(1, 400)]
    mondays_90 = sum(d.weekday() == 0 for d in days[:90])
    mondays_365 = sum(d.weekday() == 0 for d in days[:365])
    rents_90 = sum(d.day == rent_day(d) for d in days[:90])
    # Then levels are sums over whole days before the as_of day
    assert f["revenue_90d"] == 9000.0
    assert f["card_sales_90d"] == 9000.0
    assert f["inflow_transactions_90d"] == 270.0
    assert f["balance_mean_90d"] == pytest.approx((80 * 5000.0 - 10 * 200.0) / 90)
    # Flat sales: no growth, no spikes, no volatility
    for name in ("sales_change_30d", "sales_change_90d", "sales_change_180d", "sales_90d_vs_12m",
                 "sales_trend_26w", "sales_vs_peak_12m", "daily_sales_cv_90d",
                 "sales_noise_91d", "weekly_sales_cv_26w", "monthly_sales_cv_12m", "declining_months_share_6m"):
        assert f[name] == pytest.approx(0.0, abs=1e-12), name
    assert f["sales_spike_14d"] == pytest.approx(1.0) and f["sales_spike_35d"] == pytest.approx(1.0)
    assert f["worst_month_to_average_12m"] == pytest.approx(1.0)
    assert f["weekend_sales_share_90d"] == pytest.approx(2 / 7)
    assert f["quietest_weekday_share_91d"] == pytest.approx(1.0)
    assert math.isnan(f["sales_change_yoy_90d"])  # 455 days of history needed
    assert math.isnan(f["sales_dip_vs_last_year"])
    assert math.isnan(f["other_inflow_spike_30d"])  # no other inflows: no baseline
    # Refunds: 35.00 per Monday against card sales
    assert f["refund_rate_90d"] == pytest.approx(35.0 * mondays_90 / 9000.0)
    assert f["chargebacks_per_10k_sales_365d"] == 0.0
    assert 35.0 * mondays_365 / 36500.0 > 0  # (the 12-month rate feeds the sector comparison only)
    assert f["largest_refund_day_to_daily_sales_90d"] == pytest.approx(0.35)
    assert f["chargebacks_90d"] == 0.0 and f["chargeback_rate_180d"] == 0.0
    # Cash flow: outflows are refunds and rent; expenses are the rent
    out_90 = 35.0 * mondays_90 + 1000.0 * rents_90
    assert f["net_inflow_monthly_90d"] == pytest.approx((9000.0 - out_90) / 3)
    assert f["net_margin_90d"] == pytest.approx((9000.0 - out_90) / 9000.0)
    monthly_exp = 1000.0 * rents_90 / 3
    assert rents_90 == 3 and monthly_exp == 1000.0
    assert f["cash_cover_last"] == pytest.approx(5000.0 / monthly_exp)
    assert f["cash_cover_min_90d"] == pytest.approx(-200.0 / monthly_exp)
    assert f["negative_balance_days_90d"] == 10.0
    assert f["days_since_negative_balance"] == (date(2025, 1, 1) - date(2024, 12, 19)).days
    assert f["fees_to_revenue_90d"] == 0.0 and f["interest_paid_to_revenue_180d"] == 0.0
    # Obligations: rent on the 5th, twice paid on the 12th: 7 days late on 2 of 12 payments
    assert f["rent_paid_months_share_6m"] == 1.0
    assert f["rent_days_late_avg_12m"] == pytest.approx(14.0 / 12.0)
    assert f["late_payment_share_12m"] == pytest.approx(2.0 / 12.0)
    assert f["max_payment_delay_12m"] == 7.0
    assert f["late_payment_share_90d"] == pytest.approx(2.0 / 3.0)  # Oct 12, Nov 12, Dec 5
    assert math.isnan(f["payroll_days_late_avg_12m"]) and math.isnan(f["payroll_paid_months_share_6m"])
    assert f["fixed_costs_to_revenue_90d"] == pytest.approx(1000.0 * rents_90 / 9000.0)
    # Counterparties: the processor pays every day, so no single customer; one payee is the landlord
    assert f["processor_share_90d"] == pytest.approx(1.0)
    assert f["top_customer_share_180d"] == 0.0
    assert f["paying_counterparties_180d"] == 1.0 and f["payee_counterparties_180d"] == 2.0
    assert f["new_counterparty_share_35d"] == 0.0 and f["round_trip_share_35d"] == 0.0
    # Reputation, tenure
    assert f["rating_last"] == 4.5 and f["rating_6m"] == 4.5 and f["rating_change_6m"] == 0.0
    assert f["metrics_age_days"] == (date(2025, 1, 1) - date(2024, 12, 28)).days
    assert math.isnan(f["dispute_rate_3m"])
    assert f["business_age_days"] == (date(2025, 1, 1) - date(2020, 1, 1)).days
    assert f["days_since_onboarding"] == (date(2025, 1, 1) - date(2023, 1, 1)).days
    assert f["history_days"] == 400.0
    assert f["active_days_share_90d"] == 1.0 and f["longest_gap_365d"] == 0.0
    assert f["days_since_last_inflow"] == 1.0
    # Debt: the credit record as of the day
    assert (f["prior_loans_repaid"], f["prior_loans_defaulted"], f["prior_loans_current"]) == (1.0, 1.0, 1.0)
    assert f["months_since_last_loan"] == math.floor((date(2025, 1, 1) - date(2024, 9, 1)).days / 30.44)
    assert f["debt_service_to_revenue_90d"] == 0.0 and f["external_debt_service_to_revenue"] == 0.0
    # Burden of 12,000 over 12 months at the reference rate
    r = REFERENCE_APR / 12
    instalment = 12_000.0 * r / (1 - (1 + r) ** -12)
    net_monthly_rev = (9000.0 - 35.0 * mondays_90) / 3
    assert f["requested_amount"] == 12_000.0 and f["term_months"] == 12.0
    assert f["amount_to_monthly_revenue"] == pytest.approx(12_000.0 / 3000.0)
    assert f["instalment_to_net_inflow"] == pytest.approx(instalment / ((9000.0 - out_90) / 3))
    assert f["total_debt_service_to_revenue"] == pytest.approx(instalment / net_monthly_rev)
    assert f["amount_to_largest_prior_loan"] == pytest.approx(12_000.0 / 8000.0)


def test_sales_drop_and_spike_are_measured():
    # Given the shop whose sales halve for the last 30 days
    h = shop_history()
    d = h.daily
    half = (d.day >= A - 30) & (d.kind == KIND["sale"])
    h = replace(h, daily=replace(d, total=np.where(half, d.total / 2, d.total)))
    f = one(h)
    # Then the last 30 days are 50% below the 90 days before, and a quarter below the last 90 days
    assert f["sales_change_30d"] == pytest.approx(-0.5)
    assert f["sales_change_90d"] == pytest.approx((7500.0 / 9000.0) - 1.0)
    assert f["sales_spike_14d"] == pytest.approx(50.0 / ((74 * 100.0 + 16 * 50.0) / 90))
    assert f["sales_vs_peak_12m"] == pytest.approx(-0.5)


def test_young_merchant_has_missing_long_windows():
    f = one(shop_history(days=45))
    assert f["history_days"] == 45.0
    assert f["inflow_transactions_90d"] == 270.0  # 45 days at 3 a day, per 90 days
    for name in ("revenue_90d", "card_sales_90d", "sales_change_90d", "sales_trend_26w", "monthly_sales_cv_12m"):
        assert math.isnan(f[name]), name
    assert f["refund_rate_90d"] > 0  # rates use the days there are


def test_empty_history_gives_missing_not_zero():
    f = one(MerchantHistory(as_of=AS_OF))
    assert math.isnan(f["revenue_90d"]) and math.isnan(f["history_days"]) and math.isnan(f["cash_cover_last"])
    assert all(math.isnan(f[name]) for name in PEER_BASES)  # no benchmark given
    assert math.isnan(f["amount_to_monthly_revenue"])
    assert f["requested_amount"] == 12_000.0 and f["prior_loans_repaid"] == 0.0


# --- coarse bank-statement data ------------------------------------------------------------------


def bank_statement_history(seed: int = 0, days: int = 300) -> MerchantHistory:
    """Kinds transfer / card_payment / cash_deposit / other only, no counterparty, no balance."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(A - days, A):
        rows.append((d, IN, KIND["card_payment"], 5, float(rng.uniform(200, 400)), 90.0))
        if d % 7 == 0:
            rows.append((d, IN, KIND["cash_deposit"], 1, float(rng.uniform(300, 600)), 600.0))
        if d % 14 == 3:
            amount = float(rng.uniform(1500, 2500))  # suppliers paid for what was sold: no two alike
            rows.append((d, OUT, KIND["transfer"], 1, amount, amount))
        if d % 30 == 1:
            rows.append((d, OUT, KIND["other"], 1, 800.0, 800.0))
    d = list(zip(*rows, strict=True))
    return MerchantHistory(as_of=AS_OF, onboarded_on=date(2024, 1, 1), daily=DailyRows.build(*d))


def test_coarse_bank_statement_data_degrades_to_explicit_missing_values():
    f = one(bank_statement_history())
    must_be_missing = [
        "refund_rate_90d", "refund_rate_change", "chargebacks_per_10k_sales_365d",
        "chargeback_rate_180d", "chargebacks_90d", "cash_cover_last", "cash_cover_min_90d",
        "negative_balance_days_90d", "days_since_negative_balance", "balance_change_90d",
        "top_customer_share_180d", "paying_counterparties_180d", "processor_share_90d",
        "new_counterparty_share_35d", "round_trip_share_35d", "rating_last", "dispute_rate_3m",
        "rent_paid_months_share_6m", "rent_days_late_avg_12m", "late_payment_share_12m",
        "fixed_costs_to_revenue_90d", "business_age_days",  # no transfer recurs: nothing to read as rent
    ]
    for name in must_be_missing:
        assert math.isnan(f[name]), name
    must_be_known = [
        "revenue_90d", "inflow_transactions_90d", "sales_change_30d",
        "sales_change_90d", "sales_trend_26w", "daily_sales_cv_90d", "sales_noise_91d",
        "weekend_sales_share_90d", "net_inflow_monthly_90d", "net_margin_90d", "inflow_to_outflow_365d",
        "history_days", "days_since_onboarding", "active_days_share_90d", "sales_spike_14d",
        "amount_to_monthly_revenue", "total_debt_service_to_revenue", "instalment_to_net_inflow",
        "card_sales_90d", "other_inflow_spike_30d",  # card settlements are the card sales; cash the rest
    ]
    for name in must_be_known:
        assert np.isfinite(f[name]), name
    # The revenue proxy is every business inflow: card payments and cash deposits
    h = bank_statement_history()
    sel = (h.daily.direction == IN) & (h.daily.day >= A - 90)
    assert f["revenue_90d"] == pytest.approx(h.daily.total[sel].sum())
    # and the card settlements coming in are the card sales
    card = sel & (h.daily.kind == KIND["card_payment"])
    assert f["card_sales_90d"] == pytest.approx(h.daily.total[card].sum())


def statement_with_obligations(days: int = 300) -> MerchantHistory:
    """A bank statement (transfers only) of a shop selling 300.00 by card a day, paying suppliers each
    Tuesday a varying amount, rent of 3,000.00 on the 5th (on the 11th in November 2024) and wages of
    2,000.00 every other Friday; on a day both the rent and a supplier are paid, one row holds both."""
    rng = np.random.default_rng(7)
    rows = []
    for d in range(A - days, A):
        dt = date.fromordinal(d + date(1970, 1, 1).toordinal())
        rows.append((d, IN, KIND["card_payment"], 1, 300.0, 300.0))
        payments = []
        if dt.weekday() == 1:
            payments.append(round(float(rng.uniform(600, 900)), 2))
        if dt.day == (11 if (dt.year, dt.month) == (2024, 11) else 5):
            payments.append(3000.0)
        if dt.weekday() == 4 and ((d - A) // 7) % 2 == 0:
            payments.append(2000.0)
        if payments:
            rows.append((d, OUT, KIND["transfer"], len(payments), sum(payments), max(payments)))
    d = list(zip(*rows, strict=True))
    return MerchantHistory(as_of=AS_OF, onboarded_on=date(2024, 1, 1), daily=DailyRows.build(*d))


def test_a_statements_recurring_transfers_are_read_as_rent_and_payroll():
    # given a bank statement that names no expense
    h = statement_with_obligations()

    f = one(h)

    # then the monthly 3,000.00 is rent, paid every month, late once (6 days in November)
    assert f["rent_paid_months_share_6m"] == 1.0 and f["payroll_paid_months_share_6m"] == 1.0
    assert f["rent_days_late_avg_12m"] == pytest.approx(6 / 9)  # nine rents since April, one 6 days late
    # and rent plus wages of the last 90 days over its revenue are its fixed costs
    days = [date.fromordinal(d + date(1970, 1, 1).toordinal()) for d in range(A - 90, A)]
    rents = sum(1 for dt in days if dt.day == (11 if (dt.year, dt.month) == (2024, 11) else 5))
    wages = sum(1 for d in range(A - 90, A) if date.fromordinal(d + date(1970, 1, 1).toordinal()).weekday() == 4
                and ((d - A) // 7) % 2 == 0)
    assert (rents, wages) == (3, 6)
    assert f["fixed_costs_to_revenue_90d"] == pytest.approx((3 * 3000.0 + 6 * 2000.0) / (90 * 300.0))
    # and the suppliers stay unnamed: their share is not guessed
    assert math.isnan(f["supplier_payments_to_revenue_90d"])


def test_a_source_that_names_its_expenses_is_read_as_it_names_them():
    # given the hand-built shop (rent named as rent) with wages of 2,000.00 every other Friday as transfers
    h = shop_history()
    extra = [(d, OUT, KIND["transfer"], 1, 2000.0, 2000.0) for d in range(A - 400, A)
             if date.fromordinal(d + date(1970, 1, 1).toordinal()).weekday() == 4 and ((d - A) // 7) % 2 == 0]
    daily = h.daily
    rows = list(zip(daily.day, daily.direction, daily.kind, daily.count, daily.total, daily.max, strict=True)) + extra
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    with_transfers = replace(h, daily=DailyRows.build(*zip(*rows, strict=True)))

    # then no transfer becomes payroll: the payroll family stays as the source left it
    assert math.isnan(one(with_transfers)["payroll_paid_months_share_6m"])
    assert one(with_transfers)["fixed_costs_to_revenue_90d"] == one(h)["fixed_costs_to_revenue_90d"]


# --- one code path: a batch equals n single computations --------------------------------------------


def random_history(rng: np.random.Generator, as_of: date) -> MerchantHistory:
    a = day_number(as_of)
    days = int(rng.integers(0, 700))
    rows, cps, bal, met = [], [], [], []
    kinds = list(KIND.values())
    for d in range(a - days, a):
        for _ in range(int(rng.integers(0, 4))):
            k = int(rng.choice(kinds))
            direction = IN if rng.random() < 0.6 else OUT
            rows.append((d, direction, k, int(rng.integers(1, 5)), float(rng.lognormal(5, 1)), 10.0))
        if rng.random() < 0.7:
            cps.append((d, int(rng.integers(1, 3)), int(rng.integers(0, 12)), 1, float(rng.lognormal(5, 1))))
        if rng.random() < 0.8:
            bal.append((d, float(rng.normal(0, 1000)), float(rng.normal(500, 1000))))
        if rng.random() < 0.03:
            met.append((d, str(rng.choice(["rating", "dispute_rate", "return_rate", "active_listings"])),
                        float(rng.random())))
    rows = list({r[:3]: r for r in rows}.values())
    cps = list({r[:3]: r for r in cps}.values())
    lo = PriorLoans.build(originated_on=[a - 400, a - 100], amount=[1000.0, 2000.0], term_months=[6, 12],
                          status=[REPAID, CURRENT]) if rng.random() < 0.5 else PriorLoans.build()

    def cols(x, k):
        return list(zip(*x, strict=True)) if x else [()] * k

    return MerchantHistory(
        as_of=as_of, established_on=as_of - timedelta(days=int(rng.integers(100, 4000))) if rng.random() < 0.8 else None,
        onboarded_on=as_of - timedelta(days=days + 5),
        daily=DailyRows.build(*cols(rows, 6)), counterparties=CounterpartyRows.build(*cols(cps, 5)),
        balances=BalanceRows.build(*cols(bal, 3)) if rng.random() < 0.7 else BalanceRows.build(),
        metrics=MetricRows.build(*cols(met, 3)), loans=lo)


def test_batch_equals_single_computations_exactly():
    rng = np.random.default_rng(7)
    histories = [random_history(rng, AS_OF + timedelta(days=int(rng.integers(0, 60)))) for _ in range(40)]
    histories += [shop_history(), bank_statement_history(), MerchantHistory(as_of=AS_OF)]
    requests = [LoanRequest(float(rng.integers(1000, 50_000)), int(rng.choice([3, 6, 12, 24]))) for _ in histories]
    batch = compute_features(histories, requests)
    singles = np.vstack([compute_features([h], [r]) for h, r in zip(histories, requests, strict=True)])
    assert np.array_equal(batch, singles, equal_nan=True)
    # ... and across chunk boundaries, in any order
    many = (histories * (CHUNK // len(histories) + 2))[: CHUNK + 17]
    reqs = (requests * (CHUNK // len(requests) + 2))[: CHUNK + 17]
    big = compute_features(many[::-1], reqs[::-1])[::-1]
    assert np.array_equal(big[: len(histories)], batch, equal_nan=True)


def test_a_request_weighed_at_other_amounts_from_its_bases_equals_computing_it_afresh():
    # given many histories (rich, coarse, young, empty) and their request bases at one request
    rng = np.random.default_rng(11)
    histories = [random_history(rng, AS_OF) for _ in range(30)]
    histories += [shop_history(), bank_statement_history(), MerchantHistory(as_of=AS_OF)]
    _, bases = compute_features_with_request_bases(histories, [LoanRequest(20_000.0, 12)] * len(histories))
    burden = [feature_names().index(name) for name in BURDEN_NAMES]
    amounts = [1000.0, 2600.0, 42_300.0, 100_000.0, 500_000.0]

    for term in (3, 12, 24):
        # when the burden features of other amounts come from the stored bases (None for missing)
        for i, history in enumerate(histories):
            stored = [None if np.isnan(b) else float(b) for b in bases[i]]
            weighed = request_features(stored, amounts, term)

            # then they are, bit for bit, what computing each amount afresh gives
            fresh = compute_features([history] * len(amounts), [LoanRequest(a, term) for a in amounts])[:, burden]
            assert np.array_equal(weighed, fresh, equal_nan=True), (i, term)


# --- point in time inside the feature code ----------------------------------------------------------


def test_truncated_history_equals_a_history_built_only_from_earlier_rows():
    h = shop_history(days=500)
    cut = AS_OF - timedelta(days=100)
    early = shop_history(days=400, as_of=cut)  # the same shop, built as of the earlier day
    t = h.truncated(cut)
    assert t.daily.day.max() < day_number(cut)
    f_t = compute_features([t], [LoanRequest(5000.0, 6)])
    f_e = compute_features([early], [LoanRequest(5000.0, 6)])
    # Loans: the one originated after the cut is dropped, the defaulted one was still running then
    assert list(t.loans.status) == [REPAID, CURRENT, CURRENT]
    assert np.array_equal(f_t, f_e, equal_nan=True)
    with pytest.raises(ValueError):
        h.truncated(AS_OF + timedelta(days=1))


def test_loan_status_as_of_a_day():
    loans = PriorLoans.from_record(
        originated_on=[day_number(date(2024, 1, 10)), day_number(date(2024, 3, 1)), day_number(date(2024, 11, 1))],
        amount=[1000.0, 2000.0, 3000.0], term_months=[6, 12, 3],
        final_status=[REPAID, DEFAULTED, CURRENT],
        defaulted_on=[NO_DAY, day_number(date(2025, 2, 1)), NO_DAY], days_past_due=[0.0, 120.0, 0.0],
        as_of_day=day_number(date(2024, 12, 1)))
    # The defaulted loan defaulted after the day: current then; the repaid one's term had ended.
    assert list(loans.status) == [REPAID, CURRENT, CURRENT]
    assert list(loans.defaulted_on) == [NO_DAY, NO_DAY, NO_DAY]
    later = PriorLoans.from_record(
        originated_on=loans.originated_on, amount=loans.amount, term_months=loans.term_months,
        final_status=[REPAID, DEFAULTED, CURRENT], defaulted_on=[NO_DAY, day_number(date(2025, 2, 1)), NO_DAY],
        days_past_due=[0.0, 120.0, 0.0], as_of_day=day_number(date(2025, 3, 1)))
    assert list(later.status) == [REPAID, DEFAULTED, CURRENT]


# --- monotone behaviour when all of a merchant's sales scale up evenly ------------------------------


@pytest.fixture(scope="module")
def simulated():
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from bench_features import loan_snapshots, world_histories

    from underwriting.simulator import generate_world

    world = generate_world(merchants=400, months=18, seed=5)
    return world, world_histories, loan_snapshots


def _scaled_world(world, factor: float, rebuild_balances: bool):
    from copy import copy

    scaled = copy(world)
    tx = dict(world.tx)
    sale = tx["kind"] == 0  # the simulator's own code for `sale`
    tx["amount"] = np.where(sale, tx["amount"] * factor, tx["amount"].astype(np.float64))
    if rebuild_balances:
        tx["signed"] = np.where(tx["direction"] == 0, tx["amount"], -tx["amount"])
    scaled.tx = tx
    return scaled


@pytest.mark.parametrize("rebuild_balances", [False, True])
def test_scaling_sales_up_moves_every_feature_only_towards_less_risk(simulated, rebuild_balances):
    # Given simulated merchants (bust-out fraudsters aside: their fake sales come from payers that are
    # not processors) at each loan's origination day, and the same merchants with every sale x1.5
    world, world_histories, loan_snapshots = simulated
    base_h, base_r = loan_snapshots(world, world_histories(world))
    scaled = _scaled_world(world, 1.5, rebuild_balances)
    up_h, up_r = loan_snapshots(scaled, world_histories(scaled))
    honest = ~world.pop.fraud[world.loans["merchant"]]
    X0 = compute_features(base_h, base_r)[honest]
    X1 = compute_features(up_h, up_r)[honest]
    # Then each feature is unchanged or moves the way its monotone sign calls less risky
    for j, spec in enumerate(FEATURES):
        a, b = X0[:, j], X1[:, j]
        assert np.array_equal(np.isnan(a), np.isnan(b)), spec.name
        ok = ~np.isnan(a)
        a, b = a[ok], b[ok]
        tol = 1e-9 * np.maximum(1.0, np.abs(a))
        if spec.monotone == -1:
            assert (b >= a - tol).all(), spec.name
        elif spec.monotone == 1:
            assert (b <= a + tol).all(), spec.name
        else:
            assert np.allclose(a, b, rtol=1e-9, atol=1e-9), spec.name
    # ... and the levels of revenue do rise
    r0, r1 = col(X0, "revenue_90d"), col(X1, "revenue_90d")
    known = ~np.isnan(r0)
    assert known.sum() > 100 and (r1[known] > r0[known]).all()


# --- peer benchmarks ---------------------------------------------------------------------------------


def test_peer_features_compare_with_the_sector_benchmark():
    # Given a benchmark fitted on a population where groceries refund 1% and apparel 8% of sales
    shop = shop_history()  # a grocery refunding 35.00 a Monday on 100.00 a day
    rate = one(shop)["refund_rate_90d"]
    n = 40
    base = {b: np.full(2 * n, np.nan) for b, _ in PEER_BASES.values()}
    base["refund_rate_90d"] = np.r_[[0.01] * n, [0.08] * n]
    peers = PeerBenchmarks.fit_values(["grocery"] * n + ["Apparel "] * n, base)
    assert peers.reference("GROCERY", "refund_rate_90d") == pytest.approx(math.log(0.01))
    # When the shop is compared as a grocery, as apparel, and as an unknown sector (whole population)
    X = compute_features([shop, replace(shop, sector="apparel"), replace(shop, sector="florist")],
                         [LoanRequest(1000.0, 6)] * 3, peers=peers)
    v = col(X, "refund_rate_90d_vs_sector")
    # Then the value is the log of the rate over the sector's typical rate
    assert v[0] == pytest.approx(math.log(rate / 0.01))
    assert v[1] == pytest.approx(math.log(rate / 0.08))
    assert v[2] == pytest.approx(math.log(rate) - float(np.median(np.log(np.r_[[0.01] * n, [0.08] * n]))))
    # A base value the population never had gives a missing peer value, not a guess
    assert np.isnan(col(X, "dispute_rate_vs_sector")).all()
    spec = {f.name: f for f in FEATURES}["refund_rate_90d_vs_sector"]
    assert spec.statement(math.log(2.5)) == "Refunds ran at 2.5x the usual rate for the sector over the last 90 days"
    # The benchmark travels with the model as plain data
    again = PeerBenchmarks.from_dict(peers.to_dict())
    assert np.array_equal(compute_features([shop], [LoanRequest(1000.0, 6)], peers=again), X[:1], equal_nan=True)


def test_peer_features_batch_equals_singles_and_respect_scaling(simulated):
    world, world_histories, loan_snapshots = simulated
    hs, rq = loan_snapshots(world, world_histories(world))
    base = compute_features(hs, rq)
    peers = PeerBenchmarks.fit(hs, min_merchants=20)
    X = compute_features(hs, rq, peers=peers)
    assert np.isfinite(col(X, "refund_rate_90d_vs_sector")).mean() > 0.8
    sample = list(range(0, len(hs), 37))
    singles = np.vstack([compute_features([hs[i]], [rq[i]], peers=peers) for i in sample])
    assert np.array_equal(singles, X[sample], equal_nan=True)
    # The one-pass route of a training-set builder gives the same matrix
    X0, B = compute_features_with_bases(hs, rq)
    assert np.array_equal(X0, base, equal_nan=True)
    again = PeerBenchmarks.fit_values([h.sector for h in hs], B, min_merchants=20)
    assert again == peers
    assert np.array_equal(again.apply(X0, [h.sector for h in hs], B), X, equal_nan=True)
    # Columns other than the peer ones do not depend on the benchmark
    other = [j for j, name in enumerate(NAMES) if name not in PEER_BASES and name not in SEASON_FEATURES]
    assert np.array_equal(X[:, other], base[:, other], equal_nan=True)
    scaled = _scaled_world(world, 1.5, False)
    up_h, up_r = loan_snapshots(scaled, world_histories(scaled))
    X1 = compute_features(up_h, up_r, peers=peers)
    honest = ~world.pop.fraud[world.loans["merchant"]]
    for name in PEER_BASES:
        j = NAMES.index(name)
        a, b = X[honest, j], X1[honest, j]
        ok = ~np.isnan(a)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        spec = FEATURES[j]
        assert spec.monotone == 1 and (b[ok] <= a[ok] + 1e-9).all(), name
