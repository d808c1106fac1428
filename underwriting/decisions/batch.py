"""Batch scoring: PD and score for many merchants at once (pre-approved offers, portfolio reviews).

The live decision's code up to the PD, vectorised: `load_histories` (each merchant read once, in
batches) -> `compute_features` with the model's sector norms -> the model's calibrated PD for the
whole matrix -> the policy's score. No SHAP (explanations are computed for decisions someone will
see), no rules, no decision records: a batch score is an estimate, never an offer by itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import numpy as np

from underwriting.engine.evaluation import model_matrix
from underwriting.engine.policy import PolicyParams
from underwriting.features import LoanRequest, compute_features, feature_names
from underwriting.history.loader import load_histories
from underwriting.modeling.registry import active_model
from underwriting.policies.services import policy_active

__all__ = ["BatchScores", "businesses_score", "scores_from_pd"]


@dataclass(frozen=True)
class BatchScores:
    business_ids: np.ndarray  # (n,) int64, in the order asked
    pd: np.ndarray  # (n,) float64, calibrated
    score: np.ndarray  # (n,) int64, the policy's points scale
    model_version: str
    seconds: dict[str, float] = field(default_factory=dict)  # load, features, pd, total


def scores_from_pd(pd: np.ndarray, params: PolicyParams) -> np.ndarray:
    """`pricing.score_for` for an array (same formula, rounding and clamping)."""
    p = np.asarray(pd, dtype=np.float64)
    if np.isnan(p).any():
        raise ValueError("pd contains NaN")
    factor = float(params.score_pdo) / math.log(2)
    offset = params.score_base - factor * math.log(float(params.score_base_odds))
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = offset + factor * np.log((1 - p) / p)
    score = np.floor(raw + 0.5 + 1e-9)
    score = np.where(p <= 0, params.score_max, np.where(p >= 1, params.score_min, score))
    return np.clip(score, params.score_min, params.score_max).astype(np.int64)


def businesses_score(*, business_ids: Sequence[int], as_of: datetime | date, amount: Decimal, term_months: int,
                     model=None, policy: PolicyParams | None = None, chunk: int = 5000,
                     progress: bool = False) -> BatchScores:
    """PD and score of each business for a request of `amount` over `term_months` as of `as_of`
    (point-in-time like a decision), with the active model and policy unless given."""

    model = model if model is not None else active_model()
    if model is None:
        raise LookupError("No model is active; train one with `manage.py train_model`.")
    params = policy if policy is not None else policy_active()[1]
    ids = np.asarray([int(b) for b in business_ids], dtype=np.int64)
    names = feature_names()
    request = LoanRequest(amount=float(amount), term_months=int(term_months))
    pd = np.empty(ids.size, dtype=np.float64)
    seconds = {"load": 0.0, "features": 0.0, "pd": 0.0}
    started = time.perf_counter()
    starts = range(0, ids.size, chunk)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="scoring", unit="chunk")
    for lo in starts:
        part = ids[lo:lo + chunk]
        t = time.perf_counter()
        histories = load_histories(business_ids=part.tolist(), as_of=as_of)
        seconds["load"] += time.perf_counter() - t
        t = time.perf_counter()
        X = compute_features(histories, [request] * len(histories), peers=model.peers)
        seconds["features"] += time.perf_counter() - t
        t = time.perf_counter()
        pd[lo:lo + part.size] = model.pd(model_matrix(model, names, X))
        seconds["pd"] += time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    return BatchScores(business_ids=ids, pd=pd, score=scores_from_pd(pd, params), model_version=model.version,
                       seconds=seconds)
