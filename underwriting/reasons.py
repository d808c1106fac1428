"""Reason codes from a decision's own SHAP values.

Contributions are on the model's raw margin (log-odds of default): positive pushes risk up. Features
are grouped by family so that four reasons are four different things ("Sales trend", "Refunds"),
not the same signal measured over four windows. Each reason is stated with the applicant's own
number by the family's strongest feature.
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


def reasons_from_contributions(
    *,
    specs: Sequence,
    values: np.ndarray,
    contributions: np.ndarray,
    direction: str,
    limit: int = 4,
) -> list[Reason]:
    """Top families pushing risk up (direction="adverse") or down (direction="helped").

    A family qualifies only if its summed contribution points the asked way; within it, the feature
    with the largest contribution in that direction speaks for it.
    """
    if direction not in {"adverse", "helped"}:
        raise ValueError(f"direction must be 'adverse' or 'helped', not {direction!r}")
    sign = 1.0 if direction == "adverse" else -1.0
    signed = sign * np.asarray(contributions, dtype=float)[: len(specs)]
    totals: dict[str, float] = {}
    best: dict[str, int] = {}
    for i, spec in enumerate(specs):
        totals[spec.family] = totals.get(spec.family, 0.0) + signed[i]
        if spec.family not in best or signed[i] > signed[best[spec.family]]:
            best[spec.family] = i
    ranked = sorted(
        (f for f in totals if totals[f] > 0 and signed[best[f]] > 0), key=lambda f: (-totals[f], f)
    )
    if not ranked:
        # No family leans the asked way on balance; its strongest single features still do.
        ranked = sorted((f for f in best if signed[best[f]] > 0), key=lambda f: (-signed[best[f]], f))
    reasons = []
    for family in ranked[:limit]:
        i = best[family]
        spec = specs[i]
        raw = float(values[i])
        value = None if np.isnan(raw) else raw
        reasons.append(
            Reason(
                family=family,
                label=spec.family_label,
                feature=spec.name,
                value=value,
                contribution=float(contributions[i]),
                text=spec.statement(value, helped=direction == "helped"),
            )
        )
    return reasons
