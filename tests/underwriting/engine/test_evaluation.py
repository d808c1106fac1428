"""The engine's rules and business context, from hand-built point-in-time histories."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from underwriting.engine.context import BusinessContext, business_context
from underwriting.engine.outcomes import KnockOut
from underwriting.engine.policy import PolicyParams
from underwriting.engine.rules import knockout_rules
from underwriting.features.history import (
    CURRENT,
    DEFAULTED,
    IN,
    KIND,
    NO_DAY,
    OUT,
    DailyRows,
    MerchantHistory,
    PriorLoans,
    day_number,
)

AS_OF = dt.date(2026, 6, 1)
D = day_number(AS_OF)


def _history(*, days: int = 365, daily_sales: float = 1000.0, daily_costs: float = 600.0, spike: float = 1.0,
             loans: PriorLoans | None = None, established: dt.date | None = dt.date(2020, 1, 1)) -> MerchantHistory:
    rows = {"day": [], "direction": [], "kind": [], "count": [], "total": [], "max": []}
    for offset in range(days, 0, -1):
        sales = daily_sales * (spike if offset <= 14 else 1.0)
        for direction, kind, total in ((IN, KIND["sale"], sales), (OUT, KIND["supplier_payment"], daily_costs)):
            rows["day"].append(D - offset)
            rows["direction"].append(direction)
            rows["kind"].append(kind)
            rows["count"].append(1)
            rows["total"].append(total)
            rows["max"].append(total)
    return MerchantHistory(as_of=AS_OF, established_on=established, onboarded_on=dt.date(2021, 1, 1),
                           daily=DailyRows.build(**rows), loans=loans or PriorLoans.build())


def _codes(rules, passed: bool) -> set[str]:
    return {rule.code for rule in rules if rule.passed is passed}


def test_context_of_a_steady_merchant():
    context = business_context(history=_history(), is_blocked=False)

    assert context.history_days == 365
    assert context.business_age_days == (AS_OF - dt.date(2020, 1, 1)).days
    assert context.monthly_revenue == Decimal("30000.00")  # 1,000 a day over 30 days
    assert context.avg_monthly_net_inflow == Decimal("12000.00")  # (1,000 - 600) x 30
    assert context.existing_exposure == Decimal("0.00")
    assert context.inflow_spike_ratio == pytest.approx(1.0)


def _with_rows(history: MerchantHistory, extra: list[tuple[int, int, str, float]]) -> MerchantHistory:
    """The history plus rows (days before as_of, direction, kind, total), one transaction each."""
    d = history.daily
    rows = {"day": list(d.day), "direction": list(d.direction), "kind": list(d.kind), "count": list(d.count),
            "total": list(d.total), "max": list(d.max)}
    for offset, direction, kind, total in extra:
        for key, value in (("day", D - offset), ("direction", direction), ("kind", KIND[kind]), ("count", 1),
                           ("total", total), ("max", total)):
            rows[key].append(value)
    return dataclasses.replace(history, daily=DailyRows.build(**rows))


def test_owner_drawings_do_not_reduce_the_net_inflow_of_a_classified_source():
    # given the steady shop (net 400 a day) sweeping 10,000 to its owner at each month end
    drawings = [(offset, OUT, "transfer", 10_000.0) for offset in range(15, 365, 30)]

    context = business_context(history=_with_rows(_history(), drawings), is_blocked=False)

    # then its cash flow available for debt service is still (1,000 - 600) x 30
    assert context.avg_monthly_net_inflow == Decimal("12000.00")


def test_a_coarse_bank_statement_counts_every_transfer():
    # given a source that classifies nothing: inflows 1,000 and outflows 600 a day, all transfers
    rows = {"day": [], "direction": [], "kind": [], "count": [], "total": [], "max": []}
    for offset in range(365, 0, -1):
        for direction, total in ((IN, 1000.0), (OUT, 600.0)):
            for key, value in (("day", D - offset), ("direction", direction), ("kind", KIND["transfer"]),
                               ("count", 1), ("total", total), ("max", total)):
                rows[key].append(value)
    history = dataclasses.replace(_history(), daily=DailyRows.build(**rows))

    context = business_context(history=history, is_blocked=False)

    # then the transfers out are the business's outflows: (1,000 - 600) x 30
    assert context.avg_monthly_net_inflow == Decimal("12000.00")


def test_only_recent_loan_repayments_count_as_debt_service():
    # given repayments of 1,500 a month: three long ago (a repaid loan), two in the last 60 days
    repayments = [(offset, OUT, "loan_repayment", 1500.0) for offset in (300, 270, 240, 45, 15)]

    context = business_context(history=_with_rows(_history(), repayments), is_blocked=False)

    # then debt service is 3,000 over 60 days = 1,500 a month, and the net inflow is 12,000 - 1,500
    assert context.monthly_debt_service == Decimal("1500.00")
    assert context.avg_monthly_net_inflow == Decimal("10500.00")


def test_context_counts_outstanding_principal_of_current_loans_and_recent_defaults():
    loans = PriorLoans.build(
        originated_on=[day_number(dt.date(2026, 3, 1)), day_number(dt.date(2025, 1, 10))],
        amount=[12000.0, 5000.0], term_months=[12, 6], status=[CURRENT, DEFAULTED],
        defaulted_on=[NO_DAY, day_number(dt.date(2025, 9, 1))], days_past_due=[3.0, float("nan")],
    )

    context = business_context(history=_history(loans=loans), is_blocked=False)

    # 3 of 12 months elapsed: three quarters of 12,000 still outstanding
    assert context.existing_exposure == Decimal("9000.00")
    assert context.open_loans == 1
    assert context.max_days_past_due == 3.0
    assert context.recent_defaults == 1


def test_a_clean_request_passes_every_rule():
    context = business_context(history=_history(), is_blocked=False)

    rules = knockout_rules(context=context, amount=Decimal("10000.00"), term_months=12, policy=PolicyParams())

    assert [rule.code for rule in rules] == [KnockOut.REQUEST_BOUNDS, KnockOut.HISTORY_SHORT, KnockOut.TOO_YOUNG,
                                              KnockOut.BLOCKED, KnockOut.ARREARS, KnockOut.FRAUD_SIGNAL]
    assert _codes(rules, passed=False) == set()


@pytest.mark.parametrize(
    ("history_kwargs", "is_blocked", "amount", "term", "failed"),
    [
        ({}, False, Decimal("999.99"), 12, KnockOut.REQUEST_BOUNDS),
        ({}, False, Decimal("10000.00"), 25, KnockOut.REQUEST_BOUNDS),
        ({}, False, Decimal("10000.00"), 2, KnockOut.REQUEST_BOUNDS),
        ({"days": 120}, False, Decimal("10000.00"), 12, KnockOut.HISTORY_SHORT),
        ({"established": dt.date(2026, 1, 1)}, False, Decimal("10000.00"), 12, KnockOut.TOO_YOUNG),
        ({}, True, Decimal("10000.00"), 12, KnockOut.BLOCKED),
        ({"spike": 4.0}, False, Decimal("10000.00"), 12, KnockOut.FRAUD_SIGNAL),
    ],
)
def test_each_knockout_rule_fires_alone(history_kwargs, is_blocked, amount, term, failed):
    context = business_context(history=_history(**history_kwargs), is_blocked=is_blocked)

    rules = knockout_rules(context=context, amount=amount, term_months=term, policy=PolicyParams())

    assert _codes(rules, passed=False) == {failed}


def test_arrears_beyond_the_policy_tolerance_knocks_out():
    loans = PriorLoans.build(originated_on=[day_number(dt.date(2026, 2, 1))], amount=[5000.0], term_months=[6],
                             status=[CURRENT], days_past_due=[30.0])
    context = business_context(history=_history(loans=loans), is_blocked=False)

    rules = knockout_rules(context=context, amount=Decimal("5000.00"), term_months=6, policy=PolicyParams())

    assert _codes(rules, passed=False) == {KnockOut.ARREARS}


def test_context_round_trips_through_its_stored_form():
    context = business_context(history=_history(), is_blocked=True)

    assert BusinessContext.from_dict(context.as_dict()) == context


def test_an_affordability_limit_without_positive_net_inflow_says_so_plainly():
    from types import SimpleNamespace

    from underwriting.engine.evaluation import _limit_reason

    # given a merchant whose money going out exceeded what came in
    context = dataclasses.replace(business_context(history=_history(daily_costs=1100.0), is_blocked=False),
                                  currency="CNY")
    limit = SimpleNamespace(binding="affordability", affordable_instalment=Decimal("0"), caps={})

    reason = _limit_reason(limit, context, PolicyParams())

    # then the reason states the shortfall instead of "35% of -3000.00"
    assert context.avg_monthly_net_inflow == Decimal("-3000.00")
    assert reason["text"] == ("Over the last six months, after your running loan repayments, more money went out of "
                              "the business than came in (on average -3,000.00 CNY a month), so there is no room for a "
                              "repayment.")


def test_an_affordability_limit_on_sales_says_how_much_of_them_repayments_may_take():
    from types import SimpleNamespace

    from underwriting.engine.evaluation import _limit_reason

    # given a policy letting all repayments take 15% of sales and a merchant whose cash flow is negative
    context = dataclasses.replace(business_context(history=_history(daily_costs=1100.0), is_blocked=False),
                                  currency="CNY", monthly_revenue=Decimal("40000.00"),
                                  monthly_debt_service=Decimal("1500.00"))
    policy = PolicyParams(max_debt_service_share=Decimal("0.15"))
    limit = SimpleNamespace(binding="affordability", affordable_instalment=Decimal("4500.00"), caps={})

    # when the limit is explained
    reason = _limit_reason(limit, context, policy)

    # then it names the sales basis, the running loans' share and what is left
    assert reason["text"] == ("All loan repayments together are limited to 15% of your average monthly sales of "
                              "40,000.00 CNY; after your running loans' 1,500.00 CNY a month, at most 4,500.00 CNY a "
                              "month is left for this one.")

    # and with running loans above that share nothing is left, and it says why
    heavy = dataclasses.replace(context, monthly_debt_service=Decimal("7000.00"))
    none = _limit_reason(SimpleNamespace(binding="affordability", affordable_instalment=Decimal("0"), caps={}),
                         heavy, policy)
    assert none["text"].startswith("Your running loan repayments (7,000.00 CNY a month) already take more than the "
                                   "15% of your average monthly sales of 40,000.00 CNY")
