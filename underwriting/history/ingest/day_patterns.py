"""DC_DUPLICATED_DAYS and DC_CALENDAR_PATTERN: whole days repeated, and a mechanical calendar (see
consistency.py for the rationale)."""

from __future__ import annotations

import numpy as np

from underwriting.history.ingest.check_result import CheckResult, day_text, pct
from underwriting.history.ingest.history_rows import IN, Prepared, day_of_month, day_segments

# DC_DUPLICATED_DAYS
DUP_MIN_ROWS_PER_DAY = 2
DUP_MIN_REPEATS = 3
DUP_SHUFFLES = 12  # per way of shuffling
DUP_SIGMAS = 4.0
DUP_MARGIN = 3
DUP_SEED = 310
# DC_CALENDAR_PATTERN
GAP_PERIODS = tuple(p for p in range(2, 32) if p % 7)
GAP_MIN_CYCLES = 10
GAP_MISSING_SHARE = 0.90
GAP_OTHER_PRESENT = 0.75
COUNT_MIN_DAYS = 60
COUNT_SAME_SHARE = 0.95


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value (arithmetic wraps modulo 2**64)."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _repeats(h1: np.ndarray, h2: np.ndarray, starts: np.ndarray, sizes: np.ndarray, eligible: np.ndarray,
             dom: np.ndarray) -> tuple[np.ndarray, int]:
    """Each eligible day's signature (order-free: sums of its rows' hashes, and its size) and the number
    of repeats: per signature, the number of distinct days of the month it falls on, minus one."""
    s1 = np.add.reduceat(h1, starts)[eligible]
    s2 = np.add.reduceat(h2, starts)[eligible]
    sig = s1 ^ _mix(s2 + sizes[eligible].astype(np.uint64))
    with_dom = sig ^ _mix(dom.astype(np.uint64) + np.uint64(0x3100))
    return sig, int(np.unique(with_dom).size - np.unique(sig).size)


def check_duplicated_days(p: Prepared) -> CheckResult:
    code = "DC_DUPLICATED_DAYS"
    starts, sizes, days = day_segments(p.day)
    if starts.size:
        has_inflow = np.add.reduceat((p.direction == IN).astype(np.int64), starts) > 0
    else:
        has_inflow = np.zeros(0, dtype=bool)
    eligible = (sizes >= DUP_MIN_ROWS_PER_DAY) & has_inflow
    n_days = int(eligible.sum())
    if n_days < 2:
        return CheckResult(code, False, False, f"{n_days} day has several transactions with money in, so no day "
                           "can repeat another.", (("days", float(n_days)),))
    dom = day_of_month(days[eligible])
    key = ((p.amount * 4 + p.direction.astype(np.int64)) * max(len(p.kind_names), 1) + p.kind).astype(np.uint64)
    h1 = _mix(key ^ np.uint64(0x5EED0310))
    h2 = _mix(key ^ np.uint64(0xC0FFEE0310))
    sig, observed = _repeats(h1, h2, starts, sizes, eligible, dom)
    # Chance, two ways, keeping the more generous: rows shuffled across all days, and across the days of
    # the same weekday; each day keeps its number of rows.
    rng = np.random.default_rng(DUP_SEED)
    limit, chance = 0.0, 0.0
    for groups in (np.zeros(p.day.size, dtype=np.uint8), ((p.day + 3) % 7).astype(np.uint8)):
        positions = np.argsort(groups, kind="stable")  # a radix sort on one byte
        null = np.empty(DUP_SHUFFLES)
        for i in range(DUP_SHUFFLES):
            perm = rng.permutation(groups.size)
            source = perm[np.argsort(groups[perm], kind="stable")]  # a random order within each group
            s1 = np.empty_like(h1)
            s2 = np.empty_like(h2)
            s1[positions] = h1[source]
            s2[positions] = h2[source]
            null[i] = _repeats(s1, s2, starts, sizes, eligible, dom)[1]
        bound = float(null.mean() + DUP_SIGMAS * null.std())
        if bound >= limit:
            limit, chance = bound, float(null.mean())
    limit += DUP_MARGIN
    tripped = observed >= DUP_MIN_REPEATS and observed > limit
    measures = (("days", float(n_days)), ("repeats", float(observed)), ("chance", chance), ("limit", limit))
    if observed == 0:
        return CheckResult(code, False, True, f"None of the {n_days} days with several transactions repeats "
                           "another day's transactions.", measures)
    # An example for the officer: the earliest day repeating an earlier day on another day of the month.
    eligible_days = days[eligible]
    order = np.lexsort((eligible_days, sig))
    hits = np.flatnonzero((sig[order][1:] == sig[order][:-1]) & (dom[order][1:] != dom[order][:-1]))
    example = ""
    if hits.size:
        later, earlier = min((int(eligible_days[order][k + 1]), int(eligible_days[order][k])) for k in hits)
        example = f", e.g. {day_text(later)} repeats {day_text(earlier)} row for row"
    verb = "repeats" if observed == 1 else "repeat"
    detail = (f"{observed} of {n_days} days with several transactions {verb} another day's transactions "
              f"exactly (chance would give about {chance:.1f}){example}.")
    return CheckResult(code, tripped, True, detail, measures)


def check_calendar(p: Prepared) -> CheckResult:
    code = "DC_CALENDAR_PATTERN"
    findings: list[str] = []
    applicable = False
    gap_share, count_share = 0.0, 0.0
    gap_checked = False  # an interval was long enough and the other days mostly had sales
    sale_days = np.unique(p.day[p.takings])
    if sale_days.size >= 2:
        first = int(sale_days[0])
        span = int(sale_days[-1]) - first + 1
        present = np.zeros(span, dtype=bool)
        present[sale_days - first] = True
        index = np.arange(span)
        best = None
        for period in GAP_PERIODS:
            if span < GAP_MIN_CYCLES * period:
                break
            applicable = True
            phase = index % period
            n_phase = np.bincount(phase, minlength=period)
            missing = np.bincount(phase, weights=~present, minlength=period)
            r = int(np.argmax(missing / n_phase))
            other_present = float(present[phase != r].mean())
            if other_present < GAP_OTHER_PRESENT:
                continue
            gap_checked = True
            share = float(missing[r] / n_phase[r])
            gap_share = max(gap_share, share)
            if share >= GAP_MISSING_SHARE and (best is None or share > best[1]):
                best = (period, share, int(missing[r]), int(n_phase[r]), other_present)
        if best is not None:
            period, _, miss, n_ph, other_present = best
            findings.append(f"one day in every {period} has no sales ({miss} of {n_ph} such days, while "
                            f"{other_present:.0%} of the other days have sales)")
    _, sizes, _ = day_segments(p.day)
    count_checked = sizes.size >= COUNT_MIN_DAYS
    if count_checked:
        applicable = True
        counts = np.bincount(sizes, minlength=3)
        mode = 2 + int(np.argmax(counts[2:]))  # one row a day (a daily settlement) never counts
        count_share = float(counts[mode] / sizes.size)
        if count_share >= COUNT_SAME_SHARE:
            findings.append(f"{counts[mode]} of {sizes.size} days with transactions ({pct(counts[mode], sizes.size)}) "
                            f"have exactly {mode}")
    measures = (("gap_share", gap_share), ("same_count_share", count_share))
    if not applicable:
        return CheckResult(code, False, False, "The history is too short to show a calendar pattern (sales over "
                           f"fewer than {GAP_MIN_CYCLES * GAP_PERIODS[0]} days and transactions on fewer than "
                           f"{COUNT_MIN_DAYS} days).", measures)
    if findings:
        return CheckResult(code, True, True, f"Days follow a mechanical pattern: {'; '.join(findings)}.",
                           measures)
    parts = []
    if gap_checked:
        parts.append(f"no interval other than the week leaves sales out of one of its days more than "
                     f"{gap_share:.0%} of the time")
    if count_checked:
        parts.append(f"no number of two or more transactions recurs on more than {count_share:.0%} of the days")
    return CheckResult(code, False, True, f"Days follow no mechanical pattern: {' and '.join(parts)}.", measures)
