"""Worlds the engine was not tuned to: generators for evaluating models (bench/bench_generalization.py
and tests/bench/), never used by the platform itself.

Every world comes out as a `WorldData`: each merchant's history as known the day after the world ends
(rich: everything the world's data has) and its lender's loans with the true PD at origination and the
outcome. A loan's snapshot is the history cut at its origination day (`MerchantHistory.truncated`),
which is the point-in-time rule the platform's training-set builder follows (docs/features.md).

- `marketplace`: the platform's own simulator (underwriting/simulator), the world it was tuned on;
- `bazaar`: consumer shops, daily takings, card and cash (bench/worlds/bazaar.py);
- `harbour`: wholesalers with a few business customers, invoices paid in lumps (bench/worlds/harbour.py);
- `studio`: subscription and project services (bench/worlds/studio.py), the held-out world: no choice
  of the engine was made while looking at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from underwriting.features import LoanRequest, MerchantHistory
from underwriting.features.history import add_months, day_date, day_number

WORLDS = ("marketplace", "bazaar", "harbour", "studio")
HELD_OUT = "studio"
OUTCOME_GRACE_DAYS = 90


@dataclass(eq=False)
class WorldData:
    name: str
    histories: list[MerchantHistory]  # one per merchant, as of the day after the world's last day
    merchant: np.ndarray  # per loan: index into histories
    orig_day: np.ndarray  # day numbers (days since 1970-01-01)
    amount: np.ndarray  # currency units
    term: np.ndarray  # months
    y: np.ndarray  # 1 = defaulted within term + 90 days
    true_pd: np.ndarray
    outcome_day: np.ndarray  # day number the outcome is known: the default, or the last instalment
    hidden: np.ndarray | None = None  # the part of each loan's true logit no data shows (None: not known)

    @property
    def loans(self) -> int:
        return int(self.y.size)

    def window_end(self, j: np.ndarray) -> np.ndarray:
        """Day number on which each loan's outcome window (term + 90 days) closes."""
        return np.array([day_number(add_months(day_date(int(o)), int(t))) + OUTCOME_GRACE_DAYS
                         for o, t in zip(self.orig_day[j], self.term[j], strict=True)], dtype=np.int64)

    def snapshots(self, j: np.ndarray, view=None) -> tuple[list[MerchantHistory], list[LoanRequest]]:
        """Loans j as the lender saw them on their origination day (optionally through a view such as
        coarse.coarse applied to each merchant's history first)."""
        cache: dict[int, MerchantHistory] = {}
        hs, rq = [], []
        for k in np.asarray(j):
            m = int(self.merchant[k])
            if m not in cache:
                cache[m] = self.histories[m] if view is None else view(self.histories[m])
            hs.append(cache[m].truncated(day_date(int(self.orig_day[k]))))
            rq.append(LoanRequest(amount=float(self.amount[k]), term_months=int(self.term[k])))
        return hs, rq


def from_generated(world) -> WorldData:
    from bench.worlds.toolkit import DAY0, histories

    ln = world.loans
    hs = histories(world, world.days)
    orig = DAY0 + ln["orig_day"]
    known = np.where(ln["y"] == 1, DAY0 + ln["default_day"], orig + 30 * ln["term"])
    return WorldData(world.name, hs, ln["merchant"], orig, ln["amount"], ln["term"], ln["y"].astype(np.int8),
                     ln["true_pd"], known, hidden=ln["part_hidden"])


def _marketplace(merchants: int, days: int, seed: int) -> WorldData:
    import sys
    from pathlib import Path

    from underwriting.simulator.params import DEFAULT_PARAMS
    from underwriting.simulator.world import simulate

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench_features import world_histories

    months = max(6, round(days / 30.4))
    world = simulate(merchants=merchants, months=months, seed=seed, end=date(2025, 12, 31), params=DEFAULT_PARAMS)
    ln = world.loans
    start = day_number(world.start)
    orig = start + ln["orig_day"]
    known = np.where(ln["defaulted"], start + ln["default_day"], start + ln["closed_day"])
    return WorldData("marketplace", world_histories(world), ln["merchant"], orig, ln["amount"] / 100.0, ln["term"],
                     ln["defaulted"].astype(np.int8), ln["true_pd"], known)


def generate(name: str, *, merchants: int, days: int = 720, seed: int = 0) -> WorldData:
    """The world `name` with `merchants` merchants over `days` days."""
    if name == "marketplace":
        return _marketplace(merchants, days, seed)
    return from_generated(generator(name).generate(merchants=merchants, days=days, seed=seed))


def generator(name: str):
    """The module of a written world (bazaar, harbour, studio): its `generate` keeps each loan's parts of
    the true logit (`part_...`), which WorldData leaves out."""
    if name == "bazaar":
        from bench.worlds import bazaar as module
    elif name == "harbour":
        from bench.worlds import harbour as module
    elif name == "studio":
        from bench.worlds import studio as module
    else:
        raise ValueError(f"unknown world {name!r} (one of {', '.join(WORLDS)})")
    return module
