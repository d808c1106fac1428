"""The scorecard challenger: monotone binning, weights of evidence and a logistic regression.

A small book has a few hundred defaults; gradient-boosted trees on a hundred features learn part of
that noise, while a scorecard (each feature cut into a few bins, each bin scored by its weight of
evidence, the bins' scores added up) cannot. Training fits both on the same time-ordered folds and
blends them out of fold (train.py, ADR 0014); the blend's weights can give the scorecard nothing.

Binning: cut points at the training rows' quantiles (at most BINS bins of at least MIN_BIN_SHARE of
the rows each), then adjacent bins merged until the weight of evidence is monotone in the direction the
feature's spec states (or, for a feature with no stated direction, the direction its bins lean), so
the card never says that more of a good thing is worse. A missing value is a bin of its own. Features
whose information value is below MIN_INFORMATION_VALUE are left out. Everything is stored as plain
numbers (the artifact's manifest) and scored with numpy: no pickled objects, and a few microseconds
per feature on the decision path.

The scorecard's margin is additive by feature, so its exact SHAP values are each feature's points
minus that feature's mean points on the training rows; added to the trees' TreeSHAP values (each
scaled by its blend weight) they still sum to the blended margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 6
MIN_BIN_SHARE = 0.05
SMOOTHING = 0.5  # added to each bin's bad and good counts
MIN_INFORMATION_VALUE = 0.02  # below this a feature separates too little to earn a place on the card
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
# Above this many rows the regularisation hardly matters and its cross-validation costs more than the
# rest of the card: one fit at C = 1.
LARGE_BOOK = 20_000


@dataclass(frozen=True)
class Scorecard:
    """Per feature of the model (in feature order): its inner cut points and the weight of evidence of
    each bin (the last entry: missing); the logistic regression's weight per feature (0 = not on the
    card) and intercept; each feature's mean points on the training rows (the SHAP base)."""

    edges: list[list[float]]
    woe: list[list[float]]
    coef: list[float]
    intercept: float
    mean_points: list[float]

    def woe_matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        out = np.zeros(X.shape)
        for j, (edges, woe) in enumerate(zip(self.edges, self.woe, strict=True)):
            if self.coef[j] == 0.0:
                continue
            col = X[:, j]
            idx = np.searchsorted(np.asarray(edges), col, side="right")
            idx = np.where(np.isnan(col), len(woe) - 1, idx)
            out[:, j] = np.asarray(woe)[idx]
        return out

    def points(self, X: np.ndarray) -> np.ndarray:
        """(n, F): each feature's part of the margin."""
        return self.woe_matrix(X) * np.asarray(self.coef)

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.points(X).sum(axis=1) + self.intercept

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, F + 1): exact SHAP values of the margin, the base value last."""
        pts = self.points(X) - np.asarray(self.mean_points)
        base = self.intercept + float(np.sum(self.mean_points))
        return np.column_stack([pts, np.full(pts.shape[0], base)])

    @property
    def used(self) -> int:
        return int(np.count_nonzero(self.coef))

    def to_dict(self) -> dict:
        return {"edges": self.edges, "woe": self.woe, "coef": self.coef, "intercept": self.intercept,
                "mean_points": self.mean_points}

    @classmethod
    def from_dict(cls, data: dict) -> Scorecard:
        return cls([list(map(float, e)) for e in data["edges"]], [list(map(float, w)) for w in data["woe"]],
                   list(map(float, data["coef"])), float(data["intercept"]), list(map(float, data["mean_points"])))


def _pool_adjacent(bad: np.ndarray, good: np.ndarray, edges: list[float], direction: int, totals: tuple[float, float]):
    """Merge adjacent bins until their weights of evidence rise (direction +1) or fall (-1) with the value."""
    bad, good, edges = list(bad), list(good), list(edges)
    while True:
        woe = [_woe(b, g, *totals) for b, g in zip(bad, good, strict=True)]
        broken = [i for i in range(len(woe) - 1) if direction * (woe[i + 1] - woe[i]) < 0]
        if not broken:
            return np.array(bad), np.array(good), edges
        i = broken[0]
        bad[i:i + 2], good[i:i + 2] = [bad[i] + bad[i + 1]], [good[i] + good[i + 1]]
        del edges[i]


def _woe(bad: float, good: float, total_bad: float, total_good: float) -> float:
    """Log odds of default in the bin against the book's: positive is riskier."""
    return float(np.log((bad + SMOOTHING) / (total_bad + SMOOTHING)) - np.log((good + SMOOTHING) / (total_good + SMOOTHING)))


def _bin_feature(col: np.ndarray, y: np.ndarray, sign: int) -> tuple[list[float], list[float], float]:
    """(inner cut points, WoE per bin with missing last, information value) of one feature."""
    totals = (float(y.sum()), float(y.size - y.sum()))
    known = ~np.isnan(col)
    values, labels = col[known], y[known]
    edges: list[float] = []
    if values.size >= 2 * MIN_BIN_SHARE * y.size:
        qs = np.quantile(values, np.arange(1, BINS) / BINS)
        edges = sorted({float(q) for q in qs if values.min() < q < values.max()})
    idx = np.searchsorted(np.asarray(edges), values, side="right")
    bad = np.bincount(idx, weights=labels, minlength=len(edges) + 1)
    count = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    good = count - bad
    direction = sign
    if direction == 0:
        varied = values.size > 1 and np.ptp(idx) > 0 and np.ptp(labels) > 0
        lean = np.corrcoef(idx, labels)[0, 1] if varied else 0.0
        direction = 1 if lean >= 0 else -1
    bad, good, edges = _pool_adjacent(bad, good, edges, direction, totals)
    miss_bad, miss_good = float(y[~known].sum()), float((~known).sum() - y[~known].sum())
    woe = [_woe(b, g, *totals) for b, g in zip(bad, good, strict=True)]
    woe.append(_woe(miss_bad, miss_good, *totals) if (~known).sum() >= MIN_BIN_SHARE * y.size else 0.0)
    shares_bad = np.append(bad, miss_bad) / max(totals[0], 1.0)
    shares_good = np.append(good, miss_good) / max(totals[1], 1.0)
    iv = float(np.sum((shares_bad - shares_good) * np.asarray(woe)))
    return edges, woe, iv


def _regression(W: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    if y.size > LARGE_BOOK:
        return LogisticRegression(C=1.0, max_iter=1000).fit(W, y)
    return LogisticRegressionCV(Cs=list(C_GRID), cv=3, scoring="neg_log_loss", max_iter=1000, random_state=seed,
                                l1_ratios=(0.0,), use_legacy_attributes=False).fit(W, y)


def fit_scorecard(X: np.ndarray, y: np.ndarray, signs: list[int], *, seed: int) -> Scorecard:
    """Bin every feature on these rows, keep those that separate, and fit the logistic regression (its
    regularisation chosen by 3-fold cross-validation on the same rows, below LARGE_BOOK rows)."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n_features = X.shape[1]
    binned = [_bin_feature(X[:, j], y, int(signs[j])) for j in range(n_features)]
    keep = [j for j, (_e, _w, iv) in enumerate(binned) if iv >= MIN_INFORMATION_VALUE]
    edges, woe = [b[0] for b in binned], [b[1] for b in binned]
    coef = np.zeros(n_features)
    intercept = float(np.log((y.sum() + SMOOTHING) / (y.size - y.sum() + SMOOTHING)))  # the book's own odds
    unit = Scorecard(edges, woe, [1.0] * n_features, 0.0, [0.0] * n_features).points(X)
    # A negative weight (a feature standing in for a correlated one) would turn its monotone bins
    # upside down, so more of a good thing would cost points: such features leave the card and the
    # regression is fitted again, until every weight is positive.
    while keep:
        model = _regression(unit[:, keep], y, seed)
        weights = model.coef_[0]
        if np.all(weights > 0):
            coef[keep] = weights
            intercept = float(model.intercept_[0])
            break
        keep = [j for j, w in zip(keep, weights, strict=True) if w > 0]
    fitted = Scorecard(edges, woe, coef.tolist(), intercept, [0.0] * n_features)
    return Scorecard(edges, woe, coef.tolist(), intercept, fitted.points(X).mean(axis=0).tolist())
