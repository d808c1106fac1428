"""Calibration figures of a world: default rate, oracle AUC on the latest originations, PD calibration."""

from dataclasses import dataclass

import numpy as np

LATEST_SHARE = 0.25


@dataclass(frozen=True)
class Calibration:
    loans: int
    defaults: int
    default_rate: float  # simulated outcome over term + 90 days, all loans
    mean_true_pd: float
    latest_loans: int
    latest_defaults: int
    oracle_auc_latest: float  # true PD vs simulated outcome, loans in the last 25% of the origination window
    oracle_auc_latest_final: float | None  # the same restricted to loans whose outcome is final by the end
    oracle_auc_all: float
    calibration_max_error: float  # max over PD deciles of |observed default rate - mean true PD|
    deciles: list[tuple[float, float, int]]  # (mean true PD, observed rate, loans)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y.size == 0 or y.min() == y.max():
        return float("nan")  # a tiny world may have no default (or only defaults) in a window
    return float(roc_auc_score(y, score))


def latest_mask(orig_day: np.ndarray, share: float = LATEST_SHARE) -> np.ndarray:
    """Loans originated in the last `share` of the origination window (by time, not by count)."""
    lo, hi = orig_day.min(), orig_day.max()
    return orig_day >= lo + (1 - share) * (hi - lo)


def calibration_table(pd_: np.ndarray, y: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    order = np.argsort(pd_, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        out.append((float(pd_[part].mean()), float(y[part].mean()), int(part.size)))
    return out


def evaluate(loans: dict[str, np.ndarray]) -> Calibration:
    pd_ = loans["true_pd"]
    y = loans["defaulted"].astype(int)
    late = latest_mask(loans["orig_day"])
    final = late & loans["outcome_final"]
    table = calibration_table(pd_, y)
    final_auc = None
    if final.sum() > 20 and 0 < y[final].sum() < final.sum():
        final_auc = auc(y[final], pd_[final])
    return Calibration(
        loans=int(y.size), defaults=int(y.sum()), default_rate=float(y.mean()), mean_true_pd=float(pd_.mean()),
        latest_loans=int(late.sum()), latest_defaults=int(y[late].sum()),
        oracle_auc_latest=auc(y[late], pd_[late]), oracle_auc_latest_final=final_auc, oracle_auc_all=auc(y, pd_),
        calibration_max_error=max(abs(p - o) for p, o, _ in table), deciles=table,
    )
