"""Out-of-time split, LightGBM with monotone constraints, calibration: a TrainingSet in, a TrainedModel out.

Plain numpy and LightGBM, no Django: `train_model` is deterministic for (data, seed, params), which
the tests check on the model string and every metric.

Split (by origination day; `split_by_date`):

1. The evaluation pool is the matured rows (outcome window closed by the end of the data; see
   dataset.py). If it is too small to hold both classes in each slice, the pool is every row and the
   split records rule "finished".
2. Sort the pool by origination day. `cal_start` is the day of the pool row at position
   floor(0.70 n), `val_start` the day at floor(0.85 n). Cutting on days, not row positions, keeps
   every loan of one day in one slice.
3. train = every row (matured or not) originated before `cal_start`; calibration = pool rows with
   cal_start <= day < val_start; validation = pool rows originated on or after `val_start`. Finished
   but unmatured rows originated on or after `cal_start` are not used: they are the censored tail.
4. Early stopping watches the latest ~15% of the train rows (same day rule): train-fit is the rest.
   After the best round count is found, the model is refit on all train rows with that many rounds,
   so the most recent training loans still shape the trees. Neither calibration nor validation loans
   are ever seen by the booster.

Calibration: Platt scaling on the raw margin (PD = sigmoid(a x margin + b)) fitted on the calibration
slice by Newton's method. It is strictly increasing (ranking, hence AUC, untouched), smooth (no
steps that tie different applicants at one PD) and two plain numbers in JSON. Isotonic is available
(`calibration="isotonic"`) for comparison.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from underwriting.features import PeerBenchmarks
from underwriting.modeling.dataset import TrainingSet, day_to_date
from underwriting.modeling.metrics import evaluate
from underwriting.modeling.reference import reference_distributions, typical_values

TRAIN_SHARE = 0.70
CALIBRATION_SHARE = 0.15
EARLY_STOP_SHARE = 0.15
MIN_POOL_ROWS = 200

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
MAX_ROUNDS = 400
EARLY_STOPPING_ROUNDS = 50
UNCONSTRAINED_FAMILIES = frozenset({"anomaly"})  # their sign depends on context (fraud vs. growth)
SHAP_SAMPLE = 2000


class TrainingError(ValueError):
    pass


# ---- split --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    rule: str  # "matured" or "finished": which rows the calibration and validation slices come from
    cal_start: int  # day number
    val_start: int
    train: np.ndarray  # row indices
    fit: np.ndarray  # train rows the booster fits while the round count is searched
    early_stop: np.ndarray  # train rows early stopping watches
    calibration: np.ndarray
    validation: np.ndarray
    unused: np.ndarray  # finished, unmatured rows after the training window

    def window(self, originated_on: np.ndarray) -> dict:
        """Per slice: rows and first/last origination date (ISO), for the manifest."""
        out = {"rule": self.rule, "calibration_start": day_to_date(self.cal_start).isoformat(),
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
        parts = [f"{name} {w[name]['rows']:,} ({w[name]['first']} .. {w[name]['last']})"
                 for name in ("train", "calibration", "validation") if w[name]["rows"]]
        return f"split ({self.rule}): " + "; ".join(parts) + f"; unused {w['unused']['rows']:,}"


def _cut_day(sorted_days: np.ndarray, share: float) -> int:
    return int(sorted_days[min(math.floor(share * sorted_days.size), sorted_days.size - 1)])


def _both_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < int(y.sum()) < y.size


def split_by_date(originated_on: np.ndarray, y: np.ndarray, matured: np.ndarray | None = None, *,
                  train_share: float = TRAIN_SHARE, calibration_share: float = CALIBRATION_SHARE,
                  early_stop_share: float = EARLY_STOP_SHARE) -> Split:
    """The out-of-time split described in the module docstring."""
    days = np.asarray(originated_on, dtype=np.int64)
    y = np.asarray(y)
    n = days.size
    matured = np.ones(n, dtype=bool) if matured is None else np.asarray(matured, dtype=bool)
    for rule, pool in (("matured", matured), ("finished", np.ones(n, dtype=bool))):
        pool_days = np.sort(days[pool], kind="stable")
        if pool_days.size < 3:
            continue
        cal_start = _cut_day(pool_days, train_share)
        val_start = _cut_day(pool_days, train_share + calibration_share)
        train = np.flatnonzero(days < cal_start)
        calibration = np.flatnonzero(pool & (days >= cal_start) & (days < val_start))
        validation = np.flatnonzero(pool & (days >= val_start))
        if rule == "matured" and (pool_days.size < MIN_POOL_ROWS or not (
                _both_classes(y[calibration]) and _both_classes(y[validation]))):
            continue
        if not (train.size and calibration.size and validation.size):
            continue
        unused = np.flatnonzero(~pool & (days >= cal_start))
        train_days = np.sort(days[train], kind="stable")
        es_start = _cut_day(train_days, 1 - early_stop_share)
        early_stop = train[days[train] >= es_start]
        fit = train[days[train] < es_start]
        if not fit.size or not _both_classes(y[early_stop]):
            fit, early_stop = train, train[:0]  # too little to watch: fixed round count
        return Split(rule, cal_start, val_start, train, fit, early_stop, calibration, validation, unused)
    raise TrainingError(f"{n} loans cannot be split by origination date into train, calibration and validation "
                        "(too few loans or too few origination days)")


# ---- calibration --------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def fit_platt(margin: np.ndarray, y: np.ndarray, *, iterations: int = 100) -> dict:
    """Logistic regression of y on (margin, 1) by Newton's method: deterministic, two numbers."""
    m = np.asarray(margin, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = _sigmoid(a * m + b)
        w = p * (1 - p)
        g = np.array([np.dot(p - t, m), np.sum(p - t)])
        h = np.array([[np.dot(w, m * m) + 1e-9, np.dot(w, m)], [np.dot(w, m), np.sum(w) + 1e-9]])
        step = np.linalg.solve(h, g)
        a, b = a - float(step[0]), b - float(step[1])
        if abs(step[0]) < 1e-12 and abs(step[1]) < 1e-12:
            break
    if not a > 0:
        raise TrainingError(f"calibration slope {a:.4g} is not positive: the model does not rank the "
                            "calibration loans at all")
    return {"method": "platt", "a": a, "b": b}


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

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def typical(self) -> np.ndarray:
        """Each feature's median on the training rows (NaN where unknown), as LoadedModel.typical."""

        return typical_values(self.reference, self.feature_names)

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.asarray(X, dtype=np.float64), raw_score=True)

    def pd(self, X: np.ndarray) -> np.ndarray:
        return apply_calibration(self.calibration, self.raw_margin(X))

    def pd_from_margin(self, margin) -> np.ndarray:
        return apply_calibration(self.calibration, margin)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(np.asarray(X, dtype=np.float64), pred_contrib=True)


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

    # Sector norms from the train slice only: calibration and validation rows are then compared
    # with norms that did not see them, as a live applicant is.
    fitted = PeerBenchmarks.fit_values(ts.sectors[split.train], ts.peer_bases[split.train])
    return fitted.apply(ts.X, ts.sectors, ts.peer_bases), fitted.to_dict()


def _fit_booster(lgb_params: dict, X: np.ndarray, y: np.ndarray, names: list[str], split: Split, *,
                 max_rounds: int, patience: int, progress: bool) -> tuple[str, int, bool]:
    """Searches the round count with early stopping on the fit/early-stop rows, then refits on every
    train row with that many rounds. Returns (model string, rounds, whether it stopped early)."""
    import lightgbm as lgb

    def dataset(idx, reference=None):
        return lgb.Dataset(X[idx], label=y[idx], feature_name=names, reference=reference, free_raw_data=True,
                           params={"max_bin": lgb_params["max_bin"], "verbose": -1})

    bar = _progress_bar(progress, max_rounds, "boosting (round search)")
    best_rounds = max_rounds
    stopped_early = False
    if split.early_stop.size:
        fit_rows = dataset(split.fit)
        watch = dataset(split.early_stop, reference=fit_rows)
        progress_callbacks = [_progress_callback(bar)] if bar is not None else []
        booster = lgb.train(lgb_params, fit_rows, num_boost_round=max_rounds, valid_sets=[watch],
                            valid_names=["early_stop"],
                            callbacks=[*progress_callbacks, lgb.early_stopping(patience, verbose=False)])
        best_rounds = max(int(booster.best_iteration or booster.current_iteration()), 1)
        stopped_early = best_rounds < max_rounds
    if bar is not None:
        bar.close()
    bar = _progress_bar(progress, best_rounds, "boosting (final fit)")
    booster = lgb.train(lgb_params, dataset(split.train), num_boost_round=best_rounds,
                        callbacks=[_progress_callback(bar)] if bar is not None else [])
    if bar is not None:
        bar.close()
    return booster.model_to_string(), best_rounds, stopped_early


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


def _shap_sample(booster, X: np.ndarray, validation_margin: np.ndarray, split: Split, specs: list,
                 seed: int) -> _ShapSample:
    rng = np.random.default_rng(seed)
    val = split.validation
    sample = np.sort(rng.choice(val, size=min(SHAP_SAMPLE, val.size), replace=False))
    contrib = booster.predict(X[sample], pred_contrib=True)
    additivity = float(np.max(np.abs(contrib.sum(axis=1) - validation_margin[np.searchsorted(val, sample)])))
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    importance = [{"feature": specs[i].name, "family": specs[i].family,
                   "description": getattr(specs[i], "description", ""), "mean_abs_shap": float(mean_abs[i])}
                  for i in order]
    return _ShapSample(sample, contrib, importance, additivity)


def _row_counts(ts: TrainingSet, window: dict) -> dict:
    return {"rows": ts.n_rows, "defaults": int(ts.y.sum()), "matured": int(ts.matured.sum()),
            **{f"{k}_rows": window[k]["rows"] for k in ("train", "calibration", "validation", "unused")},
            "excluded": dict(ts.excluded)}


def train_model(training_set: TrainingSet, *, seed: int, params: dict | None = None, progress: bool = False,
                calibration: str = "platt") -> TrainedModel:
    """Split out of time, fit LightGBM (early stopping, monotone constraints), calibrate, evaluate.

    `params` overrides DEFAULT_PARAMS; the keys `num_boost_round` (default 400) and
    `early_stopping_rounds` (default 50) set the boosting schedule.
    """
    import lightgbm as lgb


    t0 = time.perf_counter()
    ts = training_set
    overrides = dict(params or {})
    max_rounds = int(overrides.pop("num_boost_round", MAX_ROUNDS))
    patience = int(overrides.pop("early_stopping_rounds", EARLY_STOPPING_ROUNDS))
    monotone = monotone_signs(ts.specs)
    lgb_params = {**DEFAULT_PARAMS, **overrides, "seed": int(seed), "monotone_constraints": monotone}
    names = ts.feature_names
    if len(set(names)) != len(names):
        raise TrainingError("feature names must be unique")

    split = split_by_date(ts.originated_on, ts.y, ts.matured)
    X, peers = _peer_normed(ts, split)
    model_string, best_rounds, stopped_early = _fit_booster(
        lgb_params, X, ts.y.astype(np.float64), names, split, max_rounds=max_rounds, patience=patience,
        progress=progress)
    # Serve from the string, exactly as a loaded artifact will, so training metrics and serving agree.
    booster = lgb.Booster(model_str=model_string)

    margin = {name: booster.predict(X[getattr(split, name)], raw_score=True)
              for name in ("train", "calibration", "validation")}
    calib = _calibrate(calibration, margin["calibration"], ts.y[split.calibration])
    metrics = _evaluate_slices(ts, split, margin, calib)
    sample = _shap_sample(booster, X, margin["validation"], split, ts.specs, seed)
    metrics["shap"] = {"sample": int(sample.rows.size), "additivity_max_error": sample.additivity_max_error,
                       "trees": int(booster.num_trees())}
    # Drift reference: what the booster learnt from (train slice, sector norms applied), binned once.
    reference = reference_distributions(X=X[split.train], feature_names=names,
                                        pd=apply_calibration(calib, margin["train"]), slice_name="train")
    recorded = {**lgb_params, "num_boost_round": best_rounds, "max_rounds": max_rounds,
                "early_stopping_rounds": patience, "stopped_early": stopped_early}
    window = split.window(ts.originated_on)
    return TrainedModel(
        booster=booster, model_string=model_string, specs=list(ts.specs), monotone=monotone, params=recorded,
        calibration=calib, seed=int(seed), split=split, training_window=window, metrics=metrics,
        importance=sample.importance, partner=ts.partner, data_end=ts.data_end, row_counts=_row_counts(ts, window),
        training_seconds=time.perf_counter() - t0, peers=peers, reference=reference,
        shap_values=sample.contributions, shap_data=X[sample.rows],
    )
