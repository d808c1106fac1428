"""Discrimination and calibration figures of a PD model: plain numpy in, JSON-ready dicts out.

The score scale is the decision engine's (`underwriting.engine.pricing.score_from_pd` with the policy's
scaling), so a band in the training report means what it means on a decision; the bands default to
the policy's defaults (`PolicyParams.score_bands`) and the command passes the active policy's.
"""

from __future__ import annotations

import math

import numpy as np

from underwriting.engine.policy import PolicyParams
from underwriting.engine.pricing import score_band, score_from_pd

DECILES = 10


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present (no ranking to judge)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, score))


def gini(auc_value: float) -> float:
    return 2.0 * auc_value - 1.0


def ks(y: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score CDFs of defaults and non-defaults."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y)
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def brier(y: np.ndarray, pd_: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(pd_, dtype=float) - y) ** 2)) if y.size else float("nan")


def calibration_deciles(pd_: np.ndarray, y: np.ndarray, bins: int = DECILES) -> list[dict]:
    """Loans sorted by predicted PD and cut into `bins` groups of (near) equal count.

    Equal-count groups rather than fixed PD edges: every row of the table then carries the same
    statistical weight, which is what "mean |predicted - observed| over deciles" assumes. The sort
    is stable so ties land the same way on every run.
    """
    pd_ = np.asarray(pd_, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(pd_, kind="stable")
    out = []
    for i, part in enumerate(np.array_split(order, bins)):
        if part.size == 0:
            continue
        out.append({
            "decile": i + 1,
            "n": int(part.size),
            "mean_pd": float(pd_[part].mean()),
            "observed": float(y[part].mean()),
            "min_pd": float(pd_[part].min()),
            "max_pd": float(pd_[part].max()),
        })
    return out


def calibration_error(deciles: list[dict]) -> float:
    """Mean |mean predicted PD - observed default rate| over the deciles (the issue's definition)."""
    if not deciles:
        return float("nan")
    return float(np.mean([abs(d["mean_pd"] - d["observed"]) for d in deciles]))


def default_scaling() -> dict:
    """The policy's default score scaling and bands (JSON-ready)."""

    p = PolicyParams()
    return {
        "base_score": p.score_base, "base_odds": float(p.score_base_odds), "pdo": float(p.score_pdo),
        "min_score": p.score_min, "max_score": p.score_max, "bands": [[label, cut] for label, cut in p.score_bands],
    }


def scores(pd_: np.ndarray, scaling: dict | None = None) -> np.ndarray:
    """Integer scores of PDs, by the decision engine's own formula."""

    s = scaling or default_scaling()
    kw = {k: s[k] for k in ("base_score", "base_odds", "pdo", "min_score", "max_score")}
    return np.array([score_from_pd(float(p), **kw) for p in np.asarray(pd_, dtype=float)], dtype=np.int64)


def score_bands(pd_: np.ndarray, y: np.ndarray, scaling: dict | None = None) -> list[dict]:
    """Per score band (best first): loans, defaults, observed default rate and mean predicted PD."""

    s = scaling or default_scaling()
    bands = [(str(label), int(cut)) for label, cut in s["bands"]]
    labels = np.array([score_band(int(v), bands) for v in scores(pd_, s)], dtype=object)
    pd_ = np.asarray(pd_, dtype=float)
    y = np.asarray(y, dtype=float)
    out = []
    for i, (label, lowest) in enumerate(bands):
        sel = labels == label
        n = int(sel.sum())
        out.append({
            "band": label,
            "min_score": lowest if i < len(bands) - 1 else None,
            "max_score": bands[i - 1][1] - 1 if i else None,
            "n": n,
            "defaults": int(y[sel].sum()),
            "default_rate": float(y[sel].mean()) if n else None,
            "mean_pd": float(pd_[sel].mean()) if n else None,
        })
    return out


def evaluate(y: np.ndarray, pd_: np.ndarray, *, true_pd: np.ndarray | None = None,
             scaling: dict | None = None) -> dict:
    """Every figure of the report for one slice of loans. `true_pd` (the simulator's, NaN where a loan
    has none) gives the oracle AUC on the same loans, only when every loan of the slice has one."""
    y = np.asarray(y, dtype=np.int64)
    pd_ = np.asarray(pd_, dtype=float)
    a = auc(y, pd_)
    deciles = calibration_deciles(pd_, y)
    out = {
        "n": int(y.size),
        "defaults": int(y.sum()),
        "default_rate": float(y.mean()) if y.size else float("nan"),
        "mean_pd": float(pd_.mean()) if y.size else float("nan"),
        "auc": a,
        "gini": gini(a),
        "ks": ks(y, pd_),
        "brier": brier(y, pd_),
        "calibration_error": calibration_error(deciles),
        "calibration_max_error": max((abs(d["mean_pd"] - d["observed"]) for d in deciles), default=float("nan")),
        "deciles": deciles,
        "score_bands": score_bands(pd_, y, scaling),
    }
    if true_pd is not None:
        t = np.asarray(true_pd, dtype=float)
        if t.size == y.size and y.size and not np.isnan(t).any():
            oracle = auc(y, t)
            out["oracle_auc"] = oracle
            out["auc_to_oracle"] = a / oracle if oracle and not math.isnan(oracle) else float("nan")
            out["oracle_brier"] = brier(y, t)
            out["oracle_calibration_error"] = calibration_error(calibration_deciles(t, y))
    return out
