"""The scorecard challenger (underwriting/modeling/scorecard.py): monotone bins, weights of evidence,
exact additive explanations, and a plain-JSON round trip."""

import itertools
import json

import numpy as np

from underwriting.modeling.scorecard import MIN_INFORMATION_VALUE, Scorecard, _bin_feature, fit_scorecard


def _book(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)  # higher is riskier
    noise = rng.normal(size=n)  # unrelated
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * risk)))).astype(float)
    risk_with_gaps = risk.copy()
    risk_with_gaps[rng.random(n) < 0.1] = np.nan
    return np.column_stack([risk_with_gaps, noise]), y


def test_bins_are_monotone_in_the_stated_direction_and_missing_values_get_their_own():
    X, y = _book()

    edges, woe, iv = _bin_feature(X[:, 0], y, 1)

    # then the bins' weights of evidence rise with the value (more risk, more points), missing last
    assert len(edges) >= 3 and len(woe) == len(edges) + 2
    assert all(b >= a for a, b in itertools.pairwise(woe[:-1]))
    assert iv > 0.3
    # and a feature stated the other way round is merged until it falls (here: one flat bin)
    edges_down, woe_down, _ = _bin_feature(X[:, 0], y, -1)
    assert edges_down == [] and len(woe_down) == 2


def test_the_card_keeps_what_separates_and_its_explanations_add_up_exactly():
    X, y = _book()

    card = fit_scorecard(X, y, [1, 0], seed=0)

    # then the unrelated column is left off the card, and no weight is negative (a negative one would turn
    # its monotone bins upside down)
    assert card.coef[1] == 0.0 and card.coef[0] > 0 and card.used == 1
    assert min(card.coef) >= 0
    # and each row's contributions plus the base value are its margin, missing values included
    rows = np.array([[-1.0, 3.0], [2.5, -1.0], [np.nan, 0.0]])
    contrib = card.contributions(rows)
    assert np.allclose(contrib.sum(axis=1), card.margin(rows), atol=1e-12)
    assert np.all(contrib[:, 1] == 0.0)
    # and a riskier value scores a higher margin
    assert card.margin(rows)[1] > card.margin(rows)[0]


def test_a_feature_that_only_stands_in_for_a_correlated_one_leaves_the_card_rather_than_count_backwards():
    # given a risk driver and a noisy copy of it: the regression would weigh the copy negatively
    rng = np.random.default_rng(4)
    n = 6000
    risk = rng.normal(size=n)
    copy = risk + rng.normal(scale=0.3, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 1.5 * risk - 0.6 * copy)))).astype(float)

    card = fit_scorecard(np.column_stack([risk, copy]), y, [1, 1], seed=0)

    # then every weight on the card is positive: more risk never scores fewer points
    assert card.coef[0] > 0 and min(card.coef) >= 0
    low, high = card.margin(np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert high >= low


def test_the_card_round_trips_through_json_bit_for_bit():
    X, y = _book()
    card = fit_scorecard(X, y, [1, 0], seed=0)

    back = Scorecard.from_dict(json.loads(json.dumps(card.to_dict())))

    assert np.array_equal(back.margin(X), card.margin(X))
    assert np.array_equal(back.contributions(X), card.contributions(X))


def test_a_book_where_nothing_separates_gets_an_empty_card_at_the_book_rate():
    # given features that stated directions keep flat (each one's bins merge into one)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 3))
    y = (rng.random(5000) < 0.1).astype(float)

    card = fit_scorecard(X, y, [1, 1, 1], seed=0)

    # then nothing is on the card and every applicant gets the book's own odds
    assert all(_bin_feature(X[:, j], y, 1)[2] < MIN_INFORMATION_VALUE for j in range(3))
    assert card.used == 0
    expected = np.log((y.sum() + 0.5) / (y.size - y.sum() + 0.5))
    assert np.allclose(card.margin(X), expected)
