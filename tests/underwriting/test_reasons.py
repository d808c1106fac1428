from dataclasses import dataclass

import numpy as np

from underwriting.reasons import reasons_from_contributions


@dataclass(frozen=True)
class Spec:
    name: str
    family: str

    @property
    def family_label(self) -> str:
        return self.family.title()

    def statement(self, value, helped=False):
        return f"{'helped' if helped else 'risk'}: {self.name}={value}"


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
