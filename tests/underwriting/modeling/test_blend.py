"""Trees and scorecard judged and blended out of fold (underwriting/modeling/blend.py)."""

import numpy as np
import pytest

from underwriting.modeling.blend import TREES_ONLY, Blend, choose_blend


def _outcomes(signal, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(signal.size) < 1 / (1 + np.exp(-(-2.0 + signal)))).astype(float)


def test_two_margins_that_each_see_half_the_risk_are_blended():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8000), rng.normal(size=8000)
    y = _outcomes(a + b)

    blend = choose_blend(a, b, y)

    # then in equal parts of each margin's spread, since together they beat either
    assert blend.chosen == "blend"
    assert blend.trees * a.std() == pytest.approx(0.5) and blend.scorecard * b.std() == pytest.approx(0.5)
    assert blend.logloss["blend"] < min(blend.logloss["trees"], blend.logloss["scorecard"])


def test_a_challenger_that_adds_nothing_leaves_the_trees_alone():
    rng = np.random.default_rng(1)
    a, noise = rng.normal(size=8000), rng.normal(size=8000)
    y = _outcomes(1.5 * a)

    blend = choose_blend(a, noise, y)

    assert (blend.chosen, blend.trees, blend.scorecard) == ("trees", 1.0, 0.0)


def test_the_scorecard_alone_wins_when_the_trees_see_nothing():
    rng = np.random.default_rng(2)
    noise, b = rng.normal(size=8000), rng.normal(size=8000)
    y = _outcomes(1.5 * b)

    assert choose_blend(noise, b, y).chosen == "scorecard"


def test_an_artifact_without_a_blend_is_trees_alone():
    assert Blend.from_dict(None) is TREES_ONLY and Blend.from_dict({}) is TREES_ONLY
    again = Blend.from_dict(Blend(0.6, 0.4, "blend", {"trees": 0.3}).to_dict())
    assert again == Blend(0.6, 0.4, "blend", {"trees": 0.3})
