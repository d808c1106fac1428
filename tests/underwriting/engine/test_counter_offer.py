"""The largest acceptable amount of a request (underwriting/engine/counter_offer.py): what a counter-offer offers."""

from decimal import Decimal
from itertools import pairwise

import pytest

from underwriting.engine.counter_offer import amount_grid, largest_acceptable

STEP = Decimal("100.00")
LOW, HIGH = Decimal("1000.00"), Decimal("500000.00")


def _counting(rule):
    """A first_acceptable callback over `rule`, recording each batch it is asked (largest first)."""
    calls = []

    def first_acceptable(amounts):
        calls.append(list(amounts))
        assert list(amounts) == sorted(amounts, reverse=True)
        return next((i for i, a in enumerate(amounts) if rule(a)), None)

    return first_acceptable, calls


def test_the_grid_spans_the_range_on_the_step_grid_geometrically():
    grid = amount_grid(low=LOW, high=HIGH, step=STEP)

    assert grid[0] == LOW and grid[-1] == HIGH
    assert all(a % STEP == 0 for a in grid)
    assert grid == sorted(set(grid))
    ratios = [b / a for a, b in pairwise(grid)]
    assert max(ratios) < Decimal("1.25")


@pytest.mark.parametrize("threshold", ["1000.00", "1100.00", "2600.00", "42300.00", "499900.00"])
def test_with_one_threshold_the_search_finds_it_to_the_step(threshold):
    # given amounts acceptable up to a threshold (an affordability cap, say)
    limit = Decimal(threshold)
    acceptable, calls = _counting(lambda a: a <= limit)

    # when the largest acceptable amount below a request of 500,000 is searched
    found = largest_acceptable(low=LOW, high=HIGH, step=STEP, first_acceptable=acceptable)

    # then it is the threshold itself, found with one batch and a short bisection
    assert found == limit
    assert len(calls[0]) > 10 and len(calls) <= 12


def test_nothing_acceptable_is_none_and_the_request_itself_is_never_offered_above_itself():
    acceptable, _ = _counting(lambda a: False)
    assert largest_acceptable(low=LOW, high=HIGH, step=STEP, first_acceptable=acceptable) is None

    acceptable, _ = _counting(lambda a: True)
    assert largest_acceptable(low=LOW, high=Decimal("2600.00"), step=STEP, first_acceptable=acceptable) == Decimal("2600.00")
    assert largest_acceptable(low=LOW, high=Decimal("900.00"), step=STEP, first_acceptable=acceptable) is None


def test_an_acceptable_island_above_a_gap_is_found_when_the_grid_lands_on_it():
    # given a PD that dips again at larger amounts (the amount is itself a model input): acceptable up to
    # 5,000, not from 5,100 to 29,999, acceptable again from 30,000 to 60,000
    def rule(a):
        return a <= Decimal("5000") or Decimal("30000") <= a <= Decimal("60000")

    acceptable, _ = _counting(rule)

    # then the largest acceptable amount is the top of the upper island, never the lower one
    assert largest_acceptable(low=LOW, high=Decimal("100000.00"), step=STEP, first_acceptable=acceptable) == Decimal("60000.00")


def test_the_same_inputs_give_the_same_amount():
    acceptable, _ = _counting(lambda a: a <= Decimal("12345.67"))

    first = largest_acceptable(low=LOW, high=HIGH, step=STEP, first_acceptable=acceptable)

    assert first == Decimal("12300.00")
    assert largest_acceptable(low=LOW, high=HIGH, step=STEP, first_acceptable=acceptable) == first
