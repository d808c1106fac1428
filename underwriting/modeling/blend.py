"""The trees and the scorecard challenger, judged and blended out of fold (ADR 0014).

Both are fitted on the same time-ordered folds (selection.py): each fold's scorecard learns from the
blocks before the one it scores, as each fold's booster does. On those out-of-fold margins three
candidates are compared by log loss after calibration: the trees alone, the scorecard alone, and their
blend in equal parts of each margin's spread (`choose_blend` says why not fitted weights). The blend
stands unless it is clearly worse than the better single model; the model's raw margin is then `trees x booster margin + scorecard x scorecard margin`, its
SHAP values the same weighted sum of both models' exact contributions, and the Platt calibration is
fitted on that margin out of fold as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from underwriting.modeling.scorecard import Scorecard, fit_scorecard

# The blend is kept unless its out-of-fold log loss is worse than the better single model's by more
# than this (relative).
MIN_GAIN = 0.002


@dataclass(frozen=True)
class Blend:
    trees: float  # weight of the booster's raw margin
    scorecard: float  # weight of the scorecard's margin (0: not used)
    chosen: str  # "trees", "scorecard" or "blend"
    logloss: dict = field(default_factory=dict)  # out-of-fold log loss of each candidate, calibrated

    def to_dict(self) -> dict:
        return {"trees": self.trees, "scorecard": self.scorecard, "chosen": self.chosen, "logloss": self.logloss}

    @classmethod
    def from_dict(cls, data: dict | None) -> Blend:
        if not data:
            return TREES_ONLY
        return cls(float(data["trees"]), float(data["scorecard"]), str(data["chosen"]), dict(data.get("logloss", {})))


TREES_ONLY = Blend(1.0, 0.0, "trees")


def blended_margin(booster, card: Scorecard | None, blend: Blend, X: np.ndarray) -> np.ndarray:
    """The model's raw margin (what its SHAP values add up to)."""
    X = np.asarray(X, dtype=np.float64)
    margin = np.zeros(X.shape[0]) if blend.trees == 0 else blend.trees * booster.predict(X, raw_score=True)
    if card is not None and blend.scorecard != 0:
        margin = margin + blend.scorecard * card.margin(X)
    return margin


def blended_contributions(booster, card: Scorecard | None, blend: Blend, X: np.ndarray) -> np.ndarray:
    """(n, F + 1) SHAP values of the raw margin, the base value last: TreeSHAP of the booster and the
    scorecard's exact values, each times its weight."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros((X.shape[0], X.shape[1] + 1)) if blend.trees == 0 else (
        blend.trees * booster.predict(X, pred_contrib=True))
    if card is not None and blend.scorecard != 0:
        out = out + blend.scorecard * card.contributions(X)
    return out


def oof_scorecard_margins(X_by_fold: list[np.ndarray], y: np.ndarray, blocks: tuple, signs: list[int], *,
                          seed: int) -> np.ndarray:
    """Each out-of-fold row's scorecard margin, from a card fitted on the blocks before its own (NaN
    elsewhere), exactly the rows and matrices the boosters' folds use."""
    out = np.full(y.size, np.nan)
    for k in range(1, len(blocks)):
        fit, val = np.concatenate(blocks[:k]), blocks[k]
        X = X_by_fold[k - 1]
        out[val] = fit_scorecard(X[fit], y[fit], signs, seed=seed).margin(X[val])
    return out


def _calibrated_logloss(margin: np.ndarray, y: np.ndarray) -> float:
    """Log loss after Platt scaling (a logistic regression on the margin alone)."""
    from sklearn.linear_model import LogisticRegression

    column = np.asarray(margin, dtype=np.float64).reshape(-1, 1)
    p = np.clip(LogisticRegression(C=1e6, max_iter=1000).fit(column, y).predict_proba(column)[:, 1], 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def choose_blend(tree_oof: np.ndarray, card_oof: np.ndarray, y: np.ndarray) -> Blend:
    """Trees and scorecard in equal parts of their spread out of fold, unless that blend's calibrated
    log loss is worse than the better single model's by more than MIN_GAIN: then that model alone.

    Equal parts, not weights fitted on the out-of-fold margins: those margins come mostly from the
    early folds' models, fitted on a fraction of the book, where the trees and the card compare
    differently than at full size (a card fitted on 600 loans is not the card fitted on 3,000), so fitted
    weights chase that noise. Averaging two differently wrong models is the robust choice; the log loss
    test keeps a model that clearly hurts out."""
    y = np.asarray(y, dtype=np.float64)
    losses = {"trees": _calibrated_logloss(tree_oof, y), "scorecard": _calibrated_logloss(card_oof, y)}
    spread_t, spread_c = float(np.std(tree_oof)), float(np.std(card_oof))
    best_single = min(losses, key=losses.get)
    if spread_t > 0 and spread_c > 0:
        a, b = 0.5 / spread_t, 0.5 / spread_c
        losses["blend"] = _calibrated_logloss(a * tree_oof + b * card_oof, y)
        if losses["blend"] <= losses[best_single] * (1 + MIN_GAIN):
            return Blend(a, b, "blend", losses)
    if best_single == "scorecard":
        return Blend(0.0, 1.0, "scorecard", losses)
    return Blend(1.0, 0.0, "trees", losses)
