"""The sector's calendar, learned from a book of merchants whose sales follow a known season."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from underwriting.features import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PeerBenchmarks,
    PriorLoans,
    compute_features,
    compute_features_with_bases,
    feature_names,
)
from underwriting.features.history import IN, KIND, day_number
from underwriting.features.season import calendar_mean, sector_index

AS_OF = date(2025, 7, 20)  # day 200 of the year: the top of the ice-cream season below
PEAK = 200


def season(doy: np.ndarray) -> np.ndarray:
    """Log level of an ice-cream seller's sales on a day of the year: high in July, low in January."""
    return 0.4 * np.cos(2 * np.pi * (np.asarray(doy, dtype=np.float64) - PEAK) / 365.0)


def seller(scale: float, *, as_of: date = AS_OF, days: int = 400, sector: str = "ice cream") -> MerchantHistory:
    a = day_number(as_of)
    rows = []
    for d in range(a - days, a):
        dt = date(1970, 1, 1) + timedelta(days=d)
        doy = (dt - date(dt.year, 1, 1)).days
        total = scale * math.exp(float(season(doy)))
        rows.append((d, IN, KIND["sale"], 1, total, total))
    return MerchantHistory(
        as_of=as_of, sector=sector, region="coast", established_on=date(2018, 1, 1), onboarded_on=date(2023, 1, 1),
        daily=DailyRows.build(*zip(*rows, strict=True)), counterparties=CounterpartyRows.build(),
        balances=BalanceRows.build(), metrics=MetricRows.build(), loans=PriorLoans.build())


@pytest.fixture(scope="module")
def book():
    """Forty sellers of different sizes, their features and bases, and the benchmark fitted on them."""
    hs = [seller(100.0 + 10 * i) for i in range(40)]
    rq = [LoanRequest(1000.0, 6)] * len(hs)
    _X, B = compute_features_with_bases(hs, rq)
    peers = PeerBenchmarks.fit_values([h.sector for h in hs], B)
    return hs, rq, peers


def true_mean(start: float, days: float) -> float:
    return float(season(np.arange(start, start + days)).mean())


def test_the_sectors_calendar_is_the_median_of_its_merchants_months(book):
    _hs, _rq, peers = book
    index = peers.season("Ice Cream ")
    # Given sellers whose sales follow the same season, the sector's July stands highest and its January
    # lowest, each month near the season's average over that month (centred on the year's mean)
    assert index is not None and index.argmax() == 6 and index.argmin() == 0
    mid_july = true_mean(181, 31) - float(season(np.arange(365)).mean())
    assert index[6] == pytest.approx(mid_july, abs=0.01)
    assert abs(index.sum()) < 1e-5  # (stored to 6 decimals)
    # A sector nobody in the book is in falls back to the whole book's calendar
    assert np.array_equal(peers.season("florist"), np.asarray(peers.overall_season))


def test_a_loan_at_the_peak_of_the_season_sees_the_lull_ahead(book):
    hs, rq, peers = book
    # When a seller applies at the top of its season for six months
    f = dict(zip(feature_names(), compute_features([hs[0]], rq[:1], peers=peers)[0], strict=True))
    # Then the sector's calendar says the coming months sell less than the quarter before (monthly
    # levels read linearly between the months' middles shave the curve's top: within 15%)
    expected = true_mean(PEAK, 180) - true_mean(PEAK - 90, 90)
    assert f["sector_season_ahead"] == pytest.approx(expected, rel=0.15)
    assert f["sector_season_ahead"] < -0.2
    # And its sales, which moved exactly with the season, are no change once the season is allowed for
    assert f["sales_change_vs_season_90d"] == pytest.approx(0.0, abs=0.03)


def test_a_fall_in_high_season_is_a_fall_and_a_seasonal_dip_is_not(book):
    _hs, _rq, peers = book
    # Given, on the first of March, one seller whose sales followed the season and one whose sales
    # halved over the last month on top of it
    march = date(2026, 3, 1)
    steady = seller(150.0, as_of=march)
    a = day_number(march)
    d = steady.daily
    halved = np.where(d.day >= a - 30, d.total * 0.5, d.total)
    falling = MerchantHistory(**{**steady.__dict__, "daily": DailyRows.build(d.day, d.direction, d.kind, d.count,
                                                                              halved, halved)})
    X = compute_features([steady, falling], [LoanRequest(1000.0, 3)] * 2, peers=peers)
    f = {name: X[:, i] for i, name in enumerate(feature_names())}
    # Then the seasonal dip reads as no change, the halving as a fall of about log(0.5)
    assert f["sales_change_vs_season_90d"][0] == pytest.approx(0.0, abs=0.03)
    assert f["sales_change_vs_season_90d"][1] == pytest.approx(math.log(0.5), abs=0.03)
    # and the season ahead of a loan taken in March is rising
    expected = true_mean(59, 90) - true_mean(59 - 90, 90)
    assert expected > 0.2
    assert f["sector_season_ahead"] == pytest.approx([expected, expected], rel=0.15)


def test_the_calendar_travels_with_the_model_and_older_benchmarks_have_none(book):
    hs, rq, peers = book
    X = compute_features(hs[:3], rq[:3], peers=peers)
    again = PeerBenchmarks.from_dict(peers.to_dict())
    assert np.array_equal(compute_features(hs[:3], rq[:3], peers=again), X, equal_nan=True)
    # A benchmark saved before the calendar existed leaves its two columns missing, never guessed
    old = peers.to_dict()
    del old["seasons"], old["overall_season"]
    Y = compute_features(hs[:3], rq[:3], peers=PeerBenchmarks.from_dict(old))
    names = feature_names()
    for name in ("sector_season_ahead", "sales_change_vs_season_90d"):
        assert np.isnan(Y[:, names.index(name)]).all()
    # and every other column is as before
    other = [i for i, n in enumerate(names) if n not in ("sector_season_ahead", "sales_change_vs_season_90d")]
    assert np.array_equal(Y[:, other], X[:, other], equal_nan=True)


def test_sector_index_needs_enough_rows_for_every_month():
    levels = np.tile(np.linspace(-0.55, 0.55, 12), (10, 1))
    assert sector_index(levels, 11) is None
    index = sector_index(levels, 10)
    assert index == pytest.approx(np.linspace(-0.55, 0.55, 12))
    levels[:, 3] = np.nan
    assert sector_index(levels, 1) is None


def test_calendar_mean_reads_each_month_at_its_middle_and_linearly_between():
    index = np.zeros((1, 12))
    index[0, 0] = 1.0  # January only
    mid_january = 365.0 / 24
    assert calendar_mean(index, np.array([mid_january]), np.array([1.0]))[0] == pytest.approx(1.0)
    halfway = mid_january + 365.0 / 24
    assert calendar_mean(index, np.array([halfway]), np.array([1.0]))[0] == pytest.approx(0.5)
    # December's middle wraps round to the next January
    assert calendar_mean(index, np.array([365.0 - 365.0 / 24]), np.array([1.0]))[0] == pytest.approx(0.0)
