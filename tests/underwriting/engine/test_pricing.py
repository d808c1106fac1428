"""Score scaling, risk-based price and limit sizing against hand-computed cases."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from underwriting.engine.policy import PolicyParams
from underwriting.engine.pricing import (
    CAP_NAMES,
    affordable_principal,
    instalment_allowance,
    price_breakdown,
    required_apr,
    score_band,
    score_for,
    score_from_pd,
    size_limit,
)
from underwriting.engine.product import annuity_instalment

D = Decimal
POLICY = PolicyParams()


# ---- score -------------------------------------------------------------------------------------------


def test_50_to_1_odds_score_600():
    assert score_from_pd(1 / 51) == 600  # odds (1 - 1/51) / (1/51) = 50
    assert score_from_pd(D(1) / D(51)) == 600


def test_doubling_the_odds_adds_20_points():
    assert score_from_pd(1 / 101) == 620  # 100:1
    assert score_from_pd(1 / 201) == 640  # 200:1
    assert score_from_pd(1 / 26) == 580  # 25:1, half the odds
    assert score_from_pd(1 / 13.5) == 560  # 12.5:1


def test_score_between_doublings():
    # PD 5%: odds 19, 600 + 20 log2(19/50) = 600 - 27.92 = 572.08 -> 572.
    assert score_from_pd(0.05) == 572
    # PD 10%: odds 9, 600 + 20 log2(9/50) = 550.52 -> 551 (half-up).
    assert score_from_pd(0.10) == 551


def test_score_is_clamped_and_never_fails_on_0_or_1():
    assert score_from_pd(0.0) == 900
    assert score_from_pd(1e-15) == 900
    assert score_from_pd(1.0) == 300
    assert score_from_pd(0.999999) == 300
    with pytest.raises(ValueError):
        score_from_pd(float("nan"))


def test_other_scalings():
    assert score_from_pd(1 / 21, base_score=500, base_odds=20, pdo=50) == 500
    assert score_from_pd(1 / 41, base_score=500, base_odds=20, pdo=50) == 550
    assert score_for(1 / 101, POLICY.replace(score_pdo=D("40"))) == 640


@given(st.floats(min_value=1e-6, max_value=1 - 1e-6), st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_score_never_rises_with_pd(a, b):
    low, high = min(a, b), max(a, b)
    assert score_from_pd(low) >= score_from_pd(high)


def test_score_bands():
    bands = POLICY.score_bands  # A 640, B 620, C 600, D 570, E 300
    assert [score_band(s, bands) for s in (900, 640, 639, 620, 600, 599, 570, 569, 300)] == list("AABBCDDEE")
    assert score_band(100, bands) == "E"
    with pytest.raises(ValueError):
        score_band(600, ())


# ---- price -------------------------------------------------------------------------------------------


def test_required_apr_hand_computed():
    # PD 4% over 6 months, LGD 0.85: expected loss 0.04 x 0.85 / (6/12) = 0.068 a year.
    # 0.06 funds + 0.068 loss + 0.05 operations + 0.03 margin = 0.208 -> up to the 0.25% step: 0.2100.
    breakdown = price_breakdown(pd=0.04, term_months=6, params=POLICY)
    assert breakdown.expected_loss == D("0.068")
    assert breakdown.unrounded == D("0.208")
    assert breakdown.apr == D("0.2100")
    assert required_apr(pd=0.04, term_months=6, params=POLICY) == D("0.2100")
    # PD 2% over 12 months: 0.06 + 0.017 + 0.05 + 0.03 = 0.157 -> 0.1575.
    assert required_apr(pd=D("0.02"), term_months=12, params=POLICY) == D("0.1575")


def test_a_rate_on_the_step_is_not_pushed_up_by_float_noise():
    # PD 5% over 12 months: 0.06 + 0.0425 + 0.05 + 0.03 = 0.1825 exactly, already on a step.
    assert required_apr(pd=0.05, term_months=12, params=POLICY) == D("0.1825")


def test_longer_terms_spread_the_expected_loss():
    assert required_apr(pd=0.04, term_months=24, params=POLICY) == D("0.1575")  # 0.14 + 0.017
    assert required_apr(pd=0.04, term_months=3, params=POLICY) == D("0.2775")  # 0.14 + 0.136, stepped up


def test_required_apr_has_a_floor():
    policy = POLICY.replace(min_apr=D("0.16"))
    breakdown = price_breakdown(pd=0.0, term_months=12, params=policy)
    assert breakdown.apr == D("0.16") and breakdown.floored
    assert required_apr(pd=0.0, term_months=12, params=POLICY) == D("0.1400")


def test_required_apr_above_the_legal_maximum_is_flagged_not_capped():
    # PD 10% over 3 months: 0.14 + 0.1 x 0.85 x 4 = 0.48 > 0.36: the caller declines.
    breakdown = price_breakdown(pd=0.10, term_months=3, params=POLICY)
    assert breakdown.apr == D("0.4800")
    assert breakdown.above_max


def test_required_apr_refuses_nonsense():
    with pytest.raises(ValueError):
        required_apr(pd=1.5, term_months=12, params=POLICY)
    with pytest.raises(ValueError):
        required_apr(pd=0.1, term_months=0, params=POLICY)


# ---- limit -------------------------------------------------------------------------------------------


def sized(**overrides):
    args = {
        "requested": D("50000.00"),
        "term_months": 12,
        "avg_monthly_net_inflow": D("100000.00"),
        "monthly_revenue": D("300000.00"),
        "existing_exposure": D("0.00"),
        "pd": 0.001,
        "apr": D("0.18"),
        "params": POLICY,
    }
    args.update(overrides)
    return size_limit(**args)


def test_affordability_binds():
    # 0.35 x 10,000.00 = 3,500.00 a month. At 18% over 12 months 1.00 of principal costs
    # 0.015 / (1 - 1.015^-12) = 0.09167999...; 3,500 / 0.09167999 = 38,176.268 -> 38,176.26 (down),
    # -> 38,100.00 on the 100.00 step.
    result = sized(avg_monthly_net_inflow=D("10000.00"))
    assert result.binding == "affordability"
    assert result.caps["affordability"] == D("38176.26")
    assert result.max_amount == D("38100.00")
    assert annuity_instalment(D("38100.00"), D("0.18"), 12) <= D("3500.00")
    assert annuity_instalment(D("38200.00"), D("0.18"), 12) > D("3500.00")
    assert (result.fits, result.outcome, result.offer_amount) == (False, "counter_offer", D("38100.00"))
    assert result.affordable_instalment == D("3500.00")


def test_a_debt_service_share_of_sales_proves_capacity_when_it_allows_more_than_free_cash_flow():
    # given a policy letting all repayments take 15% of sales, and a merchant selling 40,000.00 a month,
    # paying 1,500.00 a month on a running loan, whose free cash flow is only 2,000.00 a month
    policy = POLICY.replace(max_debt_service_share=D("0.15"))

    # when the limit is sized
    result = sized(params=policy, avg_monthly_net_inflow=D("2000.00"), monthly_revenue=D("40000.00"),
                   monthly_debt_service=D("1500.00"))

    # then this loan may take 0.15 x 40,000.00 - 1,500.00 = 4,500.00 a month (not 0.35 x 2,000.00 = 700.00):
    # 4,500 / 0.09167999 = 49,083.77 -> 49,000.00 on the step
    assert instalment_allowance(params=policy, avg_monthly_net_inflow=D("2000.00"), monthly_revenue=D("40000.00"),
                                monthly_debt_service=D("1500.00")) == (D("4500.0000"), "revenue")
    assert (result.binding, result.caps["affordability"], result.max_amount) == ("affordability", D("49083.77"),
                                                                                 D("49000.00"))
    assert result.affordable_instalment == D("4500.00")
    assert annuity_instalment(D("49000.00"), D("0.18"), 12) <= D("4500.00") < annuity_instalment(D("49100.00"), D("0.18"), 12)


def test_free_cash_flow_counts_when_it_allows_more_and_a_zero_share_is_the_old_rule():
    policy = POLICY.replace(max_debt_service_share=D("0.15"))
    # 0.35 x 10,000.00 = 3,500.00 beats 0.15 x 20,000.00 - 0.00 = 3,000.00
    assert instalment_allowance(params=policy, avg_monthly_net_inflow=D("10000.00"), monthly_revenue=D("20000.00"),
                                monthly_debt_service=D("0.00")) == (D("3500.0000"), "net_inflow")
    # the default share 0 (and every version recorded before it existed): free cash flow only, even negative
    assert instalment_allowance(params=POLICY, avg_monthly_net_inflow=D("-50.00"), monthly_revenue=D("90000.00"),
                                monthly_debt_service=D("0.00")) == (D("-17.5000"), "net_inflow")
    assert sized(avg_monthly_net_inflow=D("10000.00"), monthly_debt_service=D("1500.00")).caps["affordability"] == \
        D("38176.26")
    # running debt above the share leaves nothing on either basis
    broke = sized(params=policy, avg_monthly_net_inflow=D("-10.00"), monthly_revenue=D("10000.00"),
                  monthly_debt_service=D("2000.00"))
    assert (broke.caps["affordability"], broke.outcome) == (D("0.00"), "decline")


def test_revenue_multiple_binds():
    result = sized(monthly_revenue=D("20000.00"))  # 1.5 x 20,000 = 30,000
    assert (result.binding, result.max_amount, result.outcome) == ("revenue_multiple", D("30000.00"), "counter_offer")


def test_exposure_binds():
    result = sized(existing_exposure=D("480000.00"))  # 500,000 cap - 480,000 owed
    assert (result.binding, result.caps["exposure"], result.max_amount) == ("exposure", D("20000.00"), D("20000.00"))


def test_risk_binds():
    # Expected-loss budget 5,000.00: 5,000 / (0.10 x 0.85) = 58,823.52 -> 58,800.00.
    result = sized(pd=0.10, requested=D("70000.00"))
    assert (result.binding, result.caps["risk"], result.max_amount) == ("risk", D("58823.52"), D("58800.00"))


def test_product_max_binds():
    result = sized(
        requested=D("600000.00"),
        avg_monthly_net_inflow=D("1000000.00"),
        monthly_revenue=D("1000000.00"),
        pd=0.0001,
        params=POLICY.replace(exposure_cap=D("2000000.00")),
    )
    assert (result.binding, result.max_amount, result.outcome) == ("product_max", D("500000.00"), "counter_offer")


def test_a_request_under_the_limit_fits():
    result = sized(requested=D("12345.67"))
    assert (result.fits, result.outcome, result.offer_amount) == (True, "fits", D("12345.67"))
    # 35,000.00 a month affords 381,762.68 at 18% over 12 months: the limit is well above the request.
    assert (result.binding, result.max_amount) == ("affordability", D("381700.00"))


def test_below_the_product_minimum_declines():
    result = sized(existing_exposure=D("499100.00"))  # 900.00 of room, product minimum 1,000.00
    assert (result.max_amount, result.binding, result.outcome, result.offer_amount) == (
        D("900.00"),
        "exposure",
        "decline",
        None,
    )


def test_at_the_product_minimum_counter_offers():
    result = sized(existing_exposure=D("499000.00"))
    assert (result.max_amount, result.outcome) == (D("1000.00"), "counter_offer")


def test_no_or_negative_inflow_means_no_loan():
    for inflow in (None, D("0.00"), D("-2500.00")):
        result = sized(avg_monthly_net_inflow=inflow)
        assert (result.caps["affordability"], result.max_amount, result.outcome) == (D("0.00"), D("0.00"), "decline")
    assert sized(monthly_revenue=None).binding == "revenue_multiple"
    assert sized(existing_exposure=D("600000.00")).caps["exposure"] == D("0.00")


def test_ties_name_the_first_constraint():
    result = sized(avg_monthly_net_inflow=None, monthly_revenue=None)
    assert result.binding == "affordability"


def test_an_amount_exactly_at_the_cap_whose_instalment_rounds_up_is_stepped_down():
    # At 18% over 12 months, 38,100.00 has an exact annuity of 38,100 x 0.09167999... = 3,493.00773:
    # its instalment rounds up to 3,493.01. An allowance of 3,493.008 a month affords 38,100.0029,
    # so 38,100.00 is the affordability cap, but its instalment is above the allowance: one step down.
    allowance = D("3493.008")
    assert affordable_principal(instalment=allowance, apr=D("0.18"), term_months=12) > D("38100.00")
    assert annuity_instalment(D("38100.00"), D("0.18"), 12) == D("3493.01")
    result = sized(avg_monthly_net_inflow=allowance, params=POLICY.replace(max_instalment_share=D("1")))
    assert result.caps["affordability"] == D("38100.00")
    assert result.max_amount == D("38000.00")


def test_as_dict_is_json_ready():
    data = sized(avg_monthly_net_inflow=D("10000.00")).as_dict()
    assert data["max_amount"] == "38100.00"
    assert data["caps"]["risk"] == "5882352.94"
    assert list(data["caps"]) == list(CAP_NAMES)


money = st.integers(min_value=0, max_value=100_000_000).map(lambda c: D(c) / 100)


@settings(max_examples=200, deadline=None)
@given(
    inflow=money,
    revenue=money,
    exposure=money,
    pd=st.floats(min_value=0.0005, max_value=0.5),
    apr_bp=st.integers(min_value=0, max_value=3600),
    term=st.integers(min_value=3, max_value=24),
)
def test_the_limit_respects_every_cap_and_is_the_largest_step_that_does(inflow, revenue, exposure, pd, apr_bp, term):
    apr = D(apr_bp) / 10000
    result = sized(
        avg_monthly_net_inflow=inflow, monthly_revenue=revenue, existing_exposure=exposure, pd=pd, apr=apr,
        term_months=term,
    )
    step = POLICY.amount_step
    assert result.max_amount % step == 0 and result.max_amount >= 0
    assert all(result.max_amount <= cap for cap in result.caps.values())
    allowance = POLICY.max_instalment_share * inflow
    if result.max_amount > 0:
        assert annuity_instalment(result.max_amount, apr, term) <= allowance
    bigger = result.max_amount + step
    assert bigger > min(result.caps.values()) or annuity_instalment(bigger, apr, term) > allowance
