"""Bazaar: a street of small consumer businesses (cafes, grocers, salons, clothing, food stalls).

Unlike the platform's marketplace simulator, revenue is a daily takings process with a strong weekly
rhythm and a sector's yearly season, part card (daily `sale` rows) and part cash (banked every few days
as `cash_deposit`); costs are the cost structure of a shop: suppliers paid weekly for what was sold,
rent on a fixed day of the month (late when the till is short), wages every other Friday, card fees
once a month, tax each quarter, the owner's drawings on Mondays. No marketplace metrics, no customer
names. A few owners take loans elsewhere too (stacking).

What drives default (the true PD's logit, computed on the day of origination):
- liquidity: the cash buffer against a month of fixed costs;
- the margin after suppliers, rent and wages;
- volatility of takings, and the season ahead: a loan taken at the season's peak is repaid in the lull;
- the recent trend of the business (its health over the last quarter);
- burden: the instalment against monthly takings, and another lender's loan running;
- bust-out fraud (about 2% of owners): takings inflated by self-paid transfers for six weeks, then a
  large loan and gone;
- resilience the data does not show (small on purpose: a model can only reach the observable part).
"""

from __future__ import annotations

import numpy as np

from bench.worlds.toolkit import IN, OUT, Book, K, Lender, Repayments, Rows, World

SECTORS = {
    # name: (share, weekly pattern Mon..Sun, season amplitude, season peak day-of-year, ticket, cogs range)
    "cafe": (0.25, (0.8, 0.85, 0.9, 0.95, 1.1, 1.35, 1.05), 0.15, 200, 45.0, (0.25, 0.40)),
    "grocery": (0.25, (0.95, 0.9, 0.95, 1.0, 1.1, 1.2, 0.9), 0.08, 350, 80.0, (0.55, 0.72)),
    "salon": (0.15, (0.5, 0.8, 0.9, 1.0, 1.2, 1.6, 0.5), 0.12, 340, 150.0, (0.10, 0.22)),
    "apparel": (0.15, (0.7, 0.75, 0.8, 0.9, 1.1, 1.6, 1.3), 0.40, 330, 260.0, (0.45, 0.60)),
    "street_food": (0.20, (0.7, 0.8, 0.85, 0.9, 1.2, 1.5, 1.3), 0.30, 190, 25.0, (0.30, 0.45)),
}
REGIONS = ("north", "south", "coast", "capital")
MONTHLY_RATE = 0.015
INTERCEPT = -3.85  # sets the default rate near 9% (tests/bench/test_worlds.py checks 5-15%)


def _season(amplitude: np.ndarray, peak: np.ndarray, day: np.ndarray | int) -> np.ndarray:
    return 1.0 + amplitude * np.cos(2 * np.pi * (np.asarray(day) - peak) / 365.0)


class _Street:
    """The merchants' fixed traits and their running state."""

    def __init__(self, rng: np.random.Generator, n: int, days: int) -> None:
        names = list(SECTORS)
        self.sector_i = rng.choice(len(names), n, p=[SECTORS[s][0] for s in names])
        self.sector = np.array(names, dtype=object)[self.sector_i]
        spec = [SECTORS[s] for s in names]
        self.weekly = np.array([s[1] for s in spec])[self.sector_i]  # (n, 7)
        self.amp = np.array([s[2] for s in spec])[self.sector_i] * rng.uniform(0.6, 1.4, n)
        self.peak = np.array([s[3] for s in spec])[self.sector_i] + rng.normal(0, 15, n)
        self.ticket = np.array([s[4] for s in spec])[self.sector_i] * rng.lognormal(0, 0.3, n)
        lo, hi = np.array([s[5][0] for s in spec])[self.sector_i], np.array([s[5][1] for s in spec])[self.sector_i]
        self.cogs = rng.uniform(lo, hi)
        self.mu = rng.lognormal(np.log(1800), 0.75, n)  # typical day's takings
        self.sigma = rng.uniform(0.08, 0.55, n)
        self.card = rng.uniform(0.3, 0.97, n)
        self.refund = rng.lognormal(np.log(0.008), 0.8, n)
        self.rent = rng.uniform(0.04, 0.20, n) * 30 * self.mu
        self.rent_day = rng.integers(1, 28, n)
        self.wages = rng.uniform(0.06, 0.28, n) * 14 * self.mu
        self.buffer = rng.lognormal(np.log(0.5), 0.7, n)  # months of takings the owner keeps in the bank
        self.drift = rng.normal(0, 0.0009, n)
        self.resilience = rng.normal(0, 1, n)
        self.fraud = rng.random(n) < 0.02
        self.fraud_start = rng.integers(150, max(151, days - 60), n)
        self.onboarded = np.where(rng.random(n) < 0.35, 0, rng.integers(0, int(days * 0.7), n))
        self.established = self.onboarded - rng.exponential(1100, n).astype(np.int64) - 30
        self.region = np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), n)]
        # running state
        self.health = rng.normal(0, 0.15, n)
        self.health_hist = np.zeros((91, n))  # ring of the last 91 days' health
        self.balance = self.buffer * 30 * self.mu
        self.rent_owed = np.zeros(n)
        self.cash_till = np.zeros(n)
        self.sales_90 = np.zeros((90, n))  # ring: the lender's view of recent takings
        self.exit_day = np.full(n, 1 << 30)
        self.decline_from = np.full(n, 1 << 30)
        self.lender = Lender(Repayments(n), 600_000, MONTHLY_RATE)
        self.ext = Repayments(n)
        self.last_loan_end = np.full(n, -(1 << 30))
        self.loans_repaid = np.zeros(n)


def _pd_logit(st: _Street, d: int, idx: np.ndarray, amount: np.ndarray, term: np.ndarray) -> tuple[np.ndarray, dict]:
    takings = 30 * st.mu[idx] * np.exp(st.health[idx])
    fixed = st.rent[idx] + 2.17 * st.wages[idx]
    liquidity = np.log(0.05 + np.maximum(st.balance[idx], 0) / fixed)
    margin = 1 - st.cogs[idx] - fixed / takings
    ahead = _season(st.amp[idx], st.peak[idx], d + 15 * term) / _season(st.amp[idx], st.peak[idx], d - 45)
    trend = st.health[idx] - st.health_hist[(d - 90) % 91, idx]
    instalment = amount * MONTHLY_RATE / (1 - (1 + MONTHLY_RATE) ** (-term.astype(float)))
    burden = instalment / takings
    parts = {
        "liquidity": -0.55 * liquidity,
        "margin": -3.2 * np.clip(margin, -0.5, 0.6),
        "volatility": 2.2 * st.sigma[idx],
        "season": -2.4 * np.log(ahead),
        "trend": -2.8 * trend,
        "burden": 4.0 * burden,
        "stacking": 0.7 * st.ext.active[idx],
        "fraud": 4.5 * st.fraud[idx],
        "record": -0.12 * np.minimum(st.loans_repaid[idx], 3),
        "hidden": -0.3 * st.resilience[idx],
    }
    return INTERCEPT + sum(parts.values()), parts


def _takings(rng, st: _Street, d: int, act: np.ndarray) -> np.ndarray:
    i = act
    level = st.mu[i] * np.exp(st.health[i]) * st.weekly[i, d % 7] * _season(st.amp[i], st.peak[i], d)
    shock = rng.normal(-0.5 * st.sigma[i] ** 2, st.sigma[i])
    sales = level * np.exp(shock)
    fraud_phase = st.fraud[i] & (d >= st.fraud_start[i]) & (d < st.fraud_start[i] + 42)
    sales = sales * np.where(fraud_phase, 2.3, 1.0)
    dying = d >= st.decline_from[i]
    sales = sales * np.where(dying, 0.55, 1.0)
    return sales, fraud_phase


def _day(rng, st: _Street, rows: Rows, book: Book, bal: list, d: int, n: int) -> None:
    act = np.flatnonzero((st.onboarded <= d) & (d < st.exit_day))
    st.health[act] = 0.996 * st.health[act] + st.drift[act] + rng.normal(0, 0.012, act.size)
    st.health_hist[d % 91] = st.health
    sales, fraud_phase = _takings(rng, st, d, act)
    st.sales_90[d % 90] = 0.0
    st.sales_90[d % 90, act] = sales
    card = sales * st.card[act]
    tickets = np.maximum(1, rng.poisson(np.maximum(card / st.ticket[act], 0.1)))
    rows.add(d, act, IN, K.SALE, card, count=tickets, largest=card / tickets * rng.uniform(2, 4, act.size))
    st.balance[act] += card
    st.cash_till[act] += sales - card
    bank = act[(rng.random(act.size) < 0.35) & (st.cash_till[act] > 0)]
    rows.add(d, bank, IN, K.CASH_DEPOSIT, st.cash_till[bank])
    st.balance[bank] += st.cash_till[bank]
    st.cash_till[bank] = 0
    # bust-out round trips: the owner's other accounts pay in, the "sales" go back out
    fp = act[fraud_phase]
    if fp.size:
        amt = st.mu[fp] * rng.uniform(0.5, 1.5, fp.size)
        rows.add(d, fp, IN, K.TRANSFER, amt, counterparty=900_000 + fp % 3)
        rows.add(d, fp, OUT, K.TRANSFER, amt * 0.97, counterparty=900_000 + fp % 3)
    ref = act[rng.random(act.size) < 0.3]
    amount = st.refund[ref] * st.mu[ref] * 3.3 * rng.lognormal(0, 0.5, ref.size)
    rows.add(d, ref, OUT, K.REFUND, amount)
    st.balance[ref] -= amount
    _costs(rng, st, rows, d, act)
    _loans_due(st, rows, d)
    _lend(rng, st, rows, book, d, act)
    bal.append((act.astype(np.int32), np.full(act.size, d, np.int32), st.balance[act].astype(np.float32)))


def _costs(rng, st: _Street, rows: Rows, d: int, act: np.ndarray) -> None:
    dow, dom = d % 7, d % 30 + 1
    if dow == 3:  # Thursdays: suppliers, for the last week's sales
        week = st.sales_90[[(d - k) % 90 for k in range(7)]][:, act].sum(axis=0)
        amt = st.cogs[act] * week * rng.uniform(0.9, 1.1, act.size)
        rows.add(d, act, OUT, K.SUPPLIER_PAYMENT, amt, counterparty=500_000 + (act * 7 + dow) % 40_000)
        st.balance[act] -= amt
    if dow == 4 and (d // 7) % 2 == 0:
        rows.add(d, act, OUT, K.PAYROLL, st.wages[act], count=1 + (st.wages[act] // 4000).astype(int))
        st.balance[act] -= st.wages[act]
    st.rent_owed[act[st.rent_day[act] == dom]] += st.rent[act[st.rent_day[act] == dom]]
    owed = act[st.rent_owed[act] > 0]
    pay = owed[st.balance[owed] >= st.rent_owed[owed] - 0.2 * st.buffer[owed] * 30 * st.mu[owed]]
    rows.add(d, pay, OUT, K.RENT, st.rent_owed[pay], counterparty=700_000 + pay)
    st.balance[pay] -= st.rent_owed[pay]
    st.rent_owed[pay] = 0
    if dom == 1:
        month = st.sales_90[[(d - k) % 90 for k in range(30)]][:, act].sum(axis=0)
        fee = 0.018 * month * st.card[act]
        rows.add(d, act, OUT, K.FEE, fee)
        st.balance[act] -= fee
        if (d // 30) % 3 == 0:
            tax = 0.03 * 3 * month
            rows.add(d, act, OUT, K.TAX, tax)
            st.balance[act] -= tax
    if dow == 0:  # Mondays: the owner draws what sits above the buffer
        surplus = st.balance[act] - st.buffer[act] * 30 * st.mu[act]
        draw = np.where(surplus > 0, 0.6 * surplus, 0)
        rows.add(d, act, OUT, K.TRANSFER, draw, counterparty=800_000 + act)
        st.balance[act] -= draw


def _loans_due(st: _Street, rows: Rows, d: int) -> None:
    st.lender.collect(d, rows, st.balance)
    idx, inst = st.ext.due(d)
    rows.add(d, idx, OUT, K.LOAN_REPAYMENT, inst, counterparty=610_000)
    st.balance[idx] -= inst
    own = st.lender.loans
    ended = np.flatnonzero(~own.active & (st.last_loan_end < own.end) & (own.end <= d))
    st.last_loan_end[ended] = own.end[ended]
    st.loans_repaid[ended] += 1


def _lend(rng, st: _Street, rows: Rows, book: Book, d: int, act: np.ndarray) -> None:
    # another lender, now and then
    take = act[(~st.ext.active[act]) & (rng.random(act.size) < 1 / 400) & (d - st.onboarded[act] > 60)]
    ext_amt = st.mu[take] * rng.uniform(10, 30, take.size)
    rows.add(d, take, IN, K.LOAN_DISBURSEMENT, ext_amt, counterparty=610_000)
    st.balance[take] += ext_amt
    st.ext.open(d, take, ext_amt, rng.choice([6, 12], take.size), 0.02)
    # the world's own lender: applications
    ok = (~st.lender.loans.active[act]) & (d - st.onboarded[act] >= 90) & (d - st.last_loan_end[act] >= 20)
    fraud_ask = st.fraud[act] & (d == st.fraud_start[act] + 42)
    ask = act[ok & ((rng.random(act.size) < 1 / 45) | fraud_ask)]
    if not ask.size:
        return
    seen = st.sales_90[:, ask].sum(axis=0) / 3.0  # the lender sees the last 90 days' card and cash takings
    term = rng.choice([3, 6, 9, 12], ask.size, p=[0.2, 0.4, 0.2, 0.2])
    amount = np.round(seen * rng.uniform(0.4, 1.6, ask.size) * np.where(st.fraud[ask], 2.0, 1.0), -2)
    amount = np.maximum(amount, 1000.0)
    y, stop = st.lender.lend(rng, d, ask, amount, term, _pd_logit(st, d, ask, amount, term), book=book, rows=rows,
                             balance=st.balance, gone_at_once=st.fraud[ask])
    bad = ask[y == 1]
    st.decline_from[bad] = np.minimum(st.decline_from[bad], d + (stop[y == 1] - d) // 2)
    st.exit_day[bad] = stop[y == 1] + 45


def generate(*, merchants: int, days: int, seed: int) -> World:
    rng = np.random.default_rng(seed)
    st = _Street(rng, merchants, days)
    rows, book, bal = Rows(), Book(), []
    for d in range(days):
        _day(rng, st, rows, book, bal, d, merchants)
    m = np.concatenate([b[0] for b in bal])
    day = np.concatenate([b[1] for b in bal])
    close = np.concatenate([b[2] for b in bal]).astype(np.float64)
    balances = {"merchant": m, "day": day, "min": close, "close": close}
    return World(name="bazaar", days=days, rows=rows.arrays(), balances=balances, metrics=None,
                 loans=book.arrays(), sector=st.sector.astype(str), region=st.region.astype(str),
                 established=st.established, onboarded=st.onboarded)
