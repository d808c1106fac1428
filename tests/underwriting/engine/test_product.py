"""The loan product's money against hand-computed figures, and its invariants for any loan the
product allows (docs/domain.md "Money and the loan product")."""

import calendar
import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from underwriting.engine.product import (
    amortisation_schedule,
    annuity_instalment,
    due_date,
    effective_apr,
    monthly_irr,
    origination_fee,
)

D = Decimal


def numpy_apr(financed: Decimal, payments: list[Decimal]) -> float:
    """An independent IRR, numpy_financial-style: the positive real root x = 1/(1+i) of
    financed - sum(p_k x^k) = 0 (np.roots takes the highest power first), annualised x 12 in %."""
    coefficients = [-float(p) for p in reversed(payments)] + [float(financed)]
    roots = [r.real for r in np.roots(coefficients) if abs(r.imag) < 1e-12 and r.real > 0]
    assert len(roots) == 1
    return (1 / roots[0] - 1) * 1200


def schedule(principal, apr, term, on=dt.date(2024, 1, 15)):
    return amortisation_schedule(principal=D(principal), apr=D(apr), term_months=term, disbursed_on=on)


# ---- the case: 10,000.00 at 18% APR over 12 months -------------------------------------------


def test_instalment_of_10000_at_18_percent_over_12_months():
    # r = 0.18 / 12 = 0.015; 1.015^12 = 1.195618171...; 1 - 1/1.195618171 = 0.163612...
    # 10,000 x 0.015 / 0.1636120 = 916.7999... -> 916.80
    assert annuity_instalment(D("10000.00"), D("0.18"), 12) == D("916.80")


def test_schedule_of_10000_at_18_percent_sums_exactly():
    s = schedule("10000.00", "0.18", 12)
    # Month 1: interest 10,000 x 0.015 = 150.00, principal 916.80 - 150.00 = 766.80, balance 9,233.20.
    # Month 2: 9,233.20 x 0.015 = 138.498 -> 138.50, principal 778.30, balance 8,454.90.
    first, second = s.rows[0], s.rows[1]
    assert (first.interest, first.principal, first.balance_after) == (D("150.00"), D("766.80"), D("9233.20"))
    assert (second.interest, second.principal, second.balance_after) == (D("138.50"), D("778.30"), D("8454.90"))
    # Month 12 opens at 903.26: interest 13.5489 -> 13.55, payment 903.26 + 13.55 = 916.81.
    assert s.rows[-1].interest == D("13.55")
    assert s.last_payment == D("916.81")
    assert [r.payment for r in s.rows[:-1]] == [D("916.80")] * 11
    # 11 x 916.80 + 916.81 = 11,001.61 = 10,000.00 + 1,001.61 of interest.
    assert s.total_interest == D("1001.61")
    assert s.total_repayable == D("11001.61")
    assert sum(r.payment for r in s.rows) == s.total_repayable
    assert sum(r.principal for r in s.rows) == D("10000.00")
    assert sum(r.interest for r in s.rows) == s.total_interest
    assert s.rows[-1].balance_after == D("0.00")


def test_apr_without_fee_is_the_nominal_rate():
    s = schedule("10000.00", "0.18", 12)
    assert effective_apr(principal=D("10000.00"), fee=D("0.00"), schedule=s) == D("18.00")
    # The IRR of the cent-rounded flows is 18.000176...%: the contract rate up to interest rounding.
    raw = monthly_irr(financed=D("10000.00"), payments=[r.payment for r in s.rows]) * 1200
    assert abs(raw - D("18")) < D("0.001")


def test_a_2_percent_origination_fee_raises_the_apr():
    s = schedule("10000.00", "0.18", 12)
    fee = origination_fee(D("10000.00"), D("0.02"))
    assert fee == D("200.00")
    # The borrower gets 9,800.00 and pays 11 x 916.80 + 916.81. Monthly IRR 1.825838...% (numpy's
    # polynomial roots give 21.9100558...% a year), so the APR to disclose is 21.91.
    payments = [r.payment for r in s.rows]
    assert numpy_apr(D("9800.00"), payments) == pytest.approx(21.910055822, abs=1e-6)
    assert effective_apr(principal=D("10000.00"), fee=fee, schedule=s) == D("21.91")


# ---- a 24-month and a 3-month loan -------------------------------------------------------------------


def test_24_month_loan_from_aug_31():
    s = schedule("25000.00", "0.24", 24, on=dt.date(2024, 8, 31))
    # r = 0.02; 1.02^-24 = 0.621721...; 25,000 x 0.02 / 0.378279 = 1,321.777... -> 1,321.78.
    assert s.instalment == D("1321.78")
    assert (s.rows[0].interest, s.rows[0].balance_after) == (D("500.00"), D("24178.22"))
    # 24,178.22 x 0.02 = 483.5644 -> 483.56.
    assert (s.rows[1].interest, s.rows[1].balance_after) == (D("483.56"), D("23340.00"))
    assert s.total_interest == D("6722.63")
    assert s.total_repayable == D("31722.63")
    # 23 x 1,321.78 = 30,400.94; 31,722.63 - 30,400.94 = 1,321.69.
    assert s.last_payment == D("1321.69")
    assert sum(r.payment for r in s.rows) == D("31722.63")
    assert s.rows[-1].balance_after == D("0.00")
    fee = D("500.00")  # 2%
    assert numpy_apr(D("24500.00"), [r.payment for r in s.rows]) == pytest.approx(26.15, abs=0.005)
    assert effective_apr(principal=D("25000.00"), fee=fee, schedule=s) == D("26.15")


def test_3_month_loan_from_jan_31_in_a_leap_year():
    s = schedule("3000.00", "0.12", 3, on=dt.date(2024, 1, 31))
    # r = 0.01; 3,000 x 0.01 / (1 - 1.01^-3) = 30 / 0.0294099 = 1,020.066... -> 1,020.07.
    assert s.instalment == D("1020.07")
    # Interest 30.00, then 2,009.93 x 0.01 = 20.0993 -> 20.10, then 1,009.96 x 0.01 = 10.0996 -> 10.10.
    assert [r.interest for r in s.rows] == [D("30.00"), D("20.10"), D("10.10")]
    assert [r.balance_after for r in s.rows] == [D("2009.93"), D("1009.96"), D("0.00")]
    assert [r.payment for r in s.rows] == [D("1020.07"), D("1020.07"), D("1020.06")]
    assert (s.total_interest, s.total_repayable) == (D("60.20"), D("3060.20"))
    assert [r.due_on for r in s.rows] == [dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30)]
    # A 60.00 fee on a 3-month loan: 2,940.00 received for three payments of ~1,020 is 24.37% a year.
    assert numpy_apr(D("2940.00"), [r.payment for r in s.rows]) == pytest.approx(24.37, abs=0.005)
    assert effective_apr(principal=D("3000.00"), fee=D("60.00"), schedule=s) == D("24.37")


def test_zero_rate_loan_splits_the_principal_and_the_last_payment_takes_the_cent():
    s = schedule("1000.00", "0", 3)
    assert [r.payment for r in s.rows] == [D("333.33"), D("333.33"), D("333.34")]
    assert s.total_interest == D("0.00")
    assert effective_apr(principal=D("1000.00"), fee=D("0.00"), schedule=s) == D("0.00")
    # 950.00 received for 333.33, 333.33, 333.34: at i = 2.609% a month v = 0.974574 and
    # 333.33 (v + v^2 + v^3) + 0.01 v^3 = 950.00, so the fee alone makes the APR 31.31%.
    assert numpy_apr(D("950.00"), [r.payment for r in s.rows]) == pytest.approx(31.31, abs=0.005)
    assert effective_apr(principal=D("1000.00"), fee=D("50.00"), schedule=s) == D("31.31")


# ---- due dates ----------------------------------------------------------------------------------------


def test_due_dates_from_jan_31_clamp_each_month_from_the_original_day():
    s = schedule("5000.00", "0.18", 6, on=dt.date(2023, 1, 31))
    assert [r.due_on for r in s.rows] == [
        dt.date(2023, 2, 28),
        dt.date(2023, 3, 31),
        dt.date(2023, 4, 30),
        dt.date(2023, 5, 31),
        dt.date(2023, 6, 30),
        dt.date(2023, 7, 31),
    ]
    assert due_date(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)


def test_due_dates_from_aug_31_cross_the_year_and_february():
    s = schedule("5000.00", "0.18", 7, on=dt.date(2024, 8, 31))
    assert [r.due_on for r in s.rows] == [
        dt.date(2024, 9, 30),
        dt.date(2024, 10, 31),
        dt.date(2024, 11, 30),
        dt.date(2024, 12, 31),
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 31),
    ]


def test_mid_month_day_is_kept():
    assert [due_date(dt.date(2024, 11, 15), n) for n in (1, 2, 3)] == [
        dt.date(2024, 12, 15),
        dt.date(2025, 1, 15),
        dt.date(2025, 2, 15),
    ]


# ---- serialisation and input checks -------------------------------------------------------------------


def test_as_dict_carries_amounts_as_strings():
    data = schedule("10000.00", "0.18", 12, on=dt.date(2024, 1, 31)).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["instalment"] == "916.80"
    assert data["total_repayable"] == "11001.61"
    assert data["rows"][0] == {
        "number": 1,
        "due_on": "2024-02-29",
        "payment": "916.80",
        "principal": "766.80",
        "interest": "150.00",
        "balance_after": "9233.20",
    }
    assert data["rows"][-1]["payment"] == "916.81"


@pytest.mark.parametrize(
    ("principal", "apr", "term", "error"),
    [
        (10000.0, D("0.18"), 12, TypeError),
        (D("10000.001"), D("0.18"), 12, ValueError),
        (D("0.00"), D("0.18"), 12, ValueError),
        (D("10000.00"), D("-0.01"), 12, ValueError),
        (D("10000.00"), D("0.18"), 0, ValueError),
    ],
)
def test_invalid_inputs_are_refused(principal, apr, term, error):
    with pytest.raises(error):
        annuity_instalment(principal, apr, term)


def test_fee_must_be_an_amount_below_the_principal():
    s = schedule("10000.00", "0.18", 12)
    for fee in (D("-1.00"), D("10000.00"), D("0.001")):
        with pytest.raises(ValueError):
            effective_apr(principal=D("10000.00"), fee=fee, schedule=s)
    with pytest.raises(ValueError):
        effective_apr(principal=D("9000.00"), fee=D("0.00"), schedule=s)


# ---- properties over the product's whole range --------------------------------------------------------

principals = st.integers(min_value=100_000, max_value=50_000_000).map(lambda cents: D(cents) / 100)
aprs = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 10000)  # 0.00% .. 36.00%
terms = st.integers(min_value=3, max_value=24)
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))


def two_decimals(value: Decimal) -> bool:
    return value.as_tuple().exponent == -2


@settings(max_examples=300, deadline=None)
@given(principal=principals, apr=aprs, term=terms, on=days)
def test_any_schedule_sums_exactly_and_ends_at_zero(principal, apr, term, on):
    s = amortisation_schedule(principal=principal, apr=apr, term_months=term, disbursed_on=on)
    assert len(s.rows) == term
    assert sum(r.payment for r in s.rows) == s.total_repayable == principal + s.total_interest
    assert sum(r.principal for r in s.rows) == principal
    assert s.rows[-1].balance_after == D("0.00")
    assert all(r.payment == s.instalment for r in s.rows[:-1])
    # The last payment differs from the others by accumulated cent rounding only.
    assert abs(s.last_payment - s.instalment) <= D("0.01") * term
    for r in s.rows:
        assert all(two_decimals(v) for v in (r.payment, r.principal, r.interest, r.balance_after))
        assert r.principal > 0 and r.interest >= 0 and r.balance_after >= 0
        assert r.payment == r.principal + r.interest
        assert r.due_on.day == min(on.day, calendar.monthrange(r.due_on.year, r.due_on.month)[1])
    assert [(r.due_on.year * 12 + r.due_on.month) - (on.year * 12 + on.month) for r in s.rows] == list(
        range(1, term + 1)
    )
    assert all(two_decimals(v) for v in (s.instalment, s.total_interest, s.total_repayable))


@settings(max_examples=150, deadline=None)
@given(principal=principals, apr=aprs, term=terms, fee_bp=st.integers(min_value=10, max_value=500))
def test_apr_is_nominal_without_fee_and_above_it_with_one(principal, apr, term, fee_bp):
    s = amortisation_schedule(principal=principal, apr=apr, term_months=term, disbursed_on=dt.date(2024, 3, 31))
    nominal = apr * 100
    assert effective_apr(principal=principal, fee=D("0.00"), schedule=s) == nominal
    # The raw IRR of the rounded flows stays within the interest-rounding bound (~12/principal points).
    raw = monthly_irr(financed=principal, payments=[r.payment for r in s.rows], guess=apr / 12) * 1200
    assert abs(raw - nominal) <= D(15) / principal
    fee = origination_fee(principal, D(fee_bp) / 10000)
    with_fee = effective_apr(principal=principal, fee=fee, schedule=s)
    assert with_fee > nominal
    assert two_decimals(with_fee)
    assert float(with_fee) == pytest.approx(numpy_apr(principal - fee, [r.payment for r in s.rows]), abs=0.006)
