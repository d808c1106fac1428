"""The evaluation worlds (bench/worlds/): each is a world worth testing on (its default rate and oracle
AUC in the issue's ranges), its snapshots are point in time, and its bank-statement view has only what a
bank statement has."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.worlds import generate
from bench.worlds.baseline import NAMES, baseline_features
from bench.worlds.coarse import coarse
from underwriting.features import FEATURES, compute_features
from underwriting.kinds import TransactionKind

GENERATED = ("bazaar", "harbour", "studio")


@pytest.fixture(scope="module", params=GENERATED)
def world(request):
    return generate(request.param, merchants=3000, days=540, seed=7)


def test_default_rate_and_oracle_auc_are_in_the_ranges_a_fair_test_needs(world):
    # given a world of 3,000 merchants over 18 months
    # then its loans default at 5-15% and the true PD ranks them with an AUC of 0.75-0.90
    assert world.loans > 3000
    assert 0.05 <= world.y.mean() <= 0.15, world.y.mean()
    assert 0.75 <= roc_auc_score(world.y, world.true_pd) <= 0.90
    # and the true PD is the probability of the outcome: calibrated within 1.5 points on average
    assert abs(world.true_pd.mean() - world.y.mean()) < 0.015


def test_snapshots_hold_only_what_was_known_on_the_origination_day(world):
    # given the latest 200 loans of the world
    j = np.argsort(world.orig_day)[-200:]
    histories, requests = world.snapshots(j)
    for k, h in zip(j, histories, strict=True):
        # then no row of the loan's own day or later is in its snapshot
        h.check()
        assert h.as_of_day == world.orig_day[k]
        # and a loan already booked is never its own prior loan
        assert (h.loans.originated_on < world.orig_day[k]).all()
    # and every feature the engine has can be computed on them
    X = compute_features(histories, requests)
    assert X.shape == (200, len(FEATURES))
    assert np.isfinite(X).mean() > 0.5


def test_the_bank_statement_view_has_three_kinds_and_no_names_balances_or_metrics(world):
    # given a rich history and its bank-statement view
    h = world.histories[int(np.argmax([x.daily.day.size for x in world.histories]))]
    c = coarse(h)
    # then only card_payment, transfer and other lines remain, without counterparties or balances
    kinds = {TransactionKind(k).label for k in np.unique(c.daily.kind)}
    assert kinds <= {"card_payment", "transfer", "other"}
    assert c.counterparties.day.size == 0 and c.balances.day.size == 0 and c.metrics.day.size == 0
    # and no money appears or vanishes except refunds netted off card settlements
    refunds = h.daily.total[np.isin(h.daily.kind, [TransactionKind.REFUND, TransactionKind.CHARGEBACK])].sum()
    rich_net = h.daily.total[h.daily.direction == 1].sum() - h.daily.total[h.daily.direction == 2].sum()
    coarse_net = c.daily.total[c.daily.direction == 1].sum() - c.daily.total[c.daily.direction == 2].sum()
    assert coarse_net == pytest.approx(rich_net, abs=0.01 * len(c.daily.day) + 1e-6)
    assert refunds >= 0


def test_baseline_features_are_twenty_and_computable_on_both_views(world):
    j = np.argsort(world.orig_day)[-50:]
    for view in (None, coarse):
        histories, requests = world.snapshots(j, view)
        B = baseline_features(histories, requests)
        assert B.shape == (50, len(NAMES)) and len(NAMES) == 20
        assert np.isfinite(B[:, NAMES.index("sales_90d")]).all()


def test_a_world_is_the_same_for_the_same_seed():
    a = generate("bazaar", merchants=300, days=200, seed=3)
    b = generate("bazaar", merchants=300, days=200, seed=3)
    assert np.array_equal(a.true_pd, b.true_pd) and np.array_equal(a.y, b.y)
    assert np.array_equal(a.histories[5].daily.total, b.histories[5].daily.total)
