"""The daily simulation: one vectorised step per UTC day over all merchants at once.

Each step draws the day's flows for every merchant (sales settlement, refunds, chargebacks,
supplier, payroll, rent, tax, fees, loans, owner drawings), pays what the cash balance allows
(obligations slip when cash is short: the "late rent" trace), originates loans at the merchants'
period boundaries and records the month-end marketplace metrics. Rows are collected as column
arrays; nothing loops over transactions in Python.

The pieces: `context.py` (calendar, per-merchant traits, state), `flows.py` (the day's flows),
`lending.py` (instalments, originations, outcomes), `ledger.py` (rows and their assembly). The
order of the calls in `_step` is the order of the random draws, and so part of the world.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from underwriting.simulator import flows, lending
from underwriting.simulator.context import Context, State, add_months, build_calendar, build_traits, new_state
from underwriting.simulator.ledger import IN, OUT, Rows, assemble_metrics, assemble_transactions
from underwriting.simulator.params import WorldParams
from underwriting.simulator.population import (
    LENDER,
    TAX_OFFICE,
    Counterparties,
    Latent,
    Population,
    build_latent,
    build_population,
)

__all__ = ["IN", "OUT", "World", "add_months", "history_start", "simulate"]


def history_start(end: date, months: int) -> date:
    return add_months(end + timedelta(days=1), -months)


@dataclass
class World:
    params: WorldParams
    seed: int
    start: date
    end: date
    days: int
    pop: Population
    latent: Latent
    counterparties: list[str]
    tx: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    loans: dict[str, np.ndarray]
    opening_balance: np.ndarray  # cents, before the first row
    closing_balance: np.ndarray  # cents, after the last row (the loop's own ledger)

    @property
    def n_transactions(self) -> int:
        return int(self.tx["merchant"].size)


def simulate(*, merchants: int, months: int, seed: int, end: date, params: WorldParams,
             progress: bool = False) -> World:
    start = history_start(end, months)
    days = (end - start).days + 1
    periods = days // params.period_days + 2 + 26  # beyond the end: outcome windows of loans still running
    seeds = np.random.SeedSequence(seed).spawn(4)
    rng_pop, rng_lat, rng_day, rng_loan = (np.random.default_rng(s) for s in seeds)

    cps = Counterparties()
    pop = build_population(rng_pop, params, merchants, days, cps)
    lat = build_latent(rng_lat, params, pop, periods, days)
    lender_cp = cps.add(LENDER)
    tax_cp = cps.add(TAX_OFFICE)
    cal = build_calendar(params, start, days)
    tr = build_traits(rng_pop, params, pop, days)
    cx = Context(params=params, pop=pop, lat=lat, cal=cal, tr=tr, rows=Rows(rng_day), rng_day=rng_day,
                 rng_loan=rng_loan, lender_cp=lender_cp, tax_cp=tax_cp, days=days, ar=np.arange(pop.n))
    st = new_state(pop, tr, days, tax_cp)

    iterator = range(days)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="simulating days", unit="day")
    for d in iterator:
        _step(cx, st, d)

    return World(params=params, seed=seed, start=start, end=end, days=days, pop=pop, latent=lat,
                 counterparties=cps.names, tx=assemble_transactions(cx.rows, pop.n),
                 metrics=assemble_metrics(cx.rows), loans=lending.finish_loans(st.book, days),
                 opening_balance=st.opening, closing_balance=st.balance)


def _step(cx: Context, st: State, d: int) -> None:
    """One day for every merchant, in the fixed order of the draws."""
    t = flows.begin_day(cx, st, d)
    card = flows.sales(cx, st, t)
    flows.bust_out(cx, st, t)
    flows.b2b_and_cash(cx, st, t)
    flows.refunds_and_chargebacks(cx, st, t, card)
    flows.obligations_due(cx, st, t)
    flows.fees_and_utilities(cx, st, t)
    lending.collect_instalments(cx, st, d)
    flows.pay_obligations(cx, st, t)
    flows.fraud_withdrawals(cx, st, t)
    if cx.cal.month_end[d]:
        flows.month_end(cx, st, t)
    lending.period_start(cx, st, t)
