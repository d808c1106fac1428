"""Counterparty features on hand-built histories: who is a payment processor, who is a customer, and
how long the largest customer has been silent."""

from __future__ import annotations

import math
from datetime import date

import pytest

from underwriting.features import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PriorLoans,
    compute_features,
    feature_names,
)
from underwriting.features.history import IN, KIND, day_number

AS_OF = date(2025, 1, 1)
A = day_number(AS_OF)
CUSTOMER, OTHER_CUSTOMER, PROCESSOR = 7, 8, 9


def history(payments: list[tuple[int, int, str, float]], days: int = 400) -> MerchantHistory:
    """A business whose only inflows are `payments`: (days before as_of, counterparty code, kind, amount)."""
    daily, cps = {}, []
    for back, cp, kind, amount in payments:
        d = A - back
        key = (d, KIND[kind])
        daily[key] = daily.get(key, 0.0) + amount
        cps.append((d, IN, cp, 1, amount))
    # a first row so the history is `days` long
    first = A - days
    daily.setdefault((first, KIND["transfer"]), 0.0)
    rows = sorted((d, IN, k, 1, max(t, 0.01), max(t, 0.01)) for (d, k), t in daily.items())
    return MerchantHistory(
        as_of=AS_OF, sector="wholesale", region="port", established_on=date(2015, 1, 1), onboarded_on=date(2023, 1, 1),
        daily=DailyRows.build(*zip(*rows, strict=True)), counterparties=CounterpartyRows.build(*zip(*cps, strict=True)),
        balances=BalanceRows.build(), metrics=MetricRows.build(), loans=PriorLoans.build())


def features(h: MerchantHistory) -> dict[str, float]:
    X = compute_features([h], [LoanRequest(10_000.0, 6)])
    return dict(zip(feature_names(), X[0], strict=True))


def test_a_trade_customer_paying_by_transfer_several_times_a_week_is_a_customer_not_a_processor():
    # Given a wholesaler whose one customer pays 1,000.00 by transfer on three days of every week
    pays = [(back, CUSTOMER, "transfer", 1000.0) for back in range(1, 400) if back % 7 in (1, 3, 5)]
    # When its features are computed
    f = features(history(pays))
    # Then the customer is the whole of its income: concentration, not a processor
    assert f["top_customer_share_180d"] == 1.0
    assert f["processor_share_90d"] == 0.0


def test_a_payer_settling_card_takings_is_a_processor_however_often_it_pays():
    # Given the same rhythm, but the money is booked as card takings (a processor's settlements)
    pays = [(back, PROCESSOR, "card_payment", 1000.0) for back in range(1, 400) if back % 7 in (1, 3, 5)]
    f = features(history(pays))
    # Then it aggregates many customers: no customer concentration
    assert f["processor_share_90d"] == 1.0
    assert f["top_customer_share_180d"] == 0.0


def test_a_payer_paying_every_day_by_transfer_is_a_processor():
    # Given a source that books everything as transfers, a payer on every day (a settlement rhythm) and
    # a trade customer paying 500.00 each Monday
    pays = [(back, PROCESSOR, "transfer", 300.0) for back in range(1, 400)]
    pays += [(back, CUSTOMER, "transfer", 500.0) for back in range(1, 400) if back % 7 == 0]
    f = features(history(pays))
    # Then the daily payer is a processor and the trade customer the largest customer
    customer_180 = 500.0 * len([b for b in range(1, 400) if b % 7 == 0 and b <= 180])
    revenue_180 = customer_180 + 300.0 * 180
    assert f["top_customer_share_180d"] == pytest.approx(customer_180 / revenue_180)
    assert f["processor_share_90d"] == pytest.approx(300.0 * 90 / (300.0 * 90 + 500.0 * 12))


def test_the_largest_customers_silence_is_counted_in_its_usual_intervals():
    # Given a customer that paid every 5 days until 20 days ago, and a smaller one paying weekly since
    pays = [(back, CUSTOMER, "transfer", 2000.0) for back in range(20, 400, 5)]
    pays += [(back, OTHER_CUSTOMER, "transfer", 400.0) for back in range(1, 400, 7)]
    f = features(history(pays))
    # Then it last paid 20 days ago against its usual 180 / 33 days (ages 20, 25, ..., 180)
    assert f["top_customer_silence"] == pytest.approx(20.0 / (180.0 / 33))
    # And a customer still paying on its rhythm is hardly silent
    steady = features(history([(back, CUSTOMER, "transfer", 2000.0) for back in range(1, 400, 5)]))
    assert steady["top_customer_silence"] == pytest.approx(1.0 / (180.0 / 36))


def test_no_customer_means_no_silence_value():
    # Given a shop paid only through its card processor
    f = features(history([(back, PROCESSOR, "card_payment", 100.0) for back in range(1, 400)]))
    # Then there is no largest customer to be silent: missing, not zero
    assert math.isnan(f["top_customer_silence"])
    assert f["top_customer_share_180d"] == 0.0
