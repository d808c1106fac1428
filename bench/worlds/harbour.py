"""Harbour: small wholesalers and trade suppliers selling to a handful of business customers.

Unlike the marketplace simulator and unlike the bazaar: no card sales and no daily takings. Revenue is
invoices to a few named customers (one to fifteen, often one dominant), paid by bank transfer 30 to 75
days after the order, so cash arrives in lumps; costs are goods bought from a few suppliers (most of
the revenue), paid every other week for what was ordered, monthly wages and rent, and interest on an
overdraft the business runs on. No marketplace metrics. Customers leave: some are quietly in trouble
and order less for months before they stop.

What drives default (the true PD's logit at origination):
- concentration: the largest customer's share, and whether that customer is about to leave (visible
  only as its shrinking orders);
- the margin: thin trade margins leave no room;
- the overdraft: how deep the business is in it against a month of revenue;
- stretched collection: customers paying later than their terms;
- burden and growth;
- management the data does not show (small).
"""

from __future__ import annotations

import numpy as np

from bench.worlds.toolkit import IN, OUT, Book, K, Lender, Repayments, Rows, World

SECTORS = ("food_wholesale", "building_supplies", "textiles", "electronics_parts", "logistics")
REGIONS = ("port", "inland", "river", "border")
MAX_CUSTOMERS = 15
MONTHLY_RATE = 0.012
INTERCEPT = -5.3


class _Traders:
    def __init__(self, rng: np.random.Generator, n: int, days: int) -> None:
        self.sector = np.array(SECTORS, dtype=object)[rng.integers(0, len(SECTORS), n)]
        self.region = np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), n)]
        self.revenue = rng.lognormal(np.log(5500), 0.85, n)  # a business day's orders, typical
        k = np.minimum(1 + rng.poisson(rng.choice([1.0, 4.0, 9.0], n)), MAX_CUSTOMERS)
        alpha = rng.choice([0.3, 1.0, 3.0], n)
        share = np.zeros((n, MAX_CUSTOMERS))
        for i in range(n):  # once, at creation: Dirichlet shares of each trader's customers
            share[i, :k[i]] = np.sort(rng.dirichlet(np.full(k[i], alpha[i])))[::-1]
        self.share = share
        self.terms = rng.choice([30, 45, 60, 75], (n, MAX_CUSTOMERS))
        self.lateness = np.zeros((n, MAX_CUSTOMERS))  # days beyond terms the customer pays now
        self.leaving = np.full((n, MAX_CUSTOMERS), 1 << 30)  # day a customer stops ordering
        self.troubled_from = np.full((n, MAX_CUSTOMERS), 1 << 30)
        self.margin = rng.uniform(0.06, 0.30, n)  # gross: revenue over goods
        self.wages = rng.uniform(0.03, 0.12, n) * 22 * self.revenue
        self.rent = rng.uniform(0.01, 0.06, n) * 22 * self.revenue
        self.overdraft = rng.uniform(0.2, 1.2, n) * 22 * self.revenue
        self.management = rng.normal(0, 1, n)
        self.onboarded = np.where(rng.random(n) < 0.4, 0, rng.integers(0, int(days * 0.7), n))
        self.established = self.onboarded - rng.exponential(1500, n).astype(np.int64) - 60
        self.balance = rng.uniform(-0.3, 0.8, n) * self.overdraft
        self.goods_owed = np.zeros(n)
        self.orders_90 = np.zeros((90, n))
        self.health = rng.normal(0, 0.1, n)
        self.drift = rng.normal(0, 0.0007, n)
        self.exit_day = np.full(n, 1 << 30)
        self.lender = Lender(Repayments(n), 40_000_000, MONTHLY_RATE)
        self.last_loan_end = np.full(n, -(1 << 30))
        self.cp_base = np.arange(n, dtype=np.int64) * 32


def _troubles(rng, tr: _Traders, d: int, act: np.ndarray) -> None:
    """Customers fall into trouble (order less, pay later) and leave about 150 days later."""
    live = (tr.share[act] > 0) & (tr.leaving[act] > d)
    start = live & (tr.troubled_from[act] > d) & (rng.random(live.shape) < 1 / 900)
    rows_, cols = np.nonzero(start)
    tr.troubled_from[act[rows_], cols] = d
    tr.leaving[act[rows_], cols] = d + rng.integers(90, 210, rows_.size)


def _orders(rng, tr: _Traders, d: int, act: np.ndarray, pending: dict) -> np.ndarray:
    if d % 7 in (5, 6):
        return np.zeros(act.size)
    share = tr.share[act]
    troubled = tr.troubled_from[act] <= d
    fade = np.where(troubled, np.clip(1 - (d - tr.troubled_from[act]) / 200, 0.15, 1), 1.0)
    gone = tr.leaving[act] <= d
    level = tr.revenue[act, None] * np.exp(tr.health[act, None]) * share * fade * ~gone
    ordered = rng.random(share.shape) < 0.45
    amount = np.where(ordered, level / 0.45 * rng.lognormal(-0.08, 0.4, share.shape), 0.0)
    late = np.where(troubled, 25.0, 0.0) + tr.lateness[act]
    due = d + tr.terms[act] + np.rint(late + rng.exponential(3, share.shape)).astype(np.int64)
    r, c = np.nonzero(amount > 0)
    for day in np.unique(due[r, c]):
        sel = due[r, c] == day
        pending.setdefault(int(day), []).append((act[r[sel]], c[sel], amount[r[sel], c[sel]]))
    return amount.sum(axis=1)


def _collect(tr: _Traders, rows: Rows, d: int, pending: dict) -> None:
    for merchants, cust, amount in pending.pop(d, []):
        live = d < tr.exit_day[merchants]
        m, c, a = merchants[live], cust[live], amount[live]
        rows.add(d, m, IN, K.TRANSFER, a, counterparty=tr.cp_base[m] + c)
        np.add.at(tr.balance, m, a)


def _pd_logit(tr: _Traders, d: int, idx: np.ndarray, amount: np.ndarray, term: np.ndarray):
    share = tr.share[idx]
    top = share.max(axis=1)
    top_c = share.argmax(axis=1)
    top_leaving = tr.troubled_from[idx, top_c] <= d
    month = 22 * tr.revenue[idx] * np.exp(tr.health[idx])
    fixed = tr.wages[idx] + tr.rent[idx]
    margin = tr.margin[idx] - fixed / month
    depth = -np.minimum(tr.balance[idx], 0) / month
    stretch = (np.where(tr.troubled_from[idx] <= d, 25.0, 0) * share).sum(axis=1) / 30
    recent = tr.orders_90[:, idx].sum(axis=0) / 3 / month
    instalment = amount * MONTHLY_RATE / (1 - (1 + MONTHLY_RATE) ** (-term.astype(float)))
    parts = {
        "concentration": 1.6 * top + 2.2 * top * top_leaving,
        "margin": -9.0 * np.clip(margin, -0.2, 0.3),
        "overdraft": 1.6 * np.minimum(depth, 2),
        "collection": 1.5 * stretch,
        "growth": -1.5 * np.clip(np.log(np.maximum(recent, 0.05)), -1.5, 1),
        "burden": 5.0 * instalment / month,
        "hidden": -0.3 * tr.management[idx],
    }
    return INTERCEPT + sum(parts.values()), parts


def _pay_costs(rng, tr: _Traders, rows: Rows, d: int, act: np.ndarray, ordered: np.ndarray) -> None:
    tr.goods_owed[act] += ordered * (1 - tr.margin[act])
    if d % 14 == 3:
        floor = -tr.overdraft[act]
        pay = np.minimum(tr.goods_owed[act], np.maximum(tr.balance[act] - floor, 0))
        # suppliers: up to three, the first one most of the time
        who = np.where(rng.random(act.size) < 0.7, 0, rng.integers(1, 3, act.size))
        rows.add(d, act, OUT, K.SUPPLIER_PAYMENT, pay, counterparty=10_000_000 + act * 4 + who, count=1 + who)
        tr.balance[act] -= pay
        tr.goods_owed[act] -= pay
    if d % 30 == 27:
        rows.add(d, act, OUT, K.PAYROLL, tr.wages[act], count=1 + (tr.wages[act] // 3000).astype(int))
        rows.add(d, act, OUT, K.RENT, tr.rent[act], counterparty=20_000_000 + act)
        tr.balance[act] -= tr.wages[act] + tr.rent[act]
    if d % 30 == 0:
        interest = 0.011 * np.maximum(-tr.balance[act], 0)
        rows.add(d, act, OUT, K.INTEREST, interest)
        rows.add(d, act, OUT, K.FEE, 25.0 + 0.0005 * tr.revenue[act] * 22)
        tr.balance[act] -= interest + 25.0 + 0.0005 * tr.revenue[act] * 22
        if (d // 30) % 3 == 1:
            tax = 0.02 * tr.orders_90[:, act].sum(axis=0)
            rows.add(d, act, OUT, K.TAX, tax)
            tr.balance[act] -= tax
        surplus = tr.balance[act] - 0.5 * tr.overdraft[act]
        draw = np.where(surplus > 0, 0.5 * surplus, 0)
        rows.add(d, act, OUT, K.TRANSFER, draw, counterparty=30_000_000 + act)
        tr.balance[act] -= draw


def _lend(rng, tr: _Traders, rows: Rows, book: Book, d: int, act: np.ndarray) -> None:
    tr.lender.collect(d, rows, tr.balance)
    ok = (~tr.lender.loans.active[act]) & (d - tr.onboarded[act] >= 120) & (d - tr.last_loan_end[act] >= 30)
    ask = act[ok & (rng.random(act.size) < 1 / 50)]
    if not ask.size:
        return
    seen = tr.orders_90[:, ask].sum(axis=0) / 3.0
    term = rng.choice([3, 6, 12], ask.size, p=[0.3, 0.4, 0.3])
    amount = np.maximum(np.round(seen * rng.uniform(0.3, 1.2, ask.size), -2), 2000.0)
    y, stop = tr.lender.lend(rng, d, ask, amount, term, _pd_logit(tr, d, ask, amount, term), book=book, rows=rows,
                             balance=tr.balance)
    tr.last_loan_end[ask] = d + 30 * term
    bad = ask[y == 1]
    tr.exit_day[bad] = stop[y == 1] + 30
    tr.health[bad] -= 0.3


def generate(*, merchants: int, days: int, seed: int) -> World:
    rng = np.random.default_rng(seed)
    tr = _Traders(rng, merchants, days)
    rows, book, bal, pending = Rows(), Book(), [], {}
    for d in range(days):
        act = np.flatnonzero((tr.onboarded <= d) & (d < tr.exit_day))
        tr.health[act] = 0.997 * tr.health[act] + tr.drift[act] + rng.normal(0, 0.01, act.size)
        _troubles(rng, tr, d, act)
        ordered = _orders(rng, tr, d, act, pending)
        tr.orders_90[d % 90] = 0.0
        tr.orders_90[d % 90, act] = ordered
        _collect(tr, rows, d, pending)
        _pay_costs(rng, tr, rows, d, act, ordered)
        _lend(rng, tr, rows, book, d, act)
        bal.append((act.astype(np.int32), np.full(act.size, d, np.int32), tr.balance[act].astype(np.float32)))
    m = np.concatenate([b[0] for b in bal])
    close = np.concatenate([b[2] for b in bal]).astype(np.float64)
    return World(name="harbour", days=days, rows=rows.arrays(),
                 balances={"merchant": m, "day": np.concatenate([b[1] for b in bal]), "min": close, "close": close},
                 metrics=None, loans=book.arrays(), sector=tr.sector.astype(str), region=tr.region.astype(str),
                 established=tr.established, onboarded=tr.onboarded)
