"""The feature catalog's vocabulary: what a feature is, its family, and how to state it in plain words.

`FeatureSpec.monotone` is the LightGBM monotone-constraint sign with respect to default risk:
+1 = a higher value never lowers the risk (e.g. refund rate, loan burden), -1 = a higher value never
raises it (e.g. revenue, months of rent paid), 0 = no constraint (such features are invariant to an
even scaling of sales; see docs/features.md).

`FeatureSpec.reads` is, for an unconstrained feature, how a higher value reads to a business owner:
+1 as worse news (more loans still running), -1 as better news (faster sales growth), 0 as neither
(a term, a weekend share, a spike against the usual level: there the comparison with the typical
value carries the meaning). A reason is never worded against its reading (underwriting/engine/reasons.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from underwriting.money import money_text

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

# How each unit is shown (format_value):
#   money      an amount in the partner's currency, 2 decimals: "28,333.00 CNY"
#   fraction   a share of something the statement names: "7.2%"
#   change     a signed relative change: "+12%" ("rose 12%" in statements)
#   ratio      one amount against another, 2 decimals: "0.97x"
#   multiple   one amount against a reference the statement names: "3.2x"
#   days, months, count   "12 days", "6 months", "3"
#   rating     a marketplace rating on its 0-5 scale: "4.13 of 5"
#   points     a change of a rating: "-0.30 points"
#   per10k     chargebacks per 10,000 of sales: "1.70 per 10,000 CNY of sales"
#   logratio   log(value / the sector's typical value), shown as the multiple: "2.5x"
#   variation  a standard deviation against the average (coefficient of variation): "85%"
#   spread     a standard deviation of log sales, shown as the typical relative swing exp(sd) - 1: "35%"
#   cover      months of expenses a balance covers: "1.8 months of expenses"
UNITS = ("money", "fraction", "change", "ratio", "multiple", "days", "count", "months", "rating", "points",
         "per10k", "logratio", "variation", "spread", "cover")

# Units of a signed change: stated as "rose ..." / "fell ...", compared with the typical change by
# direction and size.
CHANGE_UNITS = ("change", "points")

# Below these sizes a change is "flat" (in the unit's own terms: 0.5%, 0.005 rating points, 0.05 months).
_FLAT = {"change": 0.005, "points": 0.005, "cover": 0.05}


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _percent(pct: float) -> str:
    a = abs(pct)
    if a == 0 or a >= 10:
        return f"{pct:.0f}%"
    if a >= 1:
        return f"{pct:.1f}%"
    if a >= 0.1:
        return f"{pct:.2g}%"
    return f"{pct:.2f}%"


def _times(x: float) -> str:
    a = abs(x)
    if a >= 10:
        return f"{x:,.0f}x"
    if a >= 1:
        return f"{x:.1f}x"
    return f"{max(x, 1e-4):.2g}x"


def _whole(v: float, noun: str) -> str:
    """'12 days', '1 day', '2.5 days' (one decimal only for a fraction of a small number)."""
    text = f"{v:,.0f}" if abs(v - round(v)) < 0.05 or abs(v) >= 10 else f"{v:.1f}"
    return f"{text} {noun}{'' if text in ('1', '-1') else 's'}"


def _no_negative_zero(text: str) -> str:
    """'-0.0 months' -> '0.0 months': a number rounded to zero has no sign."""
    if text.startswith("-") and not any(ch in "123456789" for ch in text.split(" ")[0]):
        return text[1:]
    return text


def format_value(value: float | None, unit: str, currency: str = "") -> str:
    """The applicant's number as a person reads it, with its unit and scale: "28,333.00 CNY",
    "7.2%", "+12%", "3.2x", "12 days", "4.13 of 5". Money carries `currency` (an ISO code) when given."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    if is_missing(value):
        return "not available"
    return _no_negative_zero(_format(float(value), unit, currency))


def _format(v: float, unit: str, currency: str) -> str:
    if unit == "money":
        return money_text(v, currency)
    if unit == "fraction":
        return _percent(100 * v)
    if unit == "change":
        pct = 100 * v
        shown = f"{abs(pct):.0f}%" if abs(pct) >= 1 else f"{abs(pct):.1f}%"
        return "0%" if shown == "0.0%" else f"{'+' if pct > 0 else '-'}{shown}"
    if unit == "ratio":
        return f"{v:.2f}x"
    if unit == "multiple":
        return _times(v)
    if unit == "days":
        return _whole(v, "day")
    if unit == "months":
        return _whole(v, "month")
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "rating":
        return f"{v:.2f} of 5"
    if unit == "points":
        return f"{v:+.2f} points"
    if unit == "per10k":
        return f"{v:.2f} per 10,000 {currency} of sales" if currency else f"{v:.2f} per 10,000 of sales"
    if unit == "logratio":
        return _times(math.exp(v))
    if unit == "variation":
        return f"{100 * v:.0f}%"
    if unit == "spread":
        return f"{100 * math.expm1(v):.0f}%"
    # cover: two decimals below one month (0.05 and 0.45 are not the same cushion)
    return f"{v:.2f} months of expenses" if abs(v) < 1 else f"{v:.1f} months of expenses"


def _size(value: float, unit: str, currency: str = "") -> str:
    """The size of a change, without its sign: "12%", "0.30 points", "0.5 months of expenses"."""
    v = abs(float(value))
    if unit == "change":
        pct = 100 * v
        return f"{pct:.0f}%" if pct >= 1 else f"{pct:.1f}%"
    if unit == "points":
        return f"{v:.2f} points"
    return format_value(v, unit, currency)


def _flat(value: float, unit: str) -> bool:
    return abs(float(value)) < _FLAT.get(unit, 0.0) or float(value) == 0.0


def _change_words(value: float, unit: str = "change", currency: str = "") -> str:
    """'rose 12%', 'fell 0.30 points', 'fell by 0.5 months of expenses', 'stayed flat'."""
    if _flat(value, unit):
        return "stayed flat"
    by = "by " if unit not in CHANGE_UNITS else ""
    return f"{'rose' if value > 0 else 'fell'} {by}{_size(value, unit, currency)}"


def _above_words(value: float) -> str:
    """A relative difference as a position: '12% above', '40% below', 'level with'."""
    if _flat(value, "change"):
        return "level with"
    return f"{_size(value, 'change')} {'above' if value > 0 else 'below'}"


@dataclass(frozen=True)
class FeatureSpec:
    """One named feature: plain-language description, family (for grouped reasons), monotone sign,
    unit, and statement templates carrying the applicant's own number.

    Template placeholders: `{v}` the formatted value (with its unit: "28,333.00 CNY", "7.2%",
    "12 days"); `{change}` for a signed change ("rose 12%", "fell 0.30 points", "stayed flat");
    `{above}` for a relative difference ("12% above", "40% below", "level with"); `{s}` the plural
    "s" of a count ("" when it is 1). `risk` phrases it as a reason the risk is higher, `helped` as
    something that helped; `missing` is used when the value is unknown (NaN).

    `reads` (unconstrained features only): +1 when a higher value reads as worse news to an owner,
    -1 as better news, 0 neither. `compare` (default: every unit but logratio, which is already a
    comparison with the sector's typical value): whether a statement given the typical value adds
    the comparison ("..., less than the typical 18%").
    """

    name: str
    description: str
    family: str
    monotone: int
    unit: str
    risk: str
    helped: str
    missing: str = ""
    reads: int = 0
    compare: bool | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"{self.name}: monotone must be -1, 0 or +1")
        if self.reads not in (-1, 0, 1) or (self.reads and self.monotone):
            raise ValueError(f"{self.name}: reads must be -1, 0 or +1, and 0 for a monotone feature")
        if self.unit not in UNITS:
            raise ValueError(f"{self.name}: unknown unit {self.unit!r}")

    @property
    def family_label(self) -> str:
        return FAMILIES[self.family]

    @property
    def sense(self) -> int:
        """Which way a higher value reads: +1 riskier, -1 safer, 0 neither (the monotone sign, or
        `reads` for an unconstrained feature)."""
        return self.monotone or self.reads

    @property
    def is_change(self) -> bool:
        """Whether the statements put the value in words ("rose 12%", "40% below"): the typical value
        is then compared by direction and size. A signed number shown as such ("-29% a year") is
        compared as a number ("below the typical -11%")."""
        return "{change}" in self.risk or "{above}" in self.risk

    @property
    def compares(self) -> bool:
        return self.unit != "logratio" if self.compare is None else self.compare

    def format(self, value: float, currency: str = "") -> str:
        return format_value(value, self.unit, currency)

    def statement(self, value: float | None, helped: bool = False, *, currency: str = "",
                  typical: float | None = None) -> str:
        """A one-line reason with the applicant's own number and its unit, e.g. "Sales fell 35% in the
        last 90 days against the 90 days before" (risk) or "Refunds were only 0.4% of sales over the
        last 90 days" (helped). Given the typical value (the training median), the comparison with it
        follows: "..., less than the typical 18%". `currency` is the ISO code money is stated in."""
        if is_missing(value):
            return self.missing or f"Not enough data to measure: {self.description[0].lower()}{self.description[1:]}"
        value = float(value)
        template = self.helped if helped else self.risk
        shown = self.format(value, currency)
        text = template.format(
            v=shown,
            change=_change_words(value, self.unit, currency) if "{change}" in template else "",
            above=_above_words(value) if "{above}" in template else "",
            s="" if shown == "1" else "s",
        )
        if self.compares and not is_missing(typical):
            text = f"{text}, {self.versus(value, float(typical), currency=currency)}"
        return text

    def versus(self, value: float, typical: float, *, currency: str = "") -> str:
        """How the value compares with the typical value: "far above the typical 1.0x", "less than
        the typical 18%", "while a rise of 3% is typical", "in line with the typical 4.50 of 5"."""
        if self.is_change:
            return _change_versus(value, typical, self.unit, currency, positional="{above}" in self.risk)
        shown_t = format_value(typical, self.unit, currency)
        if value == typical:
            return f"in line with the typical {shown_t}"
        higher = value > typical
        if self.unit == "count":
            word = "more than" if higher else "fewer than"
        elif self.unit in ("days", "months"):
            word = "more than" if higher else "less than"
        else:
            word = "above" if higher else "below"
        if format_value(value, self.unit, currency) == shown_t:
            word = f"just {word}"
        elif value > 0 and typical > 0 and (value >= 2 * typical or 2 * value <= typical):
            word = f"far {word}"
        return f"{word} the typical {shown_t}"


def _change_versus(value: float, typical: float, unit: str, currency: str, *, positional: bool) -> str:
    """A change against the typical change: by size when both go the same way ("less than the typical
    18%"), by direction when they do not ("while a fall of 5% is typical", or for a position such as
    "12% below the year's average": "while 3% above is typical")."""
    size_unit = unit if unit in CHANGE_UNITS or unit == "cover" else "change"
    flat_v, flat_t = _flat(value, size_unit), _flat(typical, size_unit)
    if flat_v and flat_t:
        return "as is typical"
    if flat_t:
        return "while the typical change is close to zero"
    size_t = _size(typical, size_unit, currency)
    if flat_v or (value > 0) != (typical > 0):
        if positional:
            return f"while {size_t} {'above' if typical > 0 else 'below'} is typical"
        return f"while a {'rise' if typical > 0 else 'fall'} of {size_t} is typical"
    a, t = abs(value), abs(typical)
    if a == t:
        return f"in line with the typical {size_t}"
    word = "more than" if a > t else "less than"
    if _size(value, size_unit, currency) == size_t:
        word = f"just {word}"
    elif a >= 2 * t or 2 * a <= t:
        word = f"far {word}"
    return f"{word} the typical {size_t}"
