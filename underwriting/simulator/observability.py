"""A reference model that sees only what the interchange files show, to check observability.

The simulator promises that a model using only observable data (transactions, metrics, the loan
book, point in time: rows on days before the origination day) can get within ~97% of the oracle's
AUC. This module builds a deliberately plain feature set from the same arrays the CSV writers
use (never the latent state) and trains LightGBM on the earlier originations. It is a check of the
world, not the platform's feature code (which lives in underwriting/features and reads rollups).
"""

import warnings
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from underwriting.simulator.evaluation import auc, latest_mask
from underwriting.simulator.ledger import IN
from underwriting.simulator.params import KIND, METRICS
from underwriting.simulator.population import CHANNELS, LENDER
from underwriting.simulator.world import World
from underwriting.simulator.writers import balances_after

WINDOWS = (30, 90, 180, 365)


@dataclass(frozen=True)
class ObservabilityReport:
    train_loans: int
    test_loans: int
    test_defaults: int
    model_auc: float
    oracle_auc: float

    @property
    def ratio(self) -> float:
        return self.model_auc / self.oracle_auc


def _prefix(values: np.ndarray, merchant: np.ndarray, day: np.ndarray, n: int, days: int) -> np.ndarray:
    """(n, days + 1) prefix sums: P[m, k] = sum of values of merchant m on days < k."""
    grid = np.zeros((n, days + 1))
    np.add.at(grid, (merchant, day + 1), values)
    return np.cumsum(grid, axis=1)


@dataclass
class _Frame:
    """The rows and the loans as the features read them: merchant and day indices, amounts in CNY."""

    n: int
    days: int
    m: np.ndarray  # row merchant
    d: np.ndarray  # row day
    k: np.ndarray  # row kind
    amt: np.ndarray
    inflow: np.ndarray
    lm: np.ndarray  # loan merchant
    ld: np.ndarray  # loan origination day
    cols: dict[str, np.ndarray] = field(default_factory=dict)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        return _prefix(values, self.m, self.d, self.n, self.days)

    def windows(self, name: str, values: np.ndarray, spans=WINDOWS) -> np.ndarray:
        """Sums over the `spans` days before each origination day (point in time)."""
        P = self.prefix(values)
        for w in spans:
            self.cols[f"{name}_{w}"] = P[self.lm, self.ld] - P[self.lm, np.maximum(self.ld - w, 0)]
        return P


def reference_features(world: World) -> tuple[np.ndarray, list[str]]:
    tx, ln = world.tx, world.loans
    f = _Frame(n=world.pop.n, days=world.days, m=tx["merchant"].astype(np.intp), d=tx["day"].astype(np.intp),
               k=tx["kind"], amt=tx["amount"] / 100.0, inflow=tx["direction"] == IN,
               lm=ln["merchant"].astype(np.intp), ld=ln["orig_day"].astype(np.intp))
    is_sale = _flow_windows(world, f)
    _lateness(world, f)
    _sales_volatility(f, is_sale)
    _balances(world, f)
    _static(world, f)
    _metric_features(world, f)
    cols = f.cols
    _ratios(cols)
    _peer_comparison(cols)
    names = sorted(cols)
    return np.column_stack([np.asarray(cols[c], dtype=float) for c in names]), names


def _flow_windows(world: World, f: _Frame) -> np.ndarray:
    """Windowed sums of sales, other inflows, refunds, chargebacks and outflows; returns is_sale."""
    tx, k, amt, inflow, windows = world.tx, f.k, f.amt, f.inflow, f.windows
    channel_ids = {i for i, c in enumerate(world.counterparties) if c in CHANNELS}
    lender_id = world.counterparties.index(LENDER)
    is_sale = (k == KIND["sale"]) & inflow
    windows("sales", np.where(is_sale, amt, 0.0))
    windows("sale_days", is_sale.astype(float), (90,))
    odd_cp = is_sale & ~np.isin(tx["counterparty"], list(channel_ids))
    windows("sales_odd_cp", np.where(odd_cp, amt, 0.0), (35, 90))
    windows("sales35", np.where(is_sale, amt, 0.0), (35, 125))
    windows("other_in", np.where(inflow & ~is_sale & (k != KIND["loan_disbursement"]), amt, 0.0), (90,))
    windows("refund", np.where(k == KIND["refund"], amt, 0.0), (90, 180, 365))
    windows("chargeback_n", (k == KIND["chargeback"]).astype(float), (180, 365))
    windows("supplier", np.where(k == KIND["supplier_payment"], amt, 0.0), (90,))
    windows("payroll", np.where(k == KIND["payroll"], amt, 0.0), (90,))
    windows("outflow", np.where(~inflow, amt, 0.0), (90,))
    windows("transfer_out", np.where((k == KIND["transfer"]) & ~inflow, amt, 0.0), (90,))
    ext = (k == KIND["loan_repayment"]) & (tx["counterparty"] != lender_id)
    windows("ext_debt", np.where(ext, amt, 0.0), (90,))
    windows("disbursements", (k == KIND["loan_disbursement"]).astype(float), (f.days,))
    return is_sale


def _lateness(world: World, f: _Frame) -> None:
    """Lateness: rent is due on days 1-5, payroll on 5/10/15/25, tax on the 15th."""
    k = f.k
    dom = np.array([(world.start.toordinal() + i) for i in range(f.days)])
    dom = np.array([date.fromordinal(int(o)).day for o in dom])[f.d]
    late = ((k == KIND["rent"]) & (dom > 5)) | ((k == KIND["payroll"]) & ~np.isin(dom, (5, 10, 15, 25))) | \
        ((k == KIND["tax"]) & (dom != 15))
    oblig = np.isin(k, (KIND["rent"], KIND["payroll"], KIND["tax"]))
    f.windows("late", late.astype(float), (180, 365))
    f.windows("oblig", oblig.astype(float), (180, 365))


def _sales_volatility(f: _Frame, is_sale: np.ndarray) -> None:
    """Daily sales volatility (log scale) over 90 and 180 days."""
    lm, ld = f.lm, f.ld
    logs = np.where(is_sale, np.log(np.maximum(f.amt, 1.0)), 0.0)
    s1 = f.prefix(logs)
    s2 = f.prefix(logs**2)
    cnt = f.prefix(is_sale.astype(float))
    for span in (90, 180):
        lo = np.maximum(ld - span, 0)
        c = cnt[lm, ld] - cnt[lm, lo]
        mean = (s1[lm, ld] - s1[lm, lo]) / np.maximum(c, 1)
        var = (s2[lm, ld] - s2[lm, lo]) / np.maximum(c, 1) - mean**2
        f.cols[f"log_sales_sd_{span}"] = np.sqrt(np.maximum(var, 0))


def _balances(world: World, f: _Frame) -> None:
    """Balance: the last balance before the origination day and the 90-day minimum / mean."""
    import pandas as pd


    n, days, m, d, lm, ld = f.n, f.days, f.m, f.d, f.lm, f.ld
    bal = balances_after(world) / 100.0
    close = np.full((n, days), np.nan)
    close[m, d] = bal  # rows are time-ordered, so the last write per day is the closing balance
    low = np.full((n, days), np.inf)
    np.minimum.at(low, (m, d), bal)
    close = pd.DataFrame(close.T).ffill().to_numpy().T
    low = np.where(np.isinf(low), close, low)
    idx90 = np.clip(ld[:, None] - np.arange(1, 91)[None, :], 0, days - 1)
    f.cols["balance_last"] = close[lm, np.maximum(ld - 1, 0)]
    f.cols["balance_min_90"] = np.nanmin(low[lm[:, None], idx90], axis=1)
    f.cols["balance_mean_90"] = np.nanmean(close[lm[:, None], idx90], axis=1)


def _static(world: World, f: _Frame) -> None:
    """History length, business age, sector, region and the loan's own amount and term."""
    pop, ln, cols, lm, ld = world.pop, world.loans, f.cols, f.lm, f.ld
    first_day = np.full(f.n, f.days)
    np.minimum.at(first_day, f.m, f.d)
    cols["history_days"] = ld - first_day[lm]
    cols["business_age_days"] = ld - pop.established_offset[lm]
    cols["sector"] = pop.sector[lm].astype(float)
    cols["region"] = pop.region[lm].astype(float)
    cols["amount"] = ln["amount"] / 100.0
    cols["term"] = ln["term"].astype(float)


def _metric_features(world: World, f: _Frame) -> None:
    """Metrics: the latest month-end before the origination day, and a six-month mean."""
    mt, lm, ld = world.metrics, f.lm, f.ld
    month_ends = np.unique(mt["day"])
    if not month_ends.size:
        return
    pos = np.searchsorted(month_ends, ld, side="left") - 1
    for mi, name in enumerate(METRICS):
        sel = mt["metric"] == mi
        grid = np.full((f.n, month_ends.size), np.nan)
        grid[mt["merchant"][sel], np.searchsorted(month_ends, mt["day"][sel])] = mt["value"][sel]
        ok = pos >= 0
        last = np.full(lm.size, np.nan)
        last[ok] = grid[lm[ok], pos[ok]]
        f.cols[f"{name}_last"] = last
        span = np.clip(pos[:, None] - np.arange(6)[None, :], 0, None)
        vals = grid[lm[:, None], span]
        vals[~ok] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no month-end yet: NaN is the answer
            f.cols[f"{name}_mean6"] = np.nanmean(np.where((pos[:, None] - np.arange(6)) >= 0, vals, np.nan), axis=1)


def _ratios(cols: dict[str, np.ndarray]) -> None:
    """Ratios a credit analyst would look at."""
    s90 = np.maximum(cols["sales_90"], 1.0)
    cols["trend_30_90"] = cols["sales_30"] * 3 / s90
    cols["trend_90_180"] = cols["sales_90"] / np.maximum(cols["sales_180"] - cols["sales_90"], 1.0)
    cols["spike_35_125"] = cols["sales35_35"] / np.maximum(cols["sales35_125"] - cols["sales35_35"], 1.0) * 90 / 35
    cols["odd_cp_share_35"] = cols["sales_odd_cp_35"] / np.maximum(cols["sales35_35"], 1.0)
    cols["refund_ratio_90"] = cols["refund_90"] / s90
    cols["refund_ratio_180"] = cols["refund_180"] / np.maximum(cols["sales_180"], 1.0)
    cols["refund_ratio_365"] = cols["refund_365"] / np.maximum(cols["sales_365"], 1.0)
    cols["cb_per_sales_365"] = cols["chargeback_n_365"] / np.maximum(cols["sales_365"], 1.0) * 1e5
    cols["late_share_180"] = cols["late_180"] / np.maximum(cols["oblig_180"], 1.0)
    cols["late_share_365"] = cols["late_365"] / np.maximum(cols["oblig_365"], 1.0)
    inflow90 = s90 + cols["other_in_90"]
    cols["amount_to_monthly_in"] = cols["amount"] / (inflow90 / 3)
    annuity = (0.21 / 12) / (1 - (1 + 0.21 / 12) ** (-cols["term"]))
    cols["burden_est"] = (cols["amount"] * annuity + cols["ext_debt_90"] / 3) / (inflow90 / 3)
    cols["net_flow_90"] = (inflow90 - cols["outflow_90"]) / inflow90
    cols["cover_est"] = cols["balance_last"] / np.maximum(cols["outflow_90"] / 3, 1.0)
    cols["min_cover_est"] = cols["balance_min_90"] / np.maximum(cols["outflow_90"] / 3, 1.0)
    cols["supplier_ratio"] = cols["supplier_90"] / inflow90
    cols["payroll_ratio"] = cols["payroll_90"] / inflow90


def _peer_comparison(cols: dict[str, np.ndarray]) -> None:
    """The same ratio relative to the sector's median (what is normal differs by trade)."""
    for name in ("refund_ratio_90", "refund_ratio_180", "refund_ratio_365", "cb_per_sales_365", "supplier_ratio",
                 "payroll_ratio", "log_sales_sd_90", "log_sales_sd_180", "return_rate_mean6", "dispute_rate_mean6"):
        if name not in cols:
            continue
        x = np.log(np.maximum(np.asarray(cols[name], dtype=float), 1e-6))
        rel = np.full(x.size, np.nan)
        for s in np.unique(cols["sector"]):
            sel = cols["sector"] == s
            rel[sel] = x[sel] - np.nanmedian(x[sel])
        cols[name + "_vs_sector"] = rel


def reference_model_auc(world: World, seed: int = 0) -> ObservabilityReport:
    """Train on loans before the latest window (simulated outcomes), score the latest window."""
    import lightgbm as lgb

    X, names = reference_features(world)
    y = world.loans["defaulted"].astype(int)
    test = latest_mask(world.loans["orig_day"])
    train = ~test
    model = lgb.LGBMClassifier(n_estimators=400, learning_rate=0.03, num_leaves=15, min_child_samples=40,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                               random_state=seed, verbose=-1, n_jobs=2)
    model.fit(X[train], y[train], categorical_feature=[names.index("sector"), names.index("region")])
    score = model.predict_proba(X[test])[:, 1]
    return ObservabilityReport(
        train_loans=int(train.sum()), test_loans=int(test.sum()), test_defaults=int(y[test].sum()),
        model_auc=auc(y[test], score), oracle_auc=auc(y[test], world.loans["true_pd"][test]),
    )
