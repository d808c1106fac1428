"""The feature catalog's vocabulary: what a feature is, its family, and how to state it in plain words.

`FeatureSpec.monotone` is the LightGBM monotone-constraint sign with respect to default risk:
+1 = a higher value never lowers the risk (e.g. refund rate, loan burden), -1 = a higher value never
raises it (e.g. revenue, months of rent paid), 0 = no constraint (such features are invariant to an
even scaling of sales; see docs/features.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FAMILIES: dict[str, str] = {
    "scale": "Sales volume",
    "growth": "Sales trend",
    "volatility": "Sales stability and seasonality",
    "refunds": "Refunds and chargebacks",
    "cashflow": "Cash flow and balances",
    "obligations": "Rent, payroll and supplier payments",
    "concentration": "Customer concentration",
    "reputation": "Marketplace reputation",
    "tenure": "Time in business and activity",
    "debt": "Existing debt and loan history",
    "anomaly": "Unusual recent activity",
    "burden": "Size of the requested loan",
}

UNITS = ("money", "fraction", "change", "ratio", "multiple", "days", "count", "months", "rating", "per10k",
         "logratio")


def format_value(value: float, unit: str) -> str:
    """The applicant's number as a person reads it (currency amounts without a symbol)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not available"
    v = float(value)
    if unit == "money":
        return f"{v:,.0f}"
    if unit == "fraction":
        pct = 100 * v
        return f"{pct:.1f}%" if abs(pct) < 10 else f"{pct:.0f}%"
    if unit == "change":
        return f"{abs(100 * v):.0f}%"
    if unit == "ratio":
        return f"{v:.2f}"
    if unit == "multiple":
        return f"{v:.1f}x"
    if unit in ("days", "count", "months"):
        return f"{v:,.0f}"
    if unit == "rating":
        return f"{v:.2f}"
    if unit == "per10k":
        return f"{v:.2f}"
    if unit == "logratio":  # log(value / reference): shown as a multiple of the reference
        return f"{math.exp(v):.1f}x"
    raise ValueError(f"unknown unit {unit!r}")


def _change_words(value: float) -> str:
    pct = 100 * float(value)
    if abs(pct) < 0.5:
        return "stayed flat"
    return f"{'rose' if pct > 0 else 'fell'} {abs(pct):.0f}%"


@dataclass(frozen=True)
class FeatureSpec:
    """One named feature: plain-language description, family (for grouped reasons), monotone sign,
    unit, and statement templates carrying the applicant's own number.

    Templates use `{v}` (the formatted value) and, for unit "change", `{change}` ("fell 35%",
    "rose 12%", "stayed flat"). `risk` phrases it as a reason the risk is higher, `helped` as
    something that helped; `missing` is used when the value is unknown (NaN).
    """

    name: str
    description: str
    family: str
    monotone: int
    unit: str
    risk: str
    helped: str
    missing: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"{self.name}: monotone must be -1, 0 or +1")
        if self.unit not in UNITS:
            raise ValueError(f"{self.name}: unknown unit {self.unit!r}")

    @property
    def family_label(self) -> str:
        return FAMILIES[self.family]

    def format(self, value: float) -> str:
        return format_value(value, self.unit)

    def statement(self, value: float, helped: bool = False) -> str:
        """A one-line reason with the applicant's own number, e.g. "Sales fell 35% over the last 90
        days" (risk) or "Refunds were only 0.4% of sales over the last 90 days" (helped)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing or f"Not enough data to measure: {self.description[0].lower()}{self.description[1:]}"
        template = self.helped if helped else self.risk
        change = _change_words(value) if self.unit == "change" else ""
        return template.format(v=self.format(value), change=change)
