"""Choosing the booster's settings on the book itself: time-ordered cross-validation (docs/adr/0011).

The rows the model learns from (the pool: every matured row, or every finished row when too few have
matured) are cut by origination day into K blocks. Fold k trains on blocks 0..k-1 and is scored on
block k, as a live model is always scored on loans that come after everything it learnt from. Each
candidate setting (a few tree sizes, regularised more as the book grows: `candidates`) is trained on
every fold with early stopping; the chosen one has the lowest validation log loss summed over the
folds at a common round count. Its fold models' raw margins on their own validation blocks are the
out-of-fold margins: the calibration is fitted on them, and the last block's are the out-of-time
figures of the report. The final model is then refit on every pool row with that setting.

Plain numpy and LightGBM, no Django; deterministic for (data, seed).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

FOLDS = 5
MIN_FOLDS = 3
MAX_ROUNDS = 400
PATIENCE = 60
MIN_POOL_ROWS = 200
REFIT_ROUNDS_FACTOR = 1.15  # the final model sees ~1/0.6 more rows than the average fold: a few more trees


class SelectionError(ValueError):
    pass


@dataclass(frozen=True)
class Folds:
    rule: str  # "matured" or "finished": which rows the model learns from
    pool: np.ndarray  # row indices the model learns from
    blocks: tuple  # K arrays of pool row indices, in time order, each whole days
    starts: tuple  # first origination day of each block
    unused: np.ndarray  # finished rows that are not in the pool (the censored tail)

    @property
    def oof(self) -> np.ndarray:
        """Rows that get an out-of-fold margin: every block but the first."""
        return np.concatenate(self.blocks[1:])

    @property
    def last(self) -> np.ndarray:
        return self.blocks[-1]


def _both(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < int(y.sum()) < y.size


def _blocks(days: np.ndarray, pool: np.ndarray, k: int) -> tuple[tuple, tuple] | None:
    pool_days = np.sort(days[pool], kind="stable")
    cuts = [int(pool_days[min(math.floor(i * pool_days.size / k), pool_days.size - 1)]) for i in range(1, k)]
    edges = [int(pool_days[0]), *cuts, int(pool_days[-1]) + 1]
    blocks = tuple(pool[(days[pool] >= lo) & (days[pool] < hi)] for lo, hi in itertools.pairwise(edges))
    if len(set(edges)) != len(edges) or any(b.size == 0 for b in blocks):
        return None
    return blocks, tuple(edges[:-1])


def time_folds(originated_on: np.ndarray, y: np.ndarray, matured: np.ndarray | None = None, *,
               folds: int = FOLDS) -> Folds:
    """K time-ordered blocks of the pool (fewer when a small book cannot fill them with both classes)."""
    days = np.asarray(originated_on, dtype=np.int64)
    y = np.asarray(y)
    n = days.size
    matured = np.ones(n, dtype=bool) if matured is None else np.asarray(matured, dtype=bool)
    everything = np.arange(n)
    for rule, pool in (("matured", np.flatnonzero(matured)), ("finished", everything)):
        if rule == "matured" and pool.size < MIN_POOL_ROWS:
            continue
        for k in range(folds, MIN_FOLDS - 1, -1):
            cut = _blocks(days, pool, k)
            if cut is None:
                continue
            blocks, starts = cut
            if _both(y[blocks[0]]) and _both(y[np.concatenate(blocks[1:])]) and _both(y[blocks[-1]]):
                return Folds(rule, pool, blocks, starts, np.setdiff1d(everything, pool))
    raise SelectionError(f"{n} loans cannot be cut by origination date into {MIN_FOLDS} or more blocks that "
                         "each hold repaid and defaulted loans (too few loans, defaults or origination days)")


def candidates(n: int, base: dict) -> list[dict]:
    """The settings tried, smallest trees first; leaves hold more loans as the book grows."""
    return [
        {**base, "num_leaves": 7, "max_depth": 3, "min_data_in_leaf": max(20, n // 150), "lambda_l2": 10.0},
        {**base, "num_leaves": 15, "max_depth": 4, "min_data_in_leaf": max(30, n // 120), "lambda_l2": 5.0},
        {**base, "num_leaves": 31, "max_depth": 6, "min_data_in_leaf": max(40, n // 100), "lambda_l2": 2.0},
    ]


@dataclass
class Trial:
    params: dict
    rounds: int  # the round count with the lowest summed validation log loss
    logloss: float  # mean per validation row at that round count
    boosters: list  # one per fold (blocks 1..K-1), for the out-of-fold margins


def _curve(values: list[float], length: int) -> np.ndarray:
    out = np.full(length, values[-1])
    out[:len(values)] = values
    return out


def trial(params: dict, X_by_fold: list[np.ndarray], y: np.ndarray, folds: Folds, names: list[str], *,
          max_rounds: int = MAX_ROUNDS, patience: int = PATIENCE) -> Trial:
    """One setting on every fold: early stopping per fold, the best common round count over all."""
    import lightgbm as lgb

    total = np.zeros(max_rounds)
    rows = 0
    boosters = []
    for k in range(1, len(folds.blocks)):
        fit, val = np.concatenate(folds.blocks[:k]), folds.blocks[k]
        X = X_by_fold[k - 1]
        data = lgb.Dataset(X[fit], label=y[fit], feature_name=names, free_raw_data=True,
                           params={"max_bin": params["max_bin"], "verbose": -1})
        watch = lgb.Dataset(X[val], label=y[val], reference=data)
        history: dict = {}
        booster = lgb.train({**params, "metric": "binary_logloss"}, data, num_boost_round=max_rounds,
                            valid_sets=[watch], valid_names=["val"],
                            callbacks=[lgb.record_evaluation(history), lgb.early_stopping(patience, verbose=False)])
        total += _curve(history["val"]["binary_logloss"], max_rounds) * val.size
        rows += val.size
        boosters.append(booster)
    best = int(np.argmin(total)) + 1
    return Trial(params, best, float(total[best - 1] / rows), boosters)


def oof_margins(chosen: Trial, X_by_fold: list[np.ndarray], folds: Folds, n: int) -> np.ndarray:
    """Each out-of-fold row's raw margin from the fold model that did not see it (NaN elsewhere)."""
    out = np.full(n, np.nan)
    for k, booster in enumerate(chosen.boosters, start=1):
        val = folds.blocks[k]
        out[val] = booster.predict(X_by_fold[k - 1][val], raw_score=True, num_iteration=chosen.rounds)
    return out
