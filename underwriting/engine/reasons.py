"""Reason codes from a decision's own SHAP values.

Contributions are on the model's raw margin (log-odds of default): positive pushes risk up. Features
are grouped by family so that four reasons are four different things ("Sales trend", "Refunds"),
not the same signal measured over four windows. Each reason is stated with the applicant's own
number by the family's strongest feature that may speak.

A feature may speak only when its own contribution points the asked way (a decline never cites a
fact that lowered the risk) and its wording cannot contradict that way: a feature whose higher value
reads as riskier or safer (`spec.sense`: the monotone sign, or `reads` for an unconstrained feature)
speaks for "adverse" only from the risky side of the typical value and for "helped" only from the
safe side. A missing value may be an adverse reason ("Not enough data to measure ..."), never a help.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Reason:
    family: str
    label: str
    feature: str
    value: float | None
    contribution: float
    text: str

    def as_dict(self) -> dict:
        return asdict(self)


def reading_side(spec, value: float, typical: float | None) -> int:
    """+1 when `value` reads as riskier than the typical value, -1 as safer, 0 when it reads neither
    way (an unconstrained feature, the typical value itself, or an unknown typical value)."""
    sense = getattr(spec, "monotone", 0) or getattr(spec, "reads", 0)
    if not sense or typical is None or np.isnan(typical) or np.isnan(value) or value == typical:
        return 0
    return int(sense) * (1 if value > typical else -1)


def may_speak(spec, value: float, typical: float | None, contribution: float, direction: str) -> bool:
    """Whether the feature may state a reason of `direction` ("adverse" or "helped")."""
    sign = 1.0 if direction == "adverse" else -1.0
    if not sign * contribution > 0:
        return False
    if np.isnan(value):
        return direction == "adverse"
    sense = getattr(spec, "monotone", 0) or getattr(spec, "reads", 0)
    if not sense or typical is None or np.isnan(typical):
        return True
    return reading_side(spec, value, typical) == sign


def reasons_from_contributions(
    *,
    specs: Sequence,
    values: np.ndarray,
    contributions: np.ndarray,
    direction: str,
    limit: int = 4,
    typical: np.ndarray | None = None,
    currency: str = "",
) -> list[Reason]:
    """Top families pushing risk up (direction="adverse") or down (direction="helped").

    Families are ranked by their summed contribution in the asked direction; a family qualifies if
    that sum points the asked way and one of its features may speak (`may_speak`), and the speaking
    feature is the one with the largest contribution in that direction. When no family leans the
    asked way on balance, the strongest single features that may speak still do.

    `typical` (aligned with `specs`, NaN = unknown): each feature's typical value, which the side
    rule and the statements compare with; `currency`: the ISO code money is stated in.
    """
    if direction not in {"adverse", "helped"}:
        raise ValueError(f"direction must be 'adverse' or 'helped', not {direction!r}")
    n = len(specs)
    sign = 1.0 if direction == "adverse" else -1.0
    contributions = np.asarray(contributions, dtype=float)[:n]
    values = np.asarray(values, dtype=float)[:n]
    typical = np.full(n, np.nan) if typical is None else np.asarray(typical, dtype=float)[:n]
    if typical.shape != (n,):
        raise ValueError(f"typical has {typical.size} values for {n} features")
    signed = sign * contributions
    totals: dict[str, float] = {}
    best: dict[str, int] = {}
    for i, spec in enumerate(specs):
        totals[spec.family] = totals.get(spec.family, 0.0) + signed[i]
        if not may_speak(spec, values[i], typical[i], contributions[i], direction):
            continue
        if spec.family not in best or signed[i] > signed[best[spec.family]]:
            best[spec.family] = i
    ranked = sorted((f for f in best if totals[f] > 0), key=lambda f: (-totals[f], f))
    if not ranked:
        # No family leans the asked way on balance; its strongest single features still do.
        ranked = sorted(best, key=lambda f: (-signed[best[f]], f))
    reasons = []
    for family in ranked[:limit]:
        i = best[family]
        spec = specs[i]
        value = None if np.isnan(values[i]) else float(values[i])
        usual = None if np.isnan(typical[i]) else float(typical[i])
        reasons.append(
            Reason(
                family=family,
                label=spec.family_label,
                feature=spec.name,
                value=value,
                contribution=float(contributions[i]),
                text=spec.statement(value, helped=direction == "helped", currency=currency, typical=usual),
            )
        )
    return reasons
