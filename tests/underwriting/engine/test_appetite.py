"""The risk appetite read from a model's out-of-fold validation (underwriting/engine/appetite.py)."""

import numpy as np
import pytest

from underwriting.engine.appetite import (
    APPROVAL_STEPS,
    MULTIPLE_CEILING,
    SHARE_CEILING,
    SHARE_EDGES,
    AppetiteError,
    appetite_record,
    burden_bands,
    derive_appetite,
    tradeoff_curve,
)


def _book():
    # 100 loans with PDs 0.01 .. 1.00; the riskiest fifth all defaulted, and one in ten of the rest
    pd = np.arange(1, 101) / 100.0
    y = np.zeros(100, dtype=int)
    y[80:] = 1
    y[[9, 29, 49, 69]] = 1
    return pd, y


def test_the_curve_approves_the_lowest_pds_first_and_counts_their_defaults():
    # given a book of 100 loans
    pd, y = _book()

    # when its trade-off curve is drawn
    curve = tradeoff_curve(pd, y)

    # then there is a row per 5% of approvals, each with its cut-off and observed and predicted bad rate
    assert len(curve) == APPROVAL_STEPS
    first, half, all_ = curve[0], curve[9], curve[-1]
    assert (first["approval_rate"], first["max_pd"], first["loans"], first["defaults"]) == (0.05, 0.05, 5, 0)
    assert (half["approval_rate"], half["max_pd"], half["loans"], half["defaults"]) == (0.5, 0.5, 50, 3)
    assert half["bad_rate"] == pytest.approx(0.06)
    assert half["expected_bad_rate"] == pytest.approx(np.mean(pd[:50]))
    assert (all_["loans"], all_["defaults"], all_["bad_rate"]) == (100, 24, 0.24)


def test_bands_count_loans_and_defaults_by_burden_and_leave_unknown_out():
    measure = np.array([0.05, 0.15, 0.15, 0.95, np.nan])
    y = np.array([0, 1, 0, 1, 1])

    bands = burden_bands(measure, y, SHARE_EDGES)

    assert len(bands) == len(SHARE_EDGES) + 1
    assert bands[0] == {"lower": 0.0, "upper": 0.1, "loans": 1, "defaults": 0, "bad_rate": 0.0}
    assert bands[1] == {"lower": 0.1, "upper": 0.2, "loans": 2, "defaults": 1, "bad_rate": 0.5}
    assert bands[2]["loans"] == 0 and bands[2]["bad_rate"] is None
    assert bands[-1] == {"lower": 0.8, "upper": None, "loans": 1, "defaults": 1, "bad_rate": 1.0}


def test_a_target_picks_the_most_approvals_whose_bad_rate_holds_it():
    # given the book's record
    pd, y = _book()
    record = appetite_record(pd, y, {})

    # when the risk operator asks for at most 6% bad
    appetite = derive_appetite(record, 0.06)

    # then the cut-off approves 80% (4 defaults in 80 = 5%; at 85%, 9 in 85 = 10.6%)
    assert appetite.approval_rate == 0.8 and appetite.max_pd == 0.8
    assert appetite.bad_rate == pytest.approx(4 / 80)
    # and without burden columns the book shows no sizing evidence
    assert appetite.max_instalment_share is None and appetite.revenue_multiple is None


def test_sizing_caps_are_the_heaviest_bands_whose_loans_default_no_more_than_the_cut_off():
    # given 400 safe loans (PD 2%), spread over instalment shares, heavier ones defaulting more
    rng = np.random.default_rng(1)
    n = 400
    pd = np.full(n, 0.02)
    share = np.repeat([0.05, 0.15, 0.25, 0.35], 100)
    multiple = np.repeat([0.6, 1.1], [300, 100])
    y = np.zeros(n, dtype=int)
    y[rng.choice(np.arange(300), 3, replace=False)] = 1  # 1% below 0.3
    y[300:310] = 1  # 10% at 0.3-0.4
    record = appetite_record(pd, y, {"instalment_to_net_inflow": share, "amount_to_monthly_revenue": multiple})

    # when the appetite is 5% (every loan approved: the cut-off PD is 2%)
    appetite = derive_appetite(record, 0.05)

    # then the share stops below the band whose loans defaulted at 10%, above the cut-off's 2%
    assert appetite.approval_rate == 1.0
    assert appetite.max_instalment_share == 0.3
    # and the revenue multiple stops below the same heavy loans, a month of sales and more
    assert appetite.revenue_multiple == 0.75


def test_thin_bands_are_no_evidence_and_the_open_band_reaches_the_ceiling():
    pd = np.full(200, 0.05)
    y = np.zeros(200, dtype=int)
    share = np.concatenate([np.full(5, 0.05), np.full(195, 3.0)])  # 5 light loans, 195 heavy ones, none bad
    multiple = np.full(200, 9.0)
    record = appetite_record(pd, y, {"instalment_to_net_inflow": share, "amount_to_monthly_revenue": multiple})

    appetite = derive_appetite(record, 0.02)

    assert appetite.max_instalment_share == SHARE_CEILING
    assert appetite.revenue_multiple == MULTIPLE_CEILING


def test_an_appetite_the_book_cannot_reach_is_refused_with_its_best_figure():
    pd, y = _book()
    y[:] = 1
    with pytest.raises(AppetiteError, match=r"lowest on this model.s validation is 100\.00%"):
        derive_appetite(appetite_record(pd, y, {}), 0.05)
    with pytest.raises(AppetiteError, match="between 0 and 1"):
        derive_appetite(appetite_record(pd, y, {}), 1.5)
    with pytest.raises(AppetiteError, match="retrain"):
        derive_appetite({}, 0.05)
