"""Time-ordered cross-validation, LightGBM with monotone constraints, out-of-fold calibration: a
TrainingSet in, a TrainedModel out (docs/adr/0011-training-that-fits-the-book.md).

Plain numpy and LightGBM, no Django: `train_model` is deterministic for (data, seed, params), which
the tests check on the model string and every metric.

1. The pool is every matured row (outcome window closed by the end of the data; see dataset.py), or
   every finished row when too few have matured (rule "finished"). Finished rows whose window is still
   open are a biased sample (early defaults and early repayments only) and are left out: the censored
   tail (docs/adr/0003).
2. `selection.time_folds` cuts the pool by origination day into up to five blocks of whole days;
   `selection.trial` trains each candidate setting (`selection.candidates`: tree sizes, leaves that
   hold more loans as the book grows) on blocks 0..k-1 and scores it on block k, with early stopping.
   The setting and round count with the lowest validation log loss over all folds win.
3. Calibration: Platt scaling fitted on the winner's out-of-fold margins (every block but the first),
   each from a fold model that had not seen that loan or anything after it.
4. The final booster is refit on every pool row with the winning setting, so the most recent loans
   shape the trees too. The report's "validation" figures are the out-of-fold PDs of the last block
   (out of time), "calibration" those of every out-of-fold row, "train" the final model in sample.

Platt scaling is PD = sigmoid(a x margin + b): strictly increasing (ranking, hence AUC, untouched),
smooth (no steps that tie different applicants at one PD) and two plain numbers in JSON. Isotonic is
available (`calibration="isotonic"`) for comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from underwriting.engine.appetite import MEASURES, appetite_record
from underwriting.features import PeerBenchmarks
from underwriting.modeling.blend import (
    TREES_ONLY,
    Blend,
    blended_contributions,
    blended_margin,
    choose_blend,
    oof_scorecard_margins,
)
from underwriting.modeling.dataset import TrainingSet, day_to_date
from underwriting.modeling.metrics import evaluate
from underwriting.modeling.reference import reference_distributions, typical_values
from underwriting.modeling.scorecard import Scorecard, fit_scorecard
from underwriting.modeling.selection import (
    MAX_ROUNDS,
    PATIENCE,
    REFIT_ROUNDS_FACTOR,
    Folds,
    SelectionError,
    Trial,
    candidates,
    oof_margins,
    time_folds,
    trial,
)

# Sized for the decision budget (TreeSHAP ~2.5 ms per row at depth 6 and 500 trees): at most 400
# trees of at most 31 leaves and depth 6.
DEFAULT_PARAMS: dict = {
    "objective": "binary",
    "learning_rate": 0.04,
    "num_leaves": 31,
    "max_depth": 6,
    "min_data_in_leaf": 80,
    "min_sum_hessian_in_leaf": 1.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 2.0,
    "max_bin": 255,
    "monotone_constraints_method": "intermediate",
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}
UNCONSTRAINED_FAMILIES = frozenset({"anomaly"})  # their sign depends on context (fraud vs. growth)
SHAP_SAMPLE = 2000


class TrainingError(ValueError):
    pass


# ---- split --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Which rows played which part, for the manifest and the report (see the module docstring)."""

    rule: str  # "matured" or "finished": which rows the model learns from
    cal_start: int  # day number: the first out-of-fold row (the second block)
    val_start: int  # the last block's first day
    train: np.ndarray  # row indices the final model learns from (the pool)
    fit: np.ndarray  # the same rows: kept for the manifest's layout
    early_stop: np.ndarray  # empty: rounds come from the folds
    calibration: np.ndarray  # out-of-fold rows (every block but the first): Platt is fitted on them
    validation: np.ndarray  # the last block: its out-of-fold PDs are the out-of-time figures
    unused: np.ndarray  # finished rows with the outcome window still open (the censored tail)
    folds: int = 0

    @classmethod
    def of(cls, folds: Folds) -> Split:
        return cls(folds.rule, folds.starts[1], folds.starts[-1], folds.pool, folds.pool, folds.pool[:0],
                   np.sort(folds.oof), folds.last, folds.unused, len(folds.blocks))

    def window(self, originated_on: np.ndarray) -> dict:
        """Per slice: rows and first/last origination date (ISO), for the manifest."""
        out = {"rule": self.rule, "folds": self.folds, "calibration_start": day_to_date(self.cal_start).isoformat(),
               "validation_start": day_to_date(self.val_start).isoformat()}
        for name in ("train", "fit", "early_stop", "calibration", "validation", "unused"):
            idx = getattr(self, name)
            days = originated_on[idx]
            out[name] = {
                "rows": int(idx.size),
                "first": day_to_date(days.min()).isoformat() if idx.size else None,
                "last": day_to_date(days.max()).isoformat() if idx.size else None,
            }
        return out

    def describe(self, originated_on: np.ndarray) -> str:
        w = self.window(originated_on)
        parts = [f"{label} {w[name]['rows']:,} ({w[name]['first']} .. {w[name]['last']})"
                 for name, label in (("train", "trained on"), ("calibration", "out of fold"),
                                     ("validation", "last fold")) if w[name]["rows"]]
        return (f"time-ordered cross-validation, {self.folds} blocks ({self.rule} rows): " + "; ".join(parts)
                + f"; censored tail left out {w['unused']['rows']:,}")


# ---- calibration --------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def fit_platt(margin: np.ndarray, y: np.ndarray, *, iterations: int = 100) -> dict:
    """Logistic regression of y on (margin, 1) by Newton's method: deterministic, two numbers.

    Solved on the standardised margin, starting from the book's own odds, where Newton's steps are
    well scaled whatever the margin's level and spread (a blended margin far from 0 with a small
    spread made the plain iteration diverge), then mapped back to the raw margin."""
    m = np.asarray(margin, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    centre, spread = float(m.mean()), float(m.std()) or 1.0
    z = (m - centre) / spread
    rate = min(max(float(t.mean()), 1e-6), 1 - 1e-6)
    a, b = 1.0, float(np.log(rate / (1 - rate)))
    for _ in range(iterations):
        p = _sigmoid(a * z + b)
        w = p * (1 - p)
        g = np.array([np.dot(p - t, z), np.sum(p - t)])
        h = np.array([[np.dot(w, z * z) + 1e-9, np.dot(w, z)], [np.dot(w, z), np.sum(w) + 1e-9]])
        step = np.linalg.solve(h, g)
        a, b = a - float(step[0]), b - float(step[1])
        if abs(step[0]) < 1e-12 and abs(step[1]) < 1e-12:
            break
    if not (a > 0 and np.isfinite(a) and np.isfinite(b)):
        raise TrainingError(f"calibration slope {a:.4g} is not positive: the model does not rank the "
                            "calibration loans at all")
    return {"method": "platt", "a": a / spread, "b": b - a * centre / spread}


def fit_isotonic(margin: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    iso.fit(np.asarray(margin, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return {"method": "isotonic", "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_]}


def apply_calibration(calibration: dict, margin: np.ndarray) -> np.ndarray:
    """PD from the raw margin. The single implementation both training and serving use, so a
    replayed decision computes its PD from the same numbers by the same arithmetic."""
    m = np.asarray(margin, dtype=np.float64)
    method = calibration["method"]
    if method == "platt":
        return _sigmoid(calibration["a"] * m + calibration["b"])
    if method == "isotonic":
        return np.interp(m, np.asarray(calibration["x"]), np.asarray(calibration["y"]))
    raise ValueError(f"unknown calibration method {method!r}")


# ---- the model ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class TrainedModel:
    booster: object  # lightgbm.Booster
    model_string: str
    specs: list
    monotone: list[int]
    params: dict  # LightGBM parameters, plus num_boost_round and the early-stopping outcome
    calibration: dict
    seed: int
    split: Split
    training_window: dict
    metrics: dict  # per slice ("train", "calibration", "validation"): metrics.evaluate output
    importance: list[dict]  # global mean |SHAP| on a validation sample, largest first
    partner: str | None = None
    data_end: date | None = None
    row_counts: dict = field(default_factory=dict)
    training_seconds: float = 0.0
    peers: dict | None = None  # PeerBenchmarks.to_dict() fitted on the train slice; None = no peer columns
    reference: dict | None = None  # training distributions of PD and features (modeling/reference.py)
    # The validation sample behind `importance`, kept for the report's SHAP plots (never written to the
    # artifact): its TreeSHAP values on the raw margin, (n, F + 1) with the base value last, and its
    # feature values as the booster saw them (sector norms applied), (n, F).
    shap_values: np.ndarray | None = field(default=None, repr=False)
    shap_data: np.ndarray | None = field(default=None, repr=False)
    # The scorecard challenger and the blend that won out of fold (blend.py; trees alone: no card).
    scorecard: Scorecard | None = None
    blend: Blend = TREES_ONLY

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def typical(self) -> np.ndarray:
        """Each feature's median on the training rows (NaN where unknown), as LoadedModel.typical."""

        return typical_values(self.reference, self.feature_names)

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        return blended_margin(self.booster, self.scorecard, self.blend, X)

    def pd(self, X: np.ndarray) -> np.ndarray:
        return apply_calibration(self.calibration, self.raw_margin(X))

    def pd_from_margin(self, margin) -> np.ndarray:
        return apply_calibration(self.calibration, margin)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return blended_contributions(self.booster, self.scorecard, self.blend, X)


def monotone_signs(specs: list) -> list[int]:
    signs = []
    for s in specs:
        sign = 0 if s.family in UNCONSTRAINED_FAMILIES else int(s.monotone)
        if sign not in (-1, 0, 1):
            raise TrainingError(f"feature {s.name}: monotone must be -1, 0 or +1, got {s.monotone!r}")
        signs.append(sign)
    return signs


def _progress_callback(bar):
    def callback(env):
        bar.update(1)

    callback.order = 100
    return callback


def _progress_bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="tree")


def _peer_normed(ts: TrainingSet, split: Split) -> tuple[np.ndarray, dict | None]:
    """X with the peer columns filled from sector norms fitted on the train slice, and those norms
    (X as it is and None without sector inputs)."""
    if ts.peer_bases is None or ts.sectors is None:
        return ts.X, None

    # The final model's sector norms, from every row it learns from (each fold had its own, fitted on
    # its training blocks only, so out-of-fold rows were compared with norms that had not seen them).
    fitted = PeerBenchmarks.fit_values(ts.sectors[split.train], ts.peer_bases[split.train])
    return fitted.apply(ts.X, ts.sectors, ts.peer_bases), fitted.to_dict()


def _peer_matrices(ts: TrainingSet, folds: Folds) -> list[np.ndarray]:
    """Per fold, X with the peer columns from sector norms fitted on that fold's training blocks only."""
    if ts.peer_bases is None or ts.sectors is None:
        return [ts.X] * (len(folds.blocks) - 1)
    out = []
    for k in range(1, len(folds.blocks)):
        fit = np.concatenate(folds.blocks[:k])
        norms = PeerBenchmarks.fit_values(ts.sectors[fit], ts.peer_bases[fit])
        out.append(norms.apply(ts.X, ts.sectors, ts.peer_bases))
    return out


def _select(lgb_params: dict, ts: TrainingSet, folds: Folds, *, max_rounds: int, patience: int,
            progress: bool) -> tuple[Trial, list[Trial], list[np.ndarray]]:
    """Every candidate setting on every fold: (the winner, lowest out-of-fold log loss; every trial; the
    folds' matrices)."""
    X_by_fold = _peer_matrices(ts, folds)
    y = ts.y.astype(np.float64)
    tried = []
    settings = candidates(folds.pool.size, lgb_params)
    bar = _progress_bar(progress, len(settings), "choosing settings (time-ordered folds)")
    for params in settings:
        tried.append(trial(params, X_by_fold, y, folds, ts.feature_names, max_rounds=max_rounds, patience=patience))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    best = min(tried, key=lambda t: t.logloss)
    return best, tried, X_by_fold


def _refit(chosen: Trial, X: np.ndarray, y: np.ndarray, names: list[str], rows: np.ndarray, max_rounds: int,
           progress: bool) -> str:
    import lightgbm as lgb

    # A few more trees than the folds chose (more rows support them), never more than the decision
    # budget allows.
    rounds = max(1, min(max_rounds, round(chosen.rounds * REFIT_ROUNDS_FACTOR)))
    bar = _progress_bar(progress, rounds, "boosting (final fit on every row)")
    data = lgb.Dataset(X[rows], label=y[rows], feature_name=names, free_raw_data=True,
                       params={"max_bin": chosen.params["max_bin"], "verbose": -1})
    booster = lgb.train(chosen.params, data, num_boost_round=rounds,
                        callbacks=[_progress_callback(bar)] if bar is not None else [])
    if bar is not None:
        bar.close()
    return booster.model_to_string()


def _calibrate(method: str, margin: np.ndarray, y: np.ndarray) -> dict:
    if method == "platt":
        return fit_platt(margin, y)
    if method == "isotonic":
        return fit_isotonic(margin, y)
    raise TrainingError(f"unknown calibration {method!r} (platt or isotonic)")


def _evaluate_slices(ts: TrainingSet, split: Split, margin: dict[str, np.ndarray], calibration: dict) -> dict:
    """metrics.evaluate of each slice whose raw margin is given, on calibrated PDs."""
    metrics = {}
    for name, slice_margin in margin.items():
        idx = getattr(split, name)
        truth = ts.true_pd[idx] if ts.true_pd is not None else None
        metrics[name] = evaluate(ts.y[idx], apply_calibration(calibration, slice_margin), true_pd=truth)
    return metrics


@dataclass(frozen=True)
class _ShapSample:
    """TreeSHAP on a fixed sample of validation rows: global importance and an additivity check."""

    rows: np.ndarray  # row indices, sorted
    contributions: np.ndarray  # (n, F + 1), base value last
    importance: list[dict]  # mean |SHAP| per feature, largest first
    additivity_max_error: float


def _shap_sample(contributions, X: np.ndarray, validation_margin: np.ndarray, split: Split, specs: list,
                 seed: int) -> _ShapSample:
    rng = np.random.default_rng(seed)
    val = split.validation
    sample = np.sort(rng.choice(val, size=min(SHAP_SAMPLE, val.size), replace=False))
    contrib = contributions(X[sample])
    additivity = float(np.max(np.abs(contrib.sum(axis=1) - validation_margin[np.searchsorted(val, sample)])))
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    importance = [{"feature": specs[i].name, "family": specs[i].family,
                   "description": getattr(specs[i], "description", ""), "mean_abs_shap": float(mean_abs[i])}
                  for i in order]
    return _ShapSample(sample, contrib, importance, additivity)


def _challenge(tree_oof: np.ndarray, X_by_fold: list[np.ndarray], ts: TrainingSet, folds: Folds,
               monotone: list[int], seed: int) -> tuple[Blend, np.ndarray]:
    """The scorecard challenger on the same folds, and the blend that wins out of fold (blend.py); the
    winner's out-of-fold margins. Trees alone keep their margins as they are."""
    card_oof = oof_scorecard_margins(X_by_fold, ts.y.astype(np.float64), folds.blocks, monotone, seed=seed)
    rows = folds.oof
    blend = choose_blend(tree_oof[rows], card_oof[rows], ts.y[rows])
    if blend.chosen == "trees":
        return blend, tree_oof
    return blend, blend.trees * tree_oof + blend.scorecard * card_oof


def _appetite(ts: TrainingSet, rows: np.ndarray, pd: np.ndarray) -> dict:
    """The trade-off curve of the rows scored out of fold (engine/appetite.py)."""
    names = ts.feature_names
    columns = {m[1]: ts.X[rows, names.index(m[1])] for m in MEASURES if m[1] in names}
    return appetite_record(pd, ts.y[rows], columns)


def _row_counts(ts: TrainingSet, window: dict) -> dict:
    return {"rows": ts.n_rows, "defaults": int(ts.y.sum()), "matured": int(ts.matured.sum()),
            **{f"{k}_rows": window[k]["rows"] for k in ("train", "calibration", "validation", "unused")},
            "excluded": dict(ts.excluded)}


def _cv_record(chosen: Trial, tried: list[Trial], folds: Folds) -> dict:
    keys = ("num_leaves", "max_depth", "min_data_in_leaf", "lambda_l2")
    return {"folds": len(folds.blocks), "chosen": tried.index(chosen),
            "candidates": [{**{k: t.params[k] for k in keys}, "rounds": t.rounds, "logloss": t.logloss} for t in tried]}


def train_model(training_set: TrainingSet, *, seed: int, params: dict | None = None, progress: bool = False,
                calibration: str = "platt") -> TrainedModel:
    """Choose settings by time-ordered cross-validation, calibrate out of fold, refit on every row.

    `params` overrides DEFAULT_PARAMS in every candidate setting; the keys `num_boost_round` (the most
    rounds a fold may grow, default 400) and `early_stopping_rounds` (default 60) set the schedule.
    """
    import lightgbm as lgb

    t0 = time.perf_counter()
    ts = training_set
    overrides = dict(params or {})
    max_rounds = int(overrides.pop("num_boost_round", MAX_ROUNDS))
    patience = int(overrides.pop("early_stopping_rounds", PATIENCE))
    monotone = monotone_signs(ts.specs)
    lgb_params = {**DEFAULT_PARAMS, **overrides, "seed": int(seed), "monotone_constraints": monotone}
    names = ts.feature_names
    if len(set(names)) != len(names):
        raise TrainingError("feature names must be unique")
    try:
        folds = time_folds(ts.originated_on, ts.y, ts.matured)
    except SelectionError as exc:
        raise TrainingError(str(exc)) from None
    split = Split.of(folds)
    chosen, tried, X_by_fold = _select(lgb_params, ts, folds, max_rounds=max_rounds, patience=patience,
                                       progress=progress)
    blend, oof = _challenge(oof_margins(chosen, X_by_fold, folds, ts.n_rows), X_by_fold, ts, folds, monotone, seed)
    calib = _calibrate(calibration, oof[split.calibration], ts.y[split.calibration])
    X, peers = _peer_normed(ts, split)
    y = ts.y.astype(np.float64)
    model_string = _refit(chosen, X, y, names, split.train, max_rounds, progress)
    # Serve from the string, exactly as a loaded artifact will, so training metrics and serving agree.
    booster = lgb.Booster(model_str=model_string)
    card = fit_scorecard(X[split.train], y[split.train], monotone, seed=seed) if blend.scorecard else None
    margin = {"train": blended_margin(booster, card, blend, X[split.train]), "calibration": oof[split.calibration],
              "validation": oof[split.validation]}
    metrics = _evaluate_slices(ts, split, margin, calib)
    metrics["appetite"] = _appetite(ts, split.calibration, apply_calibration(calib, oof[split.calibration]))
    # The final model's margins on the last block, for the SHAP additivity check: the pool and each block
    # keep row order, so they are a slice of the train margins already computed.
    final_val_margin = margin["train"][np.searchsorted(split.train, split.validation)]
    sample = _shap_sample(lambda rows: blended_contributions(booster, card, blend, rows), X, final_val_margin, split,
                          ts.specs, seed)
    metrics["shap"] = {"sample": int(sample.rows.size), "additivity_max_error": sample.additivity_max_error,
                       "trees": int(booster.num_trees())}
    # Drift reference: what the booster learnt from (every pool row, sector norms applied), binned once.
    reference = reference_distributions(X=X[split.train], feature_names=names,
                                        pd=apply_calibration(calib, margin["train"]), slice_name="train")
    recorded = {**chosen.params, "num_boost_round": int(booster.num_trees()), "max_rounds": max_rounds,
                "early_stopping_rounds": patience, "cv": _cv_record(chosen, tried, folds), "blend": blend.to_dict(),
                "scorecard_features": card.used if card is not None else 0}
    window = split.window(ts.originated_on)
    return TrainedModel(
        booster=booster, model_string=model_string, specs=list(ts.specs), monotone=monotone, params=recorded,
        calibration=calib, seed=int(seed), split=split, training_window=window, metrics=metrics,
        importance=sample.importance, partner=ts.partner, data_end=ts.data_end, row_counts=_row_counts(ts, window),
        training_seconds=time.perf_counter() - t0, peers=peers, reference=reference,
        shap_values=sample.contributions, shap_data=X[sample.rows], scorecard=card, blend=blend,
    )
