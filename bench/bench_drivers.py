"""Bench: how much of each part of a world's true default logit the engine's features can explain.

    python bench/bench_drivers.py --world bazaar [--merchants 8000] [--loans 16000] [--coarse]

Each evaluation world (bench/worlds) writes the true PD of a loan as a sum of parts (liquidity, margin,
season, concentration, ...). For every part, a LightGBM regression from the engine's features (the sector
benchmarks fitted on the first half of the loans) to that part, scored by R² on the second half, says
how well the features see it; the same regression on the whole observable logit gives the AUC a model
could reach with the truth itself as its teacher and about 8,000 loans: a ceiling for feature work that
no training choice can pass. Where a part scores low, the world's data shows too little of that driver,
or the features read it badly: look there first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import lightgbm as lgb
    from sklearn.metrics import r2_score, roc_auc_score

    from bench.worlds import HELD_OUT, WORLDS, from_generated, generator
    from bench.worlds.coarse import coarse
    from underwriting.features import FEATURES, PeerBenchmarks, compute_features_with_bases

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # the held-out world is only ever scored by bench_generalization.py, never taken apart
    parser.add_argument("--world", default="bazaar", choices=[w for w in WORLDS if w not in ("marketplace", HELD_OUT)])
    parser.add_argument("--merchants", type=int, default=8000)
    parser.add_argument("--loans", type=int, default=16_000)
    parser.add_argument("--coarse", action="store_true", help="through a bank statement's eyes")
    args = parser.parse_args()

    t0 = time.perf_counter()
    raw = generator(args.world).generate(merchants=args.merchants, days=720, seed=0)
    world = from_generated(raw)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(world.loans, min(world.loans, args.loans), replace=False))
    hs, rq = world.snapshots(idx, coarse if args.coarse else None)
    X, bases = compute_features_with_bases(hs, rq)
    sectors = np.array([h.sector for h in hs])
    half = idx.size // 2
    X = PeerBenchmarks.fit_values(sectors[:half], bases[:half]).apply(X, sectors, bases)
    names = [f.name for f in FEATURES]
    parts = {k[len("part_"):]: np.asarray(v)[idx] for k, v in raw.loans.items() if k.startswith("part_")}
    logit = np.log(world.true_pd[idx] / (1 - world.true_pd[idx]))
    parts["observable"] = logit - parts.get("hidden", 0.0)
    print(f"{args.world}{' (coarse)' if args.coarse else ''}: {idx.size:,} loans, features in "
          f"{time.perf_counter() - t0:.0f} s; R² on the second half")
    for name, target in parts.items():
        if np.std(target) < 1e-9:
            continue
        reg = lgb.LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=31, min_child_samples=40,
                                verbose=-1).fit(X[:half], target[:half])
        guess = reg.predict(X[half:])
        top = np.argsort(-reg.booster_.feature_importance("gain"))[:4]
        print(f"{name:>14}: sd {np.std(target):.3f}  R² {r2_score(target[half:], guess):6.3f}   read mostly from "
              f"{', '.join(names[i] for i in top)}")
        if name == "observable":
            y = world.y[idx][half:]
            oracle = roc_auc_score(y, logit[half:])
            print(f"AUC: oracle {oracle:.3f}, taught by the truth {roc_auc_score(y, guess):.3f} "
                  f"({roc_auc_score(y, guess) / oracle:.3f} of the oracle's)")


if __name__ == "__main__":
    main()
