"""DC_ROUND_AMOUNTS and DC_REPEATED_AMOUNTS, on the daily totals of trading inflows (see consistency.py for
the rationale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underwriting.history.ingest.check_result import CheckResult, pct, units
from underwriting.history.ingest.history_rows import Prepared, day_segments

# DC_ROUND_AMOUNTS and DC_REPEATED_AMOUNTS (daily totals of trading inflows)
TAKINGS_MIN_DAYS = 60
TAKINGS_MIN_COVERAGE = 0.40
ROUND_UNIT_MINOR = 1_000  # 10 currency units
ROUND_SHARE = 0.80
GRID_SHARE = 0.90
REPEAT_NEAR_STEPS = 10
REPEAT_MIN_SHARE = 0.30
REPEAT_SPIKE = 4.0


@dataclass(frozen=True)
class Takings:
    totals: np.ndarray  # int64 minor units, one per day with sales
    applicable: bool
    reason: str


def takings_of(p: Prepared) -> Takings:
    day = p.day[p.takings]
    if day.size == 0:
        return Takings(np.zeros(0, dtype=np.int64), False, "The history has no sales to check.")
    starts, _, days = day_segments(day)
    totals = np.add.reduceat(p.amount[p.takings], starts)
    span = int(days[-1] - days[0] + 1)
    if totals.size < TAKINGS_MIN_DAYS or totals.size < TAKINGS_MIN_COVERAGE * span:
        return Takings(totals, False, f"Sales arrive on {totals.size} of {span} days; daily takings are checked "
                        f"with sales on at least {TAKINGS_MIN_DAYS} days and {TAKINGS_MIN_COVERAGE:.0%} of them.")
    return Takings(totals, True, "")


def check_round(t: Takings) -> CheckResult:
    code = "DC_ROUND_AMOUNTS"
    if not t.applicable:
        return CheckResult(code, False, False, t.reason, (("days", float(t.totals.size)),))
    n = t.totals.size
    whole = int((t.totals % 100 == 0).sum())
    round_ = int((t.totals % ROUND_UNIT_MINOR == 0).sum())
    share = round_ / n
    measures = (("days", float(n)), ("round_share", share), ("whole_unit_share", whole / n))
    detail = (f"{round_} of {n} days' takings ({pct(round_, n)}) are whole multiples of "
              f"{ROUND_UNIT_MINOR // 100} currency units ({whole} are whole units).")
    return CheckResult(code, share >= ROUND_SHARE, True, detail, measures)


_STEPS = tuple(int(m * 10**e) for e in range(9) for m in (1, 2, 2.5, 5) if float(m * 10**e).is_integer())


def _granularity(values: np.ndarray) -> int:
    """The coarsest step (minor units, 1-2-2.5-5 series) that at least GRID_SHARE of the values sit on."""
    step = 1
    for candidate in _STEPS:
        if (values % candidate == 0).mean() >= GRID_SHARE:
            step = candidate
    return step


def check_repeated(t: Takings) -> CheckResult:
    code = "DC_REPEATED_AMOUNTS"
    if not t.applicable:
        return CheckResult(code, False, False, t.reason, (("days", float(t.totals.size)),))
    totals = np.sort(t.totals)
    n = totals.size
    values, counts = np.unique(totals, return_counts=True)
    repeated_days = int(counts[counts >= 2].sum())
    exact_pairs = int((counts * (counts - 1) // 2).sum())
    step = _granularity(totals)
    # Pairs 1..REPEAT_NEAR_STEPS steps apart: every pair within that width, minus the exact ones.
    reach = np.searchsorted(totals, totals + REPEAT_NEAR_STEPS * step, side="right")
    near_pairs = int((reach - np.arange(n) - 1).sum()) - exact_pairs
    spike = exact_pairs / max(near_pairs / (2 * REPEAT_NEAR_STEPS), 1.0)
    share = repeated_days / n
    measures = (("days", float(n)), ("repeated_share", share), ("spike", spike), ("distinct", float(values.size)),
                ("step_minor", float(step)))
    if repeated_days == 0:
        return CheckResult(code, False, True, f"All {n} days' takings are different figures.", measures)
    top = int(np.argmax(counts))
    detail = (f"{repeated_days} of {n} days' takings ({pct(repeated_days, n)}) repeat another day's figure "
              f"exactly, {values.size} different figures in all ({units(int(values[top]))} on {int(counts[top])} "
              f"days), exact repeats being {spike:.1f} times as common as near misses.")
    return CheckResult(code, share >= REPEAT_MIN_SHARE and spike >= REPEAT_SPIKE, True, detail, measures)
