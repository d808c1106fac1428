"""CSV writers for the interchange files and the truth file.

Formatting is done with precomputed lookup tables (days, seconds of day, names) and integer cents,
so no float is ever rounded on the way out and the bytes depend only on the world. Rows are written
in chunks; nothing else in the simulator is as slow as turning ~7M rows into text.
"""

from datetime import timedelta
from pathlib import Path

import numpy as np

from underwriting.kinds import CREDIT_STATUSES
from underwriting.money import cents_text
from underwriting.simulator.ledger import IN
from underwriting.simulator.params import METRICS, TRANSACTION_KINDS
from underwriting.simulator.world import World

CHUNK = 400_000
TRUTH_LATENT = (
    "fraud", "shock_in_term", "shock_probability", "health_known", "health_future", "mu", "u",
    "shock_component", "nu", "burden", "cash_cover", "volatility", "lateness_trait", "business_age_years",
    "logit_known", "logit_realised", "renewal",
)
STATUS = CREDIT_STATUSES
INTERCHANGE_FILES = {
    "merchants": "merchants.csv",
    "transactions": "transactions.csv",
    "metrics": "merchant_metrics.csv",
    "loans": "loans.csv",
}
TRUTH_FILE = "truth.csv"
MERCHANT_COLUMNS = ("merchant_id", "name", "category", "region", "onboarded_on", "established_on",
                    "registration_number")
TRANSACTION_COLUMNS = ("merchant_id", "transaction_id", "occurred_at", "amount", "currency", "direction", "kind",
                       "counterparty", "balance_after")
METRIC_COLUMNS = ("merchant_id", "observed_on", "metric", "value")
LOAN_COLUMNS = ("loan_id", "merchant_id", "originated_on", "amount", "term_months", "status", "defaulted_on")
TRUTH_COLUMNS = ("loan_id", "merchant_id", "true_pd", "outcome_final", "defaulted", "window_complete",
                 "window_end", "status", *TRUTH_LATENT)


def merchant_ids(n: int) -> list[str]:
    return [f"M{i + 1:06d}" for i in range(n)]


def loan_ids(n: int) -> list[str]:
    return [f"L{i + 1:07d}" for i in range(n)]


def money(cents) -> list[str]:
    """Integer cents to decimal strings with exactly 2 decimals (negative allowed)."""
    return [cents_text(c) for c in cents]


def _day_strings(world: World, extra: int = 0) -> list[str]:
    return [(world.start + timedelta(days=i)).isoformat() for i in range(world.days + extra)]


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", unit_scale=True)


def write_merchants(world: World, path: Path) -> int:
    pop = world.pop
    ids = merchant_ids(pop.n)
    sectors = [s.name for s in world.params.sectors]
    regions = [r.name for r in world.params.regions]
    lines = [",".join(MERCHANT_COLUMNS)]
    for i in range(pop.n):
        onboarded = world.start + timedelta(days=int(pop.onboarded_on_offset[i]))
        established = world.start + timedelta(days=int(pop.established_offset[i]))
        lines.append(",".join((ids[i], pop.name[i], sectors[pop.sector[i]], regions[pop.region[i]],
                               onboarded.isoformat(), established.isoformat(), pop.registration_number[i])))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pop.n


def balances_after(world: World) -> np.ndarray:
    """Running balance after each row: the merchant's opening balance plus its signed flows."""
    tx = world.tx
    run = np.cumsum(tx["signed"])
    m = tx["merchant"]
    first = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
    seg_start = np.repeat(first, np.diff(np.r_[first, m.size]))
    before = run[seg_start] - tx["signed"][seg_start]
    return run - before + world.opening_balance[m]


def write_transactions(world: World, path: Path, currency: str, progress: bool = False) -> int:
    tx = world.tx
    n = tx["merchant"].size
    mids = merchant_ids(world.pop.n)
    days = [d + "T" for d in _day_strings(world)]
    secs = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400)]
    kinds = list(TRANSACTION_KINDS)
    dirs = {IN: "in", 1: "out"}
    dir_names = [dirs[0], dirs[1]]
    cps = ["", *world.counterparties]
    balance = balances_after(world)
    bar = _progress(n, "writing transactions", progress)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(TRANSACTION_COLUMNS) + "\n")
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            m = tx["merchant"][lo:hi].tolist()
            when = [days[d] + secs[s] for d, s in zip(tx["day"][lo:hi].tolist(), tx["sec"][lo:hi].tolist(),
                                                      strict=True)]
            amount = money(tx["amount"][lo:hi].tolist())
            bal = money(balance[lo:hi].tolist())
            direction = tx["direction"][lo:hi].tolist()
            kind = tx["kind"][lo:hi].tolist()
            cp = (tx["counterparty"][lo:hi] + 1).tolist()
            out = [f"{mids[a]},T{i},{b},{c},{currency},{dir_names[dd]},{kinds[k]},{cps[p]},{bb}\n"
                   for i, a, b, c, dd, k, p, bb in zip(range(lo + 1, hi + 1), m, when, amount, direction, kind, cp,
                                                       bal, strict=True)]
            fh.write("".join(out))
            if bar is not None:
                bar.update(hi - lo)
    if bar is not None:
        bar.close()
    return n


def write_metrics(world: World, path: Path, progress: bool = False) -> int:
    mt = world.metrics
    n = mt["merchant"].size
    mids = merchant_ids(world.pop.n)
    days = _day_strings(world)
    fmt = ("%.2f", "%d", "%.4f", "%.4f", "%.4f", "%d")
    bar = _progress(n, "writing metrics", progress)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(METRIC_COLUMNS) + "\n")
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            out = [f"{mids[a]},{days[d]},{METRICS[k]},{fmt[k] % v}\n" for a, d, k, v in zip(
                mt["merchant"][lo:hi].tolist(), mt["day"][lo:hi].tolist(), mt["metric"][lo:hi].tolist(),
                mt["value"][lo:hi].tolist(), strict=True)]
            fh.write("".join(out))
            if bar is not None:
                bar.update(hi - lo)
    if bar is not None:
        bar.close()
    return n


def write_loans(world: World, path: Path) -> int:
    ln = world.loans
    n = ln["merchant"].size
    mids = merchant_ids(world.pop.n)
    lids = loan_ids(n)
    amount = money(ln["amount"].tolist())
    lines = [",".join(LOAN_COLUMNS)]
    for i in range(n):
        status = int(ln["status"][i])
        defaulted_on = (world.start + timedelta(days=int(ln["default_day"][i]))).isoformat() if status == 2 else ""
        orig = world.start + timedelta(days=int(ln["orig_day"][i]))
        lines.append(",".join((lids[i], mids[ln["merchant"][i]], orig.isoformat(), amount[i], str(int(ln["term"][i])),
                               STATUS[status], defaulted_on)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


def truth_rows(world: World) -> list[dict]:
    """One dict per loan: the hidden truth (also what SimulationTruth.details stores)."""
    ln = world.loans
    n = ln["merchant"].size
    mids = merchant_ids(world.pop.n)
    lids = loan_ids(n)
    rows = []
    for i in range(n):
        row = {
            "loan_id": lids[i],
            "merchant_id": mids[ln["merchant"][i]],
            "true_pd": float(ln["true_pd"][i]),
            "outcome_final": int(ln["outcome_final"][i]),
            "defaulted": int(ln["defaulted"][i]),
            "window_complete": int(ln["window_complete"][i]),
            "window_end": (world.start + timedelta(days=int(ln["window_end"][i]))).isoformat(),
            "status": STATUS[int(ln["status"][i])],
        }
        for key in TRUTH_LATENT:
            value = ln["latent_" + key][i]
            row[key] = int(value) if key in ("fraud", "shock_in_term", "renewal") else float(value)
        rows.append(row)
    return rows


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def write_truth(world: World, path: Path) -> int:
    rows = truth_rows(world)
    lines = [",".join(TRUTH_COLUMNS)]
    lines.extend(",".join(_fmt(r[c]) for c in TRUTH_COLUMNS) for r in rows)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def write_world(world: World, out_dir: Path, currency: str, progress: bool = False) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {key: out_dir / name for key, name in INTERCHANGE_FILES.items()}
    paths["truth"] = out_dir / TRUTH_FILE
    write_merchants(world, paths["merchants"])
    write_transactions(world, paths["transactions"], currency, progress)
    write_metrics(world, paths["metrics"], progress)
    write_loans(world, paths["loans"])
    write_truth(world, paths["truth"])
    return paths
