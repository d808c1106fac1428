"""Feature throughput, single-decision latency and a quality check against the simulator's oracle.

    # in memory (no database): a simulated world turned into MerchantHistory objects
    python bench/bench_features.py --merchants 5000 --seed 3 [--quality] [--corr]

    # from a world loaded in the database (simulate_marketplace --partner featcheck ...)
    DATABASE_URL=postgres://... python bench/bench_features.py --db --partner featcheck [--quality] [--corr]

Prints: batch features per second (>= 2,000 merchants, as of the day after the world ends), the
single-history load + features latency (p50 / p99; --db only: load_history + compute_features with
n = 1), the training-set build time (one snapshot per loan), the largest absolute pairwise feature
correlation (--corr), and (--quality) a quick LightGBM trained on the earlier loans with monotone
constraints from the catalog against the oracle AUC (true PD) on the latest loans.

The truth (true PD, simulated outcome) is read here only to evaluate; features never see it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def world_histories(world):
    """One MerchantHistory per simulated merchant as of the day after the world ends, built from the
    world's arrays the way the import builds rollups (per UTC day: by direction and kind, by
    counterparty, the day's lowest and closing balance)."""
    from underwriting.features import (
        BalanceRows,
        CounterpartyRows,
        DailyRows,
        MerchantHistory,
        MetricRows,
        PriorLoans,
    )
    from underwriting.features.history import NO_DAY, day_number
    from underwriting.simulator.params import METRICS
    from underwriting.simulator.writers import balances_after

    tx, pop = world.tx, world.pop
    n = pop.n
    day0 = day_number(world.start)
    m = tx["merchant"].astype(np.int64)
    d = tx["day"].astype(np.int64)
    direction = tx["direction"].astype(np.int64) + 1
    kind = tx["kind"].astype(np.int64) + 1
    amt = tx["amount"].astype(np.float64)
    # Daily rollups.
    key = ((m * 100_000 + d) * 4 + direction) * 32 + kind
    order = np.argsort(key, kind="stable")
    k_sorted = key[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(k_sorted)) + 1))
    total = np.add.reduceat(amt[order], starts)
    count = np.diff(np.concatenate((starts, [k_sorted.size])))
    mx = np.maximum.reduceat(amt[order], starts)
    uk = k_sorted[starts]
    r_kind = uk % 32
    r_dir = (uk // 32) % 4
    r_day = (uk // 128) % 100_000
    r_m = uk // 12_800_000
    # Counterparty rollups.
    cp = tx["counterparty"].astype(np.int64)
    has = cp >= 0
    ck = ((m[has] * 100_000 + d[has]) * 4 + direction[has]) * 1_000_000 + cp[has]
    corder = np.argsort(ck, kind="stable")
    cks = ck[corder]
    cst = np.concatenate(([0], np.flatnonzero(np.diff(cks)) + 1))
    c_total = np.add.reduceat(amt[has][corder], cst)
    c_count = np.diff(np.concatenate((cst, [cks.size])))
    cu = cks[cst]
    c_cp = cu % 1_000_000
    c_dir = (cu // 1_000_000) % 4
    c_day = (cu // 4_000_000) % 100_000
    c_m = cu // 400_000_000_000
    # Balances: rows are time-ordered per merchant, so the day's last row is its close.
    bal = balances_after(world)
    bkey = m * 100_000 + d
    bst = np.concatenate(([0], np.flatnonzero(np.diff(bkey)) + 1))
    bend = np.concatenate((bst[1:], [bkey.size])) - 1
    b_min = np.minimum.reduceat(bal, bst)
    b_close = bal[bend]
    b_day = d[bst]
    b_m = m[bst]
    mt = world.metrics
    names = np.array(METRICS)
    ln = world.loans
    as_of_day = day0 + world.days
    as_of = world.end + timedelta(days=1)

    def split(marr, size):
        cuts = np.searchsorted(marr, np.arange(size + 1))
        return cuts

    dc, cc, bc = split(r_m, n), split(c_m, n), split(b_m, n)
    mc = split(mt["merchant"].astype(np.int64), n)
    lorder = np.argsort(ln["merchant"], kind="stable")
    lm = ln["merchant"][lorder]
    lc = split(lm, n)
    histories = []
    for i in range(n):
        a, b = dc[i], dc[i + 1]
        ca, cb = cc[i], cc[i + 1]
        ba, bb = bc[i], bc[i + 1]
        ma, mb = mc[i], mc[i + 1]
        li = lorder[lc[i]:lc[i + 1]]
        status = ln["status"][li]
        defaulted_on = np.where(status == 2, day0 + ln["default_day"][li], NO_DAY)
        loans = PriorLoans.from_record(
            originated_on=day0 + ln["orig_day"][li], amount=ln["amount"][li] / 100.0, term_months=ln["term"][li],
            final_status=status, defaulted_on=defaulted_on, days_past_due=np.zeros(li.size),
            as_of_day=as_of_day, dpd_known=np.zeros(li.size, dtype=bool))
        histories.append(MerchantHistory(
            as_of=as_of,
            sector=world.params.sectors[int(pop.sector[i])].name,
            region=world.params.regions[int(pop.region[i])].name,
            established_on=world.start + timedelta(days=int(pop.established_offset[i])),
            onboarded_on=world.start + timedelta(days=int(pop.onboarded_on_offset[i])),
            daily=DailyRows.build(day0 + r_day[a:b], r_dir[a:b], r_kind[a:b], count[a:b], total[a:b] / 100.0,
                                  mx[a:b] / 100.0),
            counterparties=CounterpartyRows.build(day0 + c_day[ca:cb], c_dir[ca:cb], c_cp[ca:cb], c_count[ca:cb],
                                                  c_total[ca:cb] / 100.0),
            balances=BalanceRows.build(day0 + b_day[ba:bb], b_min[ba:bb] / 100.0, b_close[ba:bb] / 100.0),
            metrics=MetricRows.build(day0 + mt["day"][ma:mb], names[mt["metric"][ma:mb]], mt["value"][ma:mb]),
            loans=loans, business_id=i,
        ))
    return histories


def loan_snapshots(world, histories):
    """One (history, request) per simulated loan, point in time at its origination day."""
    from underwriting.features import LoanRequest

    ln = world.loans
    hs, rq = [], []
    for j in range(ln["merchant"].size):
        h = histories[int(ln["merchant"][j])]
        hs.append(h.truncated(world.start + timedelta(days=int(ln["orig_day"][j]))))
        rq.append(LoanRequest(amount=float(ln["amount"][j]) / 100.0, term_months=int(ln["term"][j])))
    return hs, rq


def max_correlation(X: np.ndarray, names: list[str]) -> tuple[float, str, str, list[tuple[float, str, str]]]:
    """Largest |Pearson correlation| over feature pairs, each pair on the rows where both are finite."""
    F = X.shape[1]
    best = (0.0, "", "")
    pairs = []
    fin = np.isfinite(X)
    for i in range(F):
        for j in range(i + 1, F):
            ok = fin[:, i] & fin[:, j]
            if ok.sum() < 50:
                continue
            a, b = X[ok, i], X[ok, j]
            if a.std() == 0 or b.std() == 0:
                continue
            r = float(abs(np.corrcoef(a, b)[0, 1]))
            pairs.append((r, names[i], names[j]))
            if r > best[0]:
                best = (r, names[i], names[j])
    pairs.sort(reverse=True)
    return best[0], best[1], best[2], pairs[:10]


def training_matrix(hs, rq, orig_day):
    """Features of the loan snapshots with peer benchmarks fitted on the training (earlier) loans only."""
    from underwriting.features import PeerBenchmarks, compute_features_with_bases
    from underwriting.simulator.evaluation import latest_mask

    train = ~latest_mask(np.asarray(orig_day))
    X, B = compute_features_with_bases(hs, rq)  # one pass: features and the peer features' bases
    sectors = [h.sector for h in hs]
    peers = PeerBenchmarks.fit_values([s for s, t in zip(sectors, train, strict=True) if t], B[train])
    return peers.apply(X, sectors, B), peers


def quality(X, y, true_pd, orig_day, seed=0):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from underwriting.features import FEATURES
    from underwriting.simulator.evaluation import latest_mask

    test = latest_mask(np.asarray(orig_day))
    train = ~test
    mono = [f.monotone for f in FEATURES]
    model = lgb.LGBMClassifier(n_estimators=600, learning_rate=0.03, num_leaves=15, min_child_samples=40,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
                               monotone_constraints=mono, monotone_constraints_method="advanced",
                               random_state=seed, verbose=-1, n_jobs=2)
    model.fit(X[train], y[train])
    score = model.predict_proba(X[test])[:, 1]
    auc = roc_auc_score(y[test], score)
    oracle = roc_auc_score(y[test], true_pd[test])
    imp = sorted(zip(model.booster_.feature_importance("gain"), [f.name for f in FEATURES], strict=True),
                 reverse=True)
    return auc, oracle, int(train.sum()), int(test.sum()), int(y[test].sum()), imp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--merchants", type=int, default=5000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--db", action="store_true", help="read a world loaded in the database (needs --partner)")
    ap.add_argument("--partner", default="featcheck")
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--corr", action="store_true")
    ap.add_argument("--single", type=int, default=300, help="single decisions timed (--db)")
    args = ap.parse_args()

    from underwriting.features import LoanRequest, compute_features, feature_names

    names = feature_names()
    print(f"{len(names)} features")
    if args.db:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        X, y, true_pd, orig_day = _db(args, names)
    else:
        from underwriting.simulator import generate_world

        t0 = time.perf_counter()
        world = generate_world(merchants=args.merchants, months=args.months, seed=args.seed)
        t1 = time.perf_counter()
        histories = world_histories(world)
        t2 = time.perf_counter()
        print(f"world {args.merchants} merchants x {args.months} months: generated {t1 - t0:.1f} s, "
              f"histories built {t2 - t1:.1f} s")
        reqs = [LoanRequest(20_000.0, 12)] * len(histories)
        compute_features(histories[:300], reqs[:300])  # warm up
        t3 = time.perf_counter()
        compute_features(histories, reqs)
        t4 = time.perf_counter()
        print(f"batch features: {len(histories)} merchants in {t4 - t3:.2f} s = "
              f"{len(histories) / (t4 - t3):,.0f} merchants/s")
        lat = []
        for h in histories[:500]:
            s = time.perf_counter()
            compute_features([h], [LoanRequest(20_000.0, 12)])
            lat.append(time.perf_counter() - s)
        lat = np.array(lat) * 1e3
        print(f"single-merchant features (n=1, in memory): p50 {np.percentile(lat, 50):.2f} ms, "
              f"p99 {np.percentile(lat, 99):.2f} ms")
        t5 = time.perf_counter()
        hs, rq = loan_snapshots(world, histories)
        X, peers = training_matrix(hs, rq, world.loans["orig_day"])
        t6 = time.perf_counter()
        print(f"training snapshots: {len(hs):,} loans, snapshots + peer benchmarks + features {t6 - t5:.2f} s "
              f"({len(hs) / (t6 - t5):,.0f} loans/s)")
        t7 = time.perf_counter()
        compute_features(histories, reqs, peers=peers)
        t8 = time.perf_counter()
        print(f"batch features with peer benchmarks: {len(histories) / (t8 - t7):,.0f} merchants/s")
        y = world.loans["defaulted"].astype(int)
        true_pd = world.loans["true_pd"]
        orig_day = world.loans["orig_day"]
    if args.corr:
        r, a, b, top = max_correlation(X, names)
        print(f"max |correlation| {r:.4f} ({a} ~ {b}); top pairs:")
        for rr, aa, bb in top:
            print(f"  {rr:.4f} {aa} ~ {bb}")
        nan_share = np.isnan(X).mean(axis=0)
        print("features always NaN:", [n for n, s in zip(names, nan_share, strict=True) if s == 1.0])
    if args.quality:
        auc, oracle, ntr, nte, nd, imp = quality(X, y, true_pd, orig_day, seed=args.seed)
        print(f"quality: train {ntr:,} loans, test (latest) {nte:,} loans / {nd} defaults: model AUC {auc:.4f}, "
              f"oracle AUC {oracle:.4f}, ratio {auc / oracle:.4f}")
        print("top features by gain:", ", ".join(f"{n}" for _, n in imp[:15]))


def _db(args, names):
    from accounts.models import Business
    from underwriting.features import LoanRequest, compute_features
    from underwriting.history.loader import load_histories, load_history
    from underwriting.history.models import LoanRecord
    from underwriting.simulator.models import SimulationTruth

    businesses = list(Business.objects.filter(partner__slug=args.partner).order_by("pk"))
    if not businesses:
        raise SystemExit(f"no merchants for partner {args.partner!r}")
    from underwriting.history.models import DailyRollup

    end = DailyRollup.objects.filter(business__partner__slug=args.partner).order_by("-day").values_list(
        "day", flat=True).first()
    as_of = end + timedelta(days=1)
    ids = [b.pk for b in businesses]
    t0 = time.perf_counter()
    hs = load_histories(business_ids=ids, as_of=as_of)
    t1 = time.perf_counter()
    reqs = [LoanRequest(20_000.0, 12)] * len(hs)
    compute_features(hs[:300], reqs[:300])
    t2 = time.perf_counter()
    compute_features(hs, reqs)
    t3 = time.perf_counter()
    print(f"batch from the database: {len(hs)} merchants, load_histories {t1 - t0:.2f} s, features "
          f"{t3 - t2:.2f} s = {len(hs) / (t3 - t2):,.0f} merchants/s (load + features "
          f"{len(hs) / (t1 - t0 + t3 - t2):,.0f} merchants/s)")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(businesses), size=min(args.single, len(businesses)), replace=False)
    from datetime import UTC, datetime

    moment = datetime(as_of.year, as_of.month, as_of.day, 10, 0, tzinfo=UTC)
    for b in pick[:20]:  # warm up
        compute_features([load_history(business=businesses[b], as_of=moment)], [LoanRequest(20_000.0, 12)])
    lat, lat_load = [], []
    for b in pick:
        s = time.perf_counter()
        h = load_history(business=businesses[b], as_of=moment)
        m = time.perf_counter()
        compute_features([h], [LoanRequest(20_000.0, 12)])
        e = time.perf_counter()
        lat.append(e - s)
        lat_load.append(m - s)
    lat, lat_load = np.array(lat) * 1e3, np.array(lat_load) * 1e3
    print(f"single decision load_history + compute_features (n=1), {len(pick)} merchants: p50 "
          f"{np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms (load alone p50 "
          f"{np.percentile(lat_load, 50):.2f} ms, p99 {np.percentile(lat_load, 99):.2f} ms)")
    # Training set: one snapshot per loan.
    loans = list(LoanRecord.objects.filter(partner__slug=args.partner).order_by("originated_on", "id")
                 .values_list("id", "business_id", "originated_on", "amount", "term_months"))
    t4 = time.perf_counter()
    hs = load_histories(business_ids=[r[1] for r in loans], as_of=[r[2] for r in loans])
    t5 = time.perf_counter()
    orig_day = np.array([r[2].toordinal() for r in loans])
    X, _ = training_matrix(hs, [LoanRequest(float(r[3]), int(r[4])) for r in loans], orig_day)
    t6 = time.perf_counter()
    print(f"training set from the database: {len(loans):,} loans, load_histories {t5 - t4:.1f} s, peer benchmarks "
          f"+ features {t6 - t5:.1f} s, total {t6 - t4:.1f} s ({len(loans) / (t6 - t4):,.0f} loans/s)")
    truth = dict(SimulationTruth.objects.filter(loan__partner__slug=args.partner).values_list("loan_id", "true_pd"))
    defaulted = dict(SimulationTruth.objects.filter(loan__partner__slug=args.partner)
                     .values_list("loan_id", "details__defaulted"))
    y = np.array([int(bool(defaulted.get(r[0]))) for r in loans])
    true_pd = np.array([truth.get(r[0], np.nan) for r in loans])
    return X, y, true_pd, orig_day


if __name__ == "__main__":
    main()
