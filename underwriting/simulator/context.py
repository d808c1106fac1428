"""What the daily step reads and writes: calendar tables, per-merchant traits derived from the
population (fixed for the whole run) and the mutable state (balances, accruals, obligations, loans).

Only the bust-out plans draw random numbers here (from the population stream, right after the
population and the latent paths are built); everything else is arithmetic on the population.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from underwriting.simulator.ledger import NEVER, Rows, cents
from underwriting.simulator.params import WorldParams
from underwriting.simulator.population import Latent, Population

TAX_RATE = 0.02
# Obligations that may be paid late: supplier, rent, payroll, tax, external debt.
OBL = ("supplier_payment", "rent", "payroll", "tax", "loan_repayment")
OBL_SEC = ((32400, 61200), (32400, 43200), (32400, 39600), (36000, 54000), (21600, 28800))
PROMO = {(6, 18): 1.8, (11, 10): 1.4, (11, 11): 3.0, (11, 12): 1.4, (12, 12): 1.5}
LATENT_NAMES = ("fraud", "health_known", "health_future", "mu", "u", "shock_component",
                "shock_in_term", "shock_probability", "nu", "burden", "cash_cover", "logit_known",
                "logit_realised", "renewal", "volatility", "lateness_trait", "business_age_years")


def add_months(d: date, months: int) -> date:
    """Same day of month, clamped to the month's end (the platform's due-date rule)."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


@dataclass
class Calendar:
    dow: np.ndarray
    dom: np.ndarray
    mon: np.ndarray
    month_end: np.ndarray
    due: np.ndarray  # (days, 25): due day index of instalment k for a loan made on day d
    season: np.ndarray  # (sectors, 12), mean 1 per sector
    open_p: np.ndarray  # (sectors, 7): probability of trading on a weekday
    dow_f: np.ndarray  # (sectors, 7): weekday revenue factor
    promo_sector: np.ndarray


def build_calendar(params: WorldParams, start: date, days: int) -> Calendar:
    sectors = params.sectors
    S = params.n_sectors
    dates = [start + timedelta(days=i) for i in range(days)]
    dow = np.array([d.weekday() for d in dates])
    dom = np.array([d.day for d in dates])
    mon = np.array([d.month for d in dates])
    month_end = np.array([d.day == calendar.monthrange(d.year, d.month)[1] for d in dates])
    due = np.empty((days, 25), dtype=np.int32)
    for i, d in enumerate(dates):
        for k in range(25):
            due[i, k] = (add_months(d, k) - start).days

    season = np.array([s.season for s in sectors])
    season = season / season.mean(axis=1, keepdims=True)
    open_p = np.full((S, 7), 0.93)
    dow_f = np.ones((S, 7))
    for si, s in enumerate(sectors):
        dow_f[si, 5:] = s.weekend_factor
        if s.closed_weekday >= 0:
            open_p[si, s.closed_weekday] = 0.1
    dow_f /= (open_p * dow_f).mean(axis=1, keepdims=True)  # weekly mean revenue factor = 1
    promo_sector = np.array([s.promo_days for s in sectors])
    return Calendar(dow=dow, dom=dom, mon=mon, month_end=month_end, due=due, season=season, open_p=open_p,
                    dow_f=dow_f, promo_sector=promo_sector)


@dataclass
class Traits:
    """Per-merchant constants derived from the population (arrays over merchants)."""

    sec_of: np.ndarray
    refund_rate: np.ndarray
    refund_every: np.ndarray
    cb_rate: np.ndarray
    ticket: np.ndarray
    fee_rate: np.ndarray
    sector_risk: np.ndarray
    region_risk: np.ndarray
    base_monthly: np.ndarray
    expense_ratio: np.ndarray
    rent_dom: np.ndarray
    pay_dom: np.ndarray
    ext_dom: np.ndarray
    util_dom: np.ndarray
    refund_phase: np.ndarray
    sup_phase: np.ndarray
    b2b_phase: np.ndarray
    cash_dow: np.ndarray
    ext_amount: np.ndarray
    has_ext: np.ndarray
    utilities: np.ndarray
    quarterly: np.ndarray  # small-scale taxpayers file quarterly
    bust_day: np.ndarray  # bust-out plans: the day of the loan (NEVER for the honest)
    spike_len: np.ndarray  # days of fake sales before it
    spike_mult: np.ndarray


def build_traits(rng_pop: np.random.Generator, params: WorldParams, pop: Population, days: int) -> Traits:
    """The traits; the bust-out plans draw from the population stream (after the population)."""
    sectors = params.sectors
    sec_of = pop.sector.astype(np.intp)
    reg_of = pop.region.astype(np.intp)
    refund_rate = np.array([s.refund_rate for s in sectors])[sec_of]
    fee_rate = np.array([s.fee_rate for s in sectors])[sec_of]
    base_monthly = pop.base_daily * 30.44
    bust_day, spike_len, spike_mult = _bust_plans(rng_pop, params, pop, days)
    return Traits(
        sec_of=sec_of,
        refund_rate=refund_rate,
        refund_every=np.where(refund_rate >= 0.06, 7, 14),
        cb_rate=np.array([s.chargebacks_per_month for s in sectors])[sec_of] / 30.44,
        ticket=np.array([s.ticket for s in sectors])[sec_of],
        fee_rate=fee_rate,
        sector_risk=np.array([s.risk for s in sectors])[sec_of],
        region_risk=np.array([r.risk for r in params.regions])[reg_of],
        base_monthly=base_monthly,
        expense_ratio=pop.cogs + pop.payroll_ratio + pop.rent_ratio + fee_rate + TAX_RATE + 0.015,
        rent_dom=1 + pop.phase[:, 0] % 5,
        pay_dom=np.array([5, 10, 15, 25])[pop.phase[:, 1] % 4],
        ext_dom=1 + pop.phase[:, 2] % 28,
        util_dom=1 + pop.phase[:, 3] % 28,
        refund_phase=pop.phase[:, 4],
        sup_phase=pop.phase[:, 5],
        b2b_phase=pop.phase[:, 6],
        cash_dow=pop.phase[:, 7] % 7,
        ext_amount=cents(pop.external_ratio * base_monthly),
        has_ext=pop.external_lender >= 0,
        utilities=0.012 * base_monthly,
        quarterly=base_monthly < 100_000,
        bust_day=bust_day,
        spike_len=spike_len,
        spike_mult=spike_mult,
    )


def _bust_plans(rng_pop: np.random.Generator, params: WorldParams, pop: Population,
                days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bust-out plans: the first period start at least 4-13 months into the merchant's history."""
    pdays = params.period_days
    bust_day = np.full(pop.n, NEVER, dtype=np.int64)
    for i in np.flatnonzero(pop.fraud):
        earliest = pop.onboard_day[i] + max(params.min_history_days, int(rng_pop.integers(120, 400)))
        first = earliest + (-(earliest + pop.period_offset[i])) % pdays
        if first < days:
            bust_day[i] = first
    spike_len = rng_pop.integers(25, 45, size=pop.n)
    spike_mult = rng_pop.uniform(1.8, 3.5, size=pop.n)
    return bust_day, spike_len, spike_mult


@dataclass
class Context:
    """Everything fixed for a run, plus the ledger and the two streams the days draw from."""

    params: WorldParams
    pop: Population
    lat: Latent
    cal: Calendar
    tr: Traits
    rows: Rows
    rng_day: np.random.Generator
    rng_loan: np.random.Generator
    lender_cp: int
    tax_cp: int
    days: int
    ar: np.ndarray  # arange(n), to pick each merchant's own period

    @property
    def n(self) -> int:
        return self.pop.n


@dataclass
class Today:
    d: int
    act: np.ndarray  # opened and not closed
    pidx: np.ndarray  # each merchant's health period
    e: np.ndarray  # today's health
    trend: np.ndarray


@dataclass
class Loans:
    merchant: list = field(default_factory=list)
    orig_day: list = field(default_factory=list)
    amount: list = field(default_factory=list)  # cents
    term: list = field(default_factory=list)
    apr: list = field(default_factory=list)
    instalment: list = field(default_factory=list)
    true_pd: list = field(default_factory=list)
    defaulted: list = field(default_factory=list)  # simulated outcome within term + 90 days
    miss_k: list = field(default_factory=list)
    default_day: list = field(default_factory=list)  # day index reaching 90 DPD (may be past the end)
    closed_day: list = field(default_factory=list)  # repaid in full or renewed (NEVER if not yet)
    window_end: list = field(default_factory=list)
    latent: dict = field(default_factory=lambda: {k: [] for k in LATENT_NAMES})  # name -> list
    schedule: list = field(default_factory=list)  # per loan: remaining principal after k payments


@dataclass
class State:
    """The mutable state of every merchant (arrays over merchants) and the loan book."""

    close_day: np.ndarray
    balance: np.ndarray
    opening: np.ndarray
    opened: np.ndarray
    acc_cogs: np.ndarray
    acc_cash: np.ndarray
    acc_b2b: np.ndarray
    acc_refund: np.ndarray
    acc_fake: np.ndarray
    month_rev: np.ndarray
    last_month_rev: np.ndarray
    ema_rev: np.ndarray
    tax_base: np.ndarray  # revenue since the last tax payment
    month_e: np.ndarray
    month_days: np.ndarray
    sales_hist: np.ndarray  # (n, days)
    distress1: np.ndarray
    distress2: np.ndarray
    withdraw_day: np.ndarray
    obl_amt: np.ndarray  # (len(OBL), n)
    obl_since: np.ndarray
    obl_ready: np.ndarray
    obl_cp: np.ndarray
    loan_of: np.ndarray
    next_k: np.ndarray
    next_due: np.ndarray
    in_arrears: np.ndarray
    ever_defaulted: np.ndarray
    n_repaid: np.ndarray
    book: Loans


def new_state(pop: Population, tr: Traits, days: int, tax_cp: int) -> State:
    n = pop.n
    obl_cp = np.full((len(OBL), n), -1, dtype=np.int32)
    obl_cp[1] = pop.landlord
    obl_cp[3] = tax_cp
    obl_cp[4] = np.maximum(pop.external_lender, 0)
    return State(
        close_day=np.full(n, NEVER, dtype=np.int64), balance=np.zeros(n, dtype=np.int64),
        opening=np.zeros(n, dtype=np.int64), opened=np.zeros(n, dtype=bool),
        acc_cogs=np.zeros(n), acc_cash=np.zeros(n), acc_b2b=np.zeros(n), acc_refund=np.zeros(n),
        acc_fake=np.zeros(n), month_rev=np.zeros(n), last_month_rev=tr.base_monthly.copy(),
        ema_rev=tr.base_monthly.copy(), tax_base=np.zeros(n), month_e=np.zeros(n), month_days=np.zeros(n),
        sales_hist=np.zeros((n, days), dtype=np.float32),
        distress1=np.full(n, NEVER, dtype=np.int64), distress2=np.full(n, NEVER, dtype=np.int64),
        withdraw_day=np.full(n, NEVER, dtype=np.int64),
        obl_amt=np.zeros((len(OBL), n), dtype=np.int64), obl_since=np.zeros((len(OBL), n), dtype=np.int64),
        obl_ready=np.zeros((len(OBL), n), dtype=np.int64), obl_cp=obl_cp,
        loan_of=np.full(n, -1, dtype=np.int64), next_k=np.zeros(n, dtype=np.int64),
        next_due=np.full(n, NEVER, dtype=np.int64), in_arrears=np.zeros(n, dtype=bool),
        ever_defaulted=np.zeros(n, dtype=bool), n_repaid=np.zeros(n, dtype=np.int64), book=Loans(),
    )
