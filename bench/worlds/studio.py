"""Studio: small service firms living on subscriptions and projects (agencies, software shops, schools,
clinics on memberships). The held-out world: the engine's choices were made on the others.

Unlike the other worlds: revenue is recurring. Subscribers pay on the first days of the month through a
payment platform that pays out weekly (`payout`, net of its fee), and projects pay in lumps by transfer
from a client when they finish. Costs are people: wages at month end are most of the spending; tools and
advertising go on the company card (`card_payment` out); some have an office. Some are funded: an
investor's money arrives now and then (`other` in) and the firm spends ahead of its revenue.

What drives default (the true PD's logit at origination):
- runway: months of cash at today's burn (the dominant driver here);
- churn: the share of subscribers leaving each month (visible as the subscription revenue's trend);
- dependence on projects (lumpy, uncertain) against recurring revenue;
- burden of the loan against monthly revenue;
- the team's quality the data does not show (small).
"""

from __future__ import annotations

import numpy as np

from bench.worlds.toolkit import IN, OUT, Book, K, Lender, Repayments, Rows, World

SECTORS = ("agency", "software", "education", "wellness", "consulting")
REGIONS = ("metro", "suburb", "town")
MONTHLY_RATE = 0.016
INTERCEPT = -1.9


class _Firms:
    def __init__(self, rng: np.random.Generator, n: int, days: int) -> None:
        self.sector = np.array(SECTORS, dtype=object)[rng.integers(0, len(SECTORS), n)]
        self.region = np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), n)]
        self.price = rng.lognormal(np.log(60), 0.8, n)
        self.subs = rng.lognormal(np.log(120), 0.9, n)
        self.acquire = rng.lognormal(np.log(0.045), 0.5, n)  # new subscribers a month, per subscriber
        self.churn = rng.uniform(0.01, 0.09, n)
        self.projects = rng.uniform(0.0, 1.2, n)  # project revenue per month, against subscriptions
        mrr = self.price * self.subs
        self.wages = mrr * (1 + self.projects) * rng.uniform(0.6, 1.25, n)
        self.office = np.where(rng.random(n) < 0.5, mrr * rng.uniform(0.05, 0.15, n), 0.0)
        self.tools = mrr * rng.uniform(0.03, 0.12, n)
        self.funded = rng.random(n) < 0.25
        self.balance = mrr * rng.lognormal(np.log(2.0), 0.7, n) * np.where(self.funded, 3, 1)
        self.team = rng.normal(0, 1, n)
        self.onboarded = np.where(rng.random(n) < 0.3, 0, rng.integers(0, int(days * 0.7), n))
        self.established = self.onboarded - rng.exponential(800, n).astype(np.int64) - 30
        self.platform_owed = np.zeros(n)
        self.revenue_90 = np.zeros((90, n))
        self.burn_90 = np.zeros((90, n))
        self.exit_day = np.full(n, 1 << 30)
        self.lender = Lender(Repayments(n), 5_000_000, MONTHLY_RATE)
        self.last_loan_end = np.full(n, -(1 << 30))


def _pd_logit(f: _Firms, d: int, idx: np.ndarray, amount: np.ndarray, term: np.ndarray):
    revenue = f.revenue_90[:, idx].sum(axis=0) / 3
    burn = np.maximum(f.burn_90[:, idx].sum(axis=0) / 3 - revenue, 0)
    runway = np.minimum(np.maximum(f.balance[idx], 0) / np.maximum(burn, 1.0), 36)
    mrr = f.price[idx] * f.subs[idx]
    instalment = amount * MONTHLY_RATE / (1 - (1 + MONTHLY_RATE) ** (-term.astype(float)))
    parts = {
        "runway": -0.7 * np.log(0.3 + runway),
        "churn": 22.0 * (f.churn[idx] - f.acquire[idx]).clip(-0.05, 0.08),
        "projects": 0.8 * f.projects[idx] / (1 + f.projects[idx]),
        "burden": 2.2 * instalment / np.maximum(revenue, 0.3 * mrr),
        "funding": 0.5 * f.funded[idx],
        "hidden": -0.3 * f.team[idx],
    }
    return INTERCEPT + sum(parts.values()), parts


def _day(rng, f: _Firms, rows: Rows, book: Book, d: int) -> None:
    act = np.flatnonzero((f.onboarded <= d) & (d < f.exit_day))
    f.revenue_90[d % 90] = 0.0
    f.burn_90[d % 90] = 0.0
    dom = d % 30
    if dom < 5:  # subscribers pay on the first days of the month
        paid = f.price[act] * f.subs[act] / 5 * rng.uniform(0.9, 1.1, act.size)
        f.platform_owed[act] += paid * 0.97
        f.revenue_90[d % 90, act] += paid
    if d % 7 == 2:  # the platform pays out weekly
        out = act[f.platform_owed[act] > 0]
        rows.add(d, out, IN, K.PAYOUT, f.platform_owed[out], count=1, counterparty=1_000_000)
        f.balance[out] += f.platform_owed[out]
        f.platform_owed[out] = 0
    done = act[rng.random(act.size) < f.projects[act] / 10]  # about three projects a month when 1.0
    fee = f.price[done] * f.subs[done] / 3 * rng.lognormal(-0.18, 0.6, done.size)
    rows.add(d, done, IN, K.TRANSFER, fee, counterparty=2_000_000 + done * 8 + rng.integers(0, 8, done.size))
    f.balance[done] += fee
    f.revenue_90[d % 90, done] += fee
    if dom == 0:
        _month(rng, f, rows, d, act)
    if d % 7 == 4:
        tools = f.tools[act] / 4.3 * rng.lognormal(0, 0.3, act.size)
        rows.add(d, act, OUT, K.CARD_PAYMENT, tools, count=rng.integers(1, 6, act.size))
        f.balance[act] -= tools
        f.burn_90[d % 90, act] += tools
    _loans(rng, f, rows, book, d, act)


def _month(rng, f: _Firms, rows: Rows, d: int, act: np.ndarray) -> None:
    growth = rng.normal(f.acquire[act] - f.churn[act], 0.02)
    f.subs[act] = np.maximum(f.subs[act] * (1 + growth), 1)
    # firms hire when cash allows and cut when it does not, slowly
    mrr = f.price[act] * f.subs[act] * (1 + f.projects[act])
    f.wages[act] *= np.where(f.balance[act] > 3 * f.wages[act], 1.03, np.where(f.balance[act] < f.wages[act], 0.97, 1.0))
    f.wages[act] = np.minimum(f.wages[act], 1.6 * mrr)
    rows.add(d, act, OUT, K.PAYROLL, f.wages[act], count=1 + (f.wages[act] // 5000).astype(int))
    rows.add(d, act, OUT, K.RENT, f.office[act], counterparty=3_000_000 + act)
    rows.add(d, act, OUT, K.FEE, 0.002 * mrr + 15)
    spend = f.wages[act] + f.office[act] + 0.002 * mrr + 15
    f.balance[act] -= spend
    f.burn_90[d % 90, act] += spend
    if (d // 30) % 3 == 0:
        tax = 0.05 * f.revenue_90[:, act].sum(axis=0)
        rows.add(d, act, OUT, K.TAX, tax)
        f.balance[act] -= tax
    broke = act[f.balance[act] < -f.wages[act]]
    f.exit_day[broke] = np.minimum(f.exit_day[broke], d + 1)
    raise_ = act[f.funded[act] & (f.balance[act] < 2 * f.wages[act]) & (rng.random(act.size) < 0.35)]
    money = f.wages[raise_] * rng.uniform(6, 18, raise_.size)
    rows.add(d, raise_, IN, K.OTHER, money, counterparty=4_000_000 + raise_)
    f.balance[raise_] += money


def _loans(rng, f: _Firms, rows: Rows, book: Book, d: int, act: np.ndarray) -> None:
    f.lender.collect(d, rows, f.balance)
    ok = (~f.lender.loans.active[act]) & (d - f.onboarded[act] >= 120) & (d - f.last_loan_end[act] >= 20)
    ask = act[ok & (rng.random(act.size) < 1 / 40)]
    if not ask.size:
        return
    seen = f.revenue_90[:, ask].sum(axis=0) / 3
    term = rng.choice([3, 6, 12], ask.size, p=[0.25, 0.45, 0.3])
    amount = np.maximum(np.round(seen * rng.uniform(0.5, 2.0, ask.size), -2), 1000.0)
    y, stop = f.lender.lend(rng, d, ask, amount, term, _pd_logit(f, d, ask, amount, term), book=book, rows=rows,
                            balance=f.balance)
    f.last_loan_end[ask] = d + 30 * term
    bad = ask[y == 1]
    f.exit_day[bad] = stop[y == 1] + 30
    f.churn[bad] += 0.04


def generate(*, merchants: int, days: int, seed: int) -> World:
    rng = np.random.default_rng(seed)
    f = _Firms(rng, merchants, days)
    rows, book, bal = Rows(), Book(), []
    for d in range(days):
        _day(rng, f, rows, book, d)
        act = np.flatnonzero((f.onboarded <= d) & (d < f.exit_day))
        bal.append((act.astype(np.int32), np.full(act.size, d, np.int32), f.balance[act].astype(np.float32)))
    close = np.concatenate([b[2] for b in bal]).astype(np.float64)
    return World(name="studio", days=days, rows=rows.arrays(),
                 balances={"merchant": np.concatenate([b[0] for b in bal]), "day": np.concatenate([b[1] for b in bal]),
                           "min": close, "close": close},
                 metrics=None, loans=book.arrays(), sector=f.sector.astype(str), region=f.region.astype(str),
                 established=f.established, onboarded=f.onboarded)
