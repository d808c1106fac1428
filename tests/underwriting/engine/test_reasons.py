"""Reasons from a decision's own SHAP values: grouped by family, ranked by the family's total, spoken
only by features whose contribution points the asked way and whose wording cannot contradict it."""

from dataclasses import dataclass

import numpy as np
import pytest

from underwriting.engine.reasons import may_speak, reading_side, reasons_from_contributions
from underwriting.features import FEATURES

CATALOG = {spec.name: spec for spec in FEATURES}
NAN = float("nan")


@dataclass(frozen=True)
class Spec:
    name: str
    family: str
    monotone: int = 0

    @property
    def family_label(self) -> str:
        return self.family.title()

    def statement(self, value, helped=False, *, currency="", typical=None):
        return f"{'helped' if helped else 'risk'}: {self.name}={value}" + ("" if typical is None else f" ~{typical}")


SPECS = [
    Spec("sales_change_90d", "growth"),
    Spec("sales_change_30d", "growth"),
    Spec("refund_rate", "refunds"),
    Spec("rating", "reputation"),
    Spec("revenue_90d", "scale"),
    Spec("negative_days", "cashflow"),
]
VALUES = np.array([-0.35, -0.1, 0.072, 4.8, 90000.0, np.nan])


def test_adverse_reasons_group_by_family_rank_by_total_and_speak_with_the_strongest_feature():
    contributions = np.array([0.30, 0.25, 0.40, -0.20, -0.50, 0.05, -1.9])  # last: base value

    reasons = reasons_from_contributions(
        specs=SPECS, values=VALUES, contributions=contributions, direction="adverse", limit=4
    )

    assert [(r.family, r.feature) for r in reasons] == [
        ("growth", "sales_change_90d"),
        ("refunds", "refund_rate"),
        ("cashflow", "negative_days"),
    ]
    assert reasons[0].text == "risk: sales_change_90d=-0.35"
    assert reasons[0].contribution == 0.30
    assert reasons[2].value is None


def test_helped_reasons_are_the_families_lowering_risk():
    contributions = np.array([0.30, 0.25, 0.40, -0.20, -0.50, 0.05, -1.9])

    reasons = reasons_from_contributions(
        specs=SPECS, values=VALUES, contributions=contributions, direction="helped", limit=4
    )

    assert [r.feature for r in reasons] == ["revenue_90d", "rating"]
    assert reasons[0].text == "helped: revenue_90d=90000.0"


def test_at_most_the_limit_and_never_a_family_pushing_the_other_way():
    contributions = np.array([0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.0])

    reasons = reasons_from_contributions(
        specs=SPECS, values=VALUES, contributions=contributions, direction="adverse", limit=2
    )

    assert [r.family for r in reasons] == ["cashflow", "scale"]


def test_a_family_negative_on_balance_still_speaks_through_a_feature_pushing_risk_up_when_none_else_does():
    contributions = np.array([0.2, -0.5, -0.1, -0.1, -0.1, -0.1, 0.0])

    reasons = reasons_from_contributions(
        specs=SPECS, values=VALUES, contributions=contributions, direction="adverse", limit=4
    )

    assert [r.feature for r in reasons] == ["sales_change_90d"]


# --- the side of the typical value ------------------------------------------------------------------

# revenue (-1: higher is safer), refunds (+1: higher is riskier), an unconstrained spike, a second
# revenue-like feature of the same family.
SIDED = [
    Spec("revenue", "scale", -1),
    Spec("card_sales", "scale", -1),
    Spec("refund_rate", "refunds", 1),
    Spec("spike", "anomaly", 0),
]
TYPICAL = np.array([50000.0, 40000.0, 0.02, 1.0])


def test_a_monotone_feature_on_the_safe_side_of_typical_is_never_an_adverse_reason():
    # Given revenue above the typical value (safe side) whose SHAP value still pushed risk up (an
    # interaction), and card sales below typical pushing it up less
    values = np.array([80000.0, 30000.0, 0.01, 1.4])
    contributions = np.array([0.50, 0.20, 0.30, 0.10, -2.0])

    # When the adverse reasons are drawn
    reasons = reasons_from_contributions(
        specs=SIDED, values=values, contributions=contributions, direction="adverse", typical=TYPICAL
    )

    # Then revenue does not speak, the family's next qualifying feature does; refunds (below typical,
    # the safe side) are skipped; the unconstrained spike speaks with the typical value beside it
    assert [(r.feature, r.contribution) for r in reasons] == [("card_sales", 0.20), ("spike", 0.10)]
    assert [r.text for r in reasons] == ["risk: card_sales=30000.0 ~40000.0", "risk: spike=1.4 ~1.0"]
    # and without typical values the side cannot be known, so the strongest features speak
    unchecked = reasons_from_contributions(specs=SIDED, values=values, contributions=contributions,
                                           direction="adverse")
    assert [r.feature for r in unchecked] == ["revenue", "refund_rate", "spike"]


def test_a_family_with_no_feature_that_may_speak_is_left_out_and_the_typical_value_itself_is_no_side():
    values = np.array([50000.0, 45000.0, 0.02, 0.9])
    contributions = np.array([0.40, 0.30, 0.20, 0.05, -2.0])

    reasons = reasons_from_contributions(
        specs=SIDED, values=values, contributions=contributions, direction="adverse", typical=TYPICAL
    )

    # revenue at the typical value, card sales above it, refunds at the typical value: only the spike
    assert [r.feature for r in reasons] == ["spike"]


def test_helped_reasons_are_on_the_safe_side_and_never_a_missing_value():
    values = np.array([80000.0, np.nan, 0.05, 1.0])
    contributions = np.array([-0.10, -0.60, -0.30, -0.05, -2.0])

    reasons = reasons_from_contributions(
        specs=SIDED, values=values, contributions=contributions, direction="helped", typical=TYPICAL
    )

    # card sales (missing) may not help; refunds above typical read as risk, so they may not either
    assert [r.feature for r in reasons] == ["revenue", "spike"]


def test_a_missing_value_may_be_an_adverse_reason():
    values = np.array([np.nan, 30000.0, 0.01, 1.0])
    contributions = np.array([0.40, -0.10, -0.10, -0.10, -2.0])

    reasons = reasons_from_contributions(
        specs=SIDED, values=values, contributions=contributions, direction="adverse", typical=TYPICAL
    )

    assert [(r.feature, r.value, r.text) for r in reasons] == [("revenue", None, "risk: revenue=None ~50000.0")]


def test_typical_values_must_align_with_the_specs():
    with pytest.raises(ValueError, match="typical has 2 values for 4 features"):
        reasons_from_contributions(specs=SIDED, values=np.zeros(4), contributions=np.zeros(5),
                                   direction="adverse", typical=np.zeros(2))


# --- with the catalog's own statements -------------------------------------------------------------

GROWTH = [CATALOG[n] for n in ("sales_change_90d", "sales_change_30d", "revenue_90d", "rating_last")]


def test_a_rise_weaker_than_typical_is_stated_as_weaker_than_typical():
    # Given sales up 11% whose SHAP value pushed risk up, where the typical rise is 18%
    values = np.array([0.11, 0.02, 85000.0, 4.7])
    typical = np.array([0.18, 0.05, 60000.0, 4.5])
    contributions = np.array([0.35, -0.05, -0.40, -0.10, -2.0])

    # When the decline's reasons are drawn
    reasons = reasons_from_contributions(
        specs=GROWTH, values=values, contributions=contributions, direction="adverse", typical=typical
    )

    # Then the rise is worded with the comparison that makes it a reason
    assert [r.text for r in reasons] == [
        "Sales rose 11% in the last 90 days against the 90 days before, less than the typical 18%"
    ]


def test_growth_stronger_than_typical_is_never_worded_as_a_reason_against():
    # Given a surge (above typical) that the model still counted against the applicant
    values = np.array([0.60, 0.01, 85000.0, 4.7])
    typical = np.array([0.18, 0.05, 60000.0, 4.5])
    contributions = np.array([0.35, 0.10, -0.40, -0.10, -2.0])

    reasons = reasons_from_contributions(
        specs=GROWTH, values=values, contributions=contributions, direction="adverse", typical=typical
    )

    # Then the family speaks through its other feature, which is below typical
    assert [r.text for r in reasons] == [
        "Sales rose 1% in the last 30 days against the monthly average of the three months before, "
        "far less than the typical 5%"
    ]


def test_an_approval_states_what_helped_with_units_currency_and_comparison():
    values = np.array([0.30, 0.06, 85000.0, 4.8])
    typical = np.array([0.18, 0.05, 60000.0, 4.5])
    contributions = np.array([-0.20, 0.05, -0.40, -0.10, -2.0])

    reasons = reasons_from_contributions(
        specs=GROWTH, values=values, contributions=contributions, direction="helped", typical=typical,
        currency="CNY",
    )

    assert [r.text for r in reasons] == [
        "Business income was 85,000.00 CNY over the last 90 days, above the typical 60,000.00 CNY",
        "Sales rose 30% in the last 90 days against the 90 days before, more than the typical 18%",
        "The marketplace rating is 4.80 of 5, above the typical 4.50 of 5",
    ]


def test_random_decisions_never_cite_a_fact_against_their_direction():
    # Given random values, typical values and contributions over the whole catalog
    rng = np.random.default_rng(3)
    specs = list(FEATURES)
    n = len(specs)
    for _ in range(300):
        typical = rng.normal(size=n)
        typical[rng.random(n) < 0.1] = np.nan
        values = typical + rng.normal(size=n)
        tie = rng.random(n) < 0.05
        values[tie] = typical[tie]  # exactly typical: neither side
        values[rng.random(n) < 0.1] = np.nan
        contributions = np.append(rng.normal(scale=0.2, size=n), -2.0)
        for direction, sign in (("adverse", 1), ("helped", -1)):
            # When the reasons are drawn
            reasons = reasons_from_contributions(specs=specs, values=values, contributions=contributions,
                                                 direction=direction, typical=typical, currency="EUR")
            # Then each one pushed the asked way, reads that way against typical, and is a new family
            assert len({r.family for r in reasons}) == len(reasons) <= 4
            for r in reasons:
                i = CATALOG_INDEX[r.feature]
                assert sign * r.contribution > 0
                assert may_speak(specs[i], values[i], typical[i], contributions[i], direction)
                if np.isnan(values[i]):
                    assert direction == "adverse" and r.value is None
                elif specs[i].sense and not np.isnan(typical[i]):
                    assert reading_side(specs[i], values[i], typical[i]) == sign
                assert "{" not in r.text


CATALOG_INDEX = {spec.name: i for i, spec in enumerate(FEATURES)}


def test_the_reading_side_of_a_value():
    revenue, refunds, spike = CATALOG["revenue_90d"], CATALOG["refund_rate_90d"], CATALOG["sales_spike_14d"]
    running = CATALOG["prior_loans_current"]
    assert reading_side(revenue, 100.0, 200.0) == 1  # less income than typical reads as riskier
    assert reading_side(revenue, 300.0, 200.0) == -1
    assert reading_side(refunds, 0.05, 0.02) == 1
    assert reading_side(refunds, 0.02, 0.02) == 0  # the typical value itself: neither side
    assert reading_side(spike, 3.0, 1.0) == 0  # no sense: the comparison carries the meaning
    assert reading_side(running, 2.0, 0.0) == 1  # more loans still running reads as riskier
    assert reading_side(revenue, 100.0, NAN) == 0
