"""Histograms and PSI: the fixed bins of scores and latencies, and the population stability index
against the training reference (docs/adr/0006-audit-and-monitoring.md)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable

# Fixed histogram edges. Score: 20-point bins over the policy's range. Latency: geometric bins 25%
# apart from 0.5 ms to ~1 min, so a percentile read from the histogram is within ~12% of the truth.
SCORE_EDGES: list[int] = list(range(320, 900, 20))
LATENCY_EDGES_MS: list[float] = [round(0.5 * 1.25**k, 4) for k in range(53)]

PSI_FLOOR = 1e-4  # an empty bin's share, so ln(a / e) stays finite (BRIEF.md: "empty bins floored")
PSI_WATCH, PSI_SHIFT = 0.10, 0.25


# ---- PSI ----------------------------------------------------------------------------------------------


def psi(expected: Iterable[float], actual: Iterable[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index: sum over bins of (a - e) ln(a / e), with a and e the actual and
    expected shares; a share under `floor` (an empty bin) counts as `floor`. `actual` may be counts."""
    e = [float(x) for x in expected]
    a = [float(x) for x in actual]
    if len(a) != len(e):
        raise ValueError(f"PSI needs the same bins on both sides ({len(e)} expected, {len(a)} actual)")
    total_a, total_e = sum(a), sum(e)
    if total_a <= 0 or total_e <= 0:
        raise ValueError("PSI needs at least one observation on each side")
    value = 0.0
    for ei, ai in zip(e, a, strict=True):
        ei, ai = max(ei / total_e, floor), max(ai / total_a, floor)
        value += (ai - ei) * math.log(ai / ei)
    return value


def psi_flag(value: float | None) -> str:
    if value is None:
        return ""
    if value > PSI_SHIFT:
        return "shifted"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


# ---- histograms ---------------------------------------------------------------------------------------


def score_bin(score: int) -> int:
    return bisect_right(SCORE_EDGES, score)


def latency_bin(ms: float) -> int:
    return bisect_right(LATENCY_EDGES_MS, ms)


def histogram_percentile(counts: list[int], edges: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram over `edges` (len(counts) == len(edges) + 1), by linear
    interpolation inside the bin; the open top bin answers its lower edge."""
    total = sum(counts)
    if total == 0:
        return None
    target = q * total
    running = 0
    for i, c in enumerate(counts):
        if c and running + c >= target:
            lo = edges[i - 1] if i > 0 else 0.0
            if i >= len(edges):
                return float(lo)
            hi = edges[i]
            return float(lo + (hi - lo) * (target - running) / c)
        running += c
    return float(edges[-1])


def counts_add(into: list[int], other: list[int]) -> list[int]:
    """Two histograms of the same bins added (an empty one is no bins yet)."""
    if not into:
        return list(other)
    if not other:
        return into
    return [a + b for a, b in zip(into, other, strict=True)]
