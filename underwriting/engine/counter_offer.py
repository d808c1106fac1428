"""The largest acceptable amount of a request: what a counter-offer offers (docs/pricing.md, "Counter-
offers").

A request the business cannot have in full is not declined while a smaller amount in the product's
range is acceptable: the engine offers the largest such amount. Acceptability (the model's PD at that
amount within the policy's maximum, its risk-based rate within the legal maximum, the amount within
every limit cap priced at that PD and rate) is not monotone in the amount in general: the amount is
itself a model input, and caps move with the PD. So the search does not assume it: it evaluates a
geometric grid of amounts between the product minimum and the request in one batch, takes the largest
acceptable one, and refines between it and the next, unacceptable grid amount by bisection on the
amount step. The same inputs always give the same amount (a replay finds it again).

Pure: no Django, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from underwriting.money import cap_to_step

GRID_POINTS = 33


def amount_grid(*, low: Decimal, high: Decimal, step: Decimal, points: int = GRID_POINTS) -> list[Decimal]:
    """Amounts from `low` to `high` (both included, on the `step` grid), spaced geometrically: about
    a 20% step between neighbours from 1,000 to 500,000, so the refinement has little left to do."""
    if high < low:
        return []
    ratio = float(high / low)
    grid = {cap_to_step(low * Decimal(repr(ratio ** (i / (points - 1)))), step) for i in range(points)}
    grid |= {low, cap_to_step(high, step)}
    return sorted(a for a in grid if low <= a <= high)


def largest_acceptable(
    *, low: Decimal, high: Decimal, step: Decimal, first_acceptable: Callable[[Sequence[Decimal]], int | None]
) -> Decimal | None:
    """The largest amount in [low, high] on the `step` grid that is acceptable, searched as the module
    says; None when no grid amount is acceptable. `first_acceptable(amounts)` takes a batch of amounts,
    largest first, and answers the index of the first acceptable one (None: none is): the caller may
    stop weighing at the first it accepts."""
    grid = amount_grid(low=low, high=high, step=step)[::-1]
    if not grid:
        return None
    i = first_acceptable(grid)
    if i is None:
        return None
    best = grid[i]
    if i == 0:
        return best
    bad = grid[i - 1]
    while bad - best > step:
        middle = cap_to_step((best + bad) / 2, step)
        if middle in (best, bad):
            break
        if first_acceptable([middle]) == 0:
            best = middle
        else:
            bad = middle
    return best
