"""The daily simulation: one vectorised step per UTC day over all merchants at once.

Each step draws the day's flows for every merchant (sales settlement, refunds, chargebacks,
supplier, payroll, rent, tax, fees, loans, owner drawings), pays what the cash balance allows
(obligations slip when cash is short: the "late rent" trace), originates loans at the merchants'
period boundaries and records the month-end marketplace metrics. Rows are collected as column
arrays; nothing loops over transactions in Python.
"""

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from .outcome import future_health_weights, shock_decay_mean, sigmoid, true_pd
from .params import KIND, METRICS, WorldParams
from .population import LENDER, TAX_OFFICE, Counterparties, Latent, Population, build_latent, build_population

NEVER = np.iinfo(np.int32).max // 2
IN, OUT = 0, 1
TAX_RATE = 0.02
CENTS = 100


def add_months(d: date, months: int) -> date:
    """Same day of month, clamped to the month's end (the platform's due-date rule)."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def history_start(end: date, months: int) -> date:
    return add_months(end + timedelta(days=1), -months)


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
    latent: dict = field(default_factory=dict)  # name -> list
    schedule: list = field(default_factory=list)  # per loan: remaining principal after k payments


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


class _Rows:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[tuple] = []
        self.metric_parts: list[tuple] = []

    def add(self, day: int, idx: np.ndarray, kind: str, direction: int, amount_cents: np.ndarray,
            cp, sec_lo: int, sec_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Record one row per merchant in idx (unique); returns the merchants and amounts kept."""
        keep = amount_cents >= 1
        idx, amount_cents = idx[keep], amount_cents[keep]
        if idx.size == 0:
            return idx, amount_cents
        if np.ndim(cp) == 0:
            cp_arr = np.full(idx.size, cp, dtype=np.int32)
        else:
            cp_arr = np.asarray(cp, dtype=np.int32)[keep]
        sec = self.rng.integers(sec_lo, sec_hi, size=idx.size, dtype=np.int32)
        self.parts.append((day, idx.astype(np.int32), KIND[kind], direction, amount_cents.astype(np.int64),
                           cp_arr, sec))
        return idx, amount_cents


def _cents(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x) * CENTS + 0.5).astype(np.int64)


def simulate(*, merchants: int, months: int, seed: int, end: date, params: WorldParams,
             progress: bool = False) -> World:
    start = history_start(end, months)
    days = (end - start).days + 1
    pdays = params.period_days
    periods = days // pdays + 2 + 26  # beyond the end: outcome windows of loans still running
    seeds = np.random.SeedSequence(seed).spawn(4)
    rng_pop, rng_lat, rng_day, rng_loan = (np.random.default_rng(s) for s in seeds)

    cps = Counterparties()
    pop = build_population(rng_pop, params, merchants, days, cps)
    lat = build_latent(rng_lat, params, pop, periods, days)
    lender_cp = cps.add(LENDER)
    tax_cp = cps.add(TAX_OFFICE)
    n = pop.n
    ar = np.arange(n)
    S = params.n_sectors
    sectors = params.sectors
    hz = params.hazard

    # Calendar tables.
    dates = [start + timedelta(days=i) for i in range(days)]
    dow = np.array([d.weekday() for d in dates])
    dom = np.array([d.day for d in dates])
    mon = np.array([d.month for d in dates])
    month_end = np.array([d.day == calendar.monthrange(d.year, d.month)[1] for d in dates])
    due = np.empty((days, 25), dtype=np.int32)  # due day index of instalment k for a loan made on day d
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
    promo = {(6, 18): 1.8, (11, 10): 1.4, (11, 11): 3.0, (11, 12): 1.4, (12, 12): 1.5}
    promo_sector = np.array([s.promo_days for s in sectors])

    sec_of = pop.sector.astype(np.intp)
    reg_of = pop.region.astype(np.intp)
    refund_rate = np.array([s.refund_rate for s in sectors])[sec_of]
    refund_every = np.where(refund_rate >= 0.06, 7, 14)
    cb_rate = np.array([s.chargebacks_per_month for s in sectors])[sec_of] / 30.44
    ticket = np.array([s.ticket for s in sectors])[sec_of]
    fee_rate = np.array([s.fee_rate for s in sectors])[sec_of]
    sector_risk = np.array([s.risk for s in sectors])[sec_of]
    region_risk = np.array([r.risk for r in params.regions])[reg_of]
    base_monthly = pop.base_daily * 30.44
    expense_ratio = pop.cogs + pop.payroll_ratio + pop.rent_ratio + fee_rate + TAX_RATE + 0.015
    rent_dom = 1 + pop.phase[:, 0] % 5
    pay_dom = np.array([5, 10, 15, 25])[pop.phase[:, 1] % 4]
    ext_dom = 1 + pop.phase[:, 2] % 28
    util_dom = 1 + pop.phase[:, 3] % 28
    refund_phase = pop.phase[:, 4]
    sup_phase = pop.phase[:, 5]
    b2b_phase = pop.phase[:, 6]
    cash_dow = pop.phase[:, 7] % 7
    ext_amount = _cents(pop.external_ratio * base_monthly)
    has_ext = pop.external_lender >= 0
    utilities = 0.012 * base_monthly

    # Bust-out plans: the first period start at least 4-13 months into the merchant's history.
    bust_day = np.full(n, NEVER, dtype=np.int64)
    for i in np.flatnonzero(pop.fraud):
        earliest = pop.onboard_day[i] + max(params.min_history_days, int(rng_pop.integers(120, 400)))
        first = earliest + (-(earliest + pop.period_offset[i])) % pdays
        if first < days:
            bust_day[i] = first
    spike_len = rng_pop.integers(25, 45, size=n)
    spike_mult = rng_pop.uniform(1.8, 3.5, size=n)

    # State.
    close_day = np.full(n, NEVER, dtype=np.int64)
    balance = np.zeros(n, dtype=np.int64)
    opening = np.zeros(n, dtype=np.int64)
    opened = np.zeros(n, dtype=bool)
    acc_cogs = np.zeros(n)
    acc_cash = np.zeros(n)
    acc_b2b = np.zeros(n)
    acc_refund = np.zeros(n)
    acc_fake = np.zeros(n)
    month_rev = np.zeros(n)
    last_month_rev = base_monthly.copy()
    ema_rev = base_monthly.copy()
    quarterly = base_monthly < 100_000
    tax_base = np.zeros(n)  # revenue since the last tax payment
    month_e = np.zeros(n)
    month_days = np.zeros(n)
    sales_hist = np.zeros((n, days), dtype=np.float32)
    distress1 = np.full(n, NEVER, dtype=np.int64)
    distress2 = np.full(n, NEVER, dtype=np.int64)
    withdraw_day = np.full(n, NEVER, dtype=np.int64)
    # Obligations that may be paid late: supplier, rent, payroll, tax, external debt.
    OBL = ("supplier_payment", "rent", "payroll", "tax", "loan_repayment")
    obl_amt = np.zeros((len(OBL), n), dtype=np.int64)
    obl_since = np.zeros((len(OBL), n), dtype=np.int64)
    obl_ready = np.zeros((len(OBL), n), dtype=np.int64)
    obl_cp = np.full((len(OBL), n), -1, dtype=np.int32)
    obl_cp[1] = pop.landlord
    obl_cp[3] = tax_cp
    obl_cp[4] = np.maximum(pop.external_lender, 0)
    obl_sec = ((32400, 61200), (32400, 43200), (32400, 39600), (36000, 54000), (21600, 28800))
    # Loans.
    loan_of = np.full(n, -1, dtype=np.int64)
    next_k = np.zeros(n, dtype=np.int64)
    next_due = np.full(n, NEVER, dtype=np.int64)
    in_arrears = np.zeros(n, dtype=bool)
    ever_defaulted = np.zeros(n, dtype=bool)
    n_repaid = np.zeros(n, dtype=np.int64)
    book = Loans()
    latent_names = ("fraud", "health_known", "health_future", "mu", "u", "shock_component",
                    "shock_in_term", "shock_probability", "nu", "burden", "cash_cover", "logit_known",
                    "logit_realised", "renewal", "volatility", "lateness_trait", "business_age_years")
    book.latent = {k: [] for k in latent_names}

    rows = _Rows(rng_day)

    iterator = range(days)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="simulating days", unit="day")

    for d in iterator:
        newly = (pop.onboard_day == d)
        if newly.any():
            idx = np.flatnonzero(newly)
            target = pop.buffer_months[idx] * base_monthly[idx] * expense_ratio[idx]
            balance[idx] = _cents(target * rng_day.uniform(0.5, 1.5, size=idx.size))
            opening[idx] = balance[idx]
            opened[idx] = True
        act = opened & (d < close_day)
        pidx = (d + pop.period_offset) // pdays
        e = pop.mu + lat.u[ar, pidx] + lat.c[ar, pidx]
        e = e - 0.8 * (d >= distress1) - 1.0 * (d >= distress2)
        trend = np.exp(pop.growth * (d / 30.44))
        month_e += np.where(act, e, 0.0)
        month_days += act

        # --- revenue --------------------------------------------------------------------------
        w = dow[d]
        season_f = season[sec_of, mon[d] - 1] * dow_f[sec_of, w]
        pm = promo.get((mon[d], dom[d]))
        if pm is not None:
            season_f = np.where(promo_sector[sec_of], season_f * pm, season_f)
        is_open = rng_day.random(n) < open_p[sec_of, w]
        expected = pop.base_daily * trend * season_f * np.exp(params.sales_health * e)
        vol = pop.volatility
        rev = np.where(act & is_open, expected * np.exp(vol * rng_day.standard_normal(n) - 0.5 * vol**2), 0.0)
        card = rev * (1.0 - pop.cash_share - pop.b2b_share)
        idx = np.flatnonzero(card >= 0.01)
        idx, amt = rows.add(d, idx, "sale", IN, _cents(card[idx]), pop.channel[idx], 75600, 86400)
        balance[idx] += amt
        acc_cash += rev * pop.cash_share
        acc_b2b += rev * pop.b2b_share
        acc_refund += card  # refunds and chargebacks go back through the payment channel
        acc_cogs += rev * pop.cogs
        month_rev += rev
        sales_hist[:, d] = rev

        # Bust-out: fake sales from the ring's accounts in the weeks before the loan, washed back.
        spiking = act & (d >= bust_day - spike_len) & (d < bust_day)
        if spiking.any():
            idx = np.flatnonzero(spiking & (rng_day.random(n) < 0.85))
            ramp = (d - (bust_day[idx] - spike_len[idx])) / spike_len[idx]
            fake = pop.base_daily[idx] * trend[idx] * (spike_mult[idx] - 1.0) * (0.5 + ramp) * \
                np.exp(0.3 * rng_day.standard_normal(idx.size))
            cp = pop.ring_counterparties[idx, d % 2]
            idx, amt = rows.add(d, idx, "sale", IN, _cents(fake), cp, 36000, 72000)
            balance[idx] += amt
            acc_fake[idx] += amt
            sales_hist[idx, d] += amt / CENTS
            wash = np.flatnonzero(spiking & (acc_fake > 0) & ((d + pop.phase[:, 4]) % 6 == 0))
            if wash.size:
                amt = (acc_fake[wash] * rng_day.uniform(0.6, 0.9, wash.size)).astype(np.int64)
                wash, amt = rows.add(d, wash, "transfer", OUT, amt, pop.ring_counterparties[wash, 1 - d % 2],
                                     43200, 64800)
                balance[wash] -= amt
                acc_fake[wash] = 0

        idx = np.flatnonzero(act & (pop.b2b_share > 0) & ((d + b2b_phase) % 14 == 0))
        if idx.size:
            amt = _cents(acc_b2b[idx] * np.exp(0.1 * rng_day.standard_normal(idx.size)))
            cp = pop.customers[idx, (d // 14 + pop.phase[idx, 0]) % 3]
            idx2, amt = rows.add(d, idx, "transfer", IN, amt, cp, 32400, 61200)
            balance[idx2] += amt
            acc_b2b[idx] = 0.0
        idx = np.flatnonzero(act & (pop.cash_share > 0) & (cash_dow == w))
        if idx.size:
            idx2, amt = rows.add(d, idx, "cash_deposit", IN, _cents(acc_cash[idx]), -1, 57600, 64800)
            balance[idx2] += amt
            acc_cash[idx] = 0.0

        # --- refunds and chargebacks: both rise as health falls --------------------------------
        idx = np.flatnonzero(act & ((d + refund_phase) % refund_every == 0))
        if idx.size:
            rr = np.minimum(refund_rate[idx] * np.exp(params.refund_health * e[idx]), 0.6)
            amt = _cents(acc_refund[idx] * rr * np.exp(0.2 * rng_day.standard_normal(idx.size) - 0.02))
            idx2, amt = rows.add(d, idx, "refund", OUT, amt, pop.channel[idx], 43200, 72000)
            balance[idx2] -= amt
            acc_refund[idx] = 0.0
        p_cb = cb_rate * np.exp(params.chargeback_health * e)
        idx = np.flatnonzero(act & (card > 0) & (rng_day.random(n) < p_cb))
        if idx.size:
            amt = _cents(ticket[idx] * np.exp(0.6 * rng_day.standard_normal(idx.size) - 0.18))
            idx, amt = rows.add(d, idx, "chargeback", OUT, amt, pop.channel[idx], 28800, 72000)
            balance[idx] -= amt

        # --- obligations fall due ---------------------------------------------------------------
        day_of_month = dom[d]
        new_obl = []
        idx = np.flatnonzero(act & ((d + sup_phase) % pop.supplier_interval == 0) & (acc_cogs > 0))
        new_obl.append((0, idx, _cents(acc_cogs[idx] * np.exp(0.05 * rng_day.standard_normal(idx.size))),
                        pop.suppliers[idx, (d // pop.supplier_interval[idx]) % 3]))
        acc_cogs[idx] = 0.0
        idx = np.flatnonzero(act & (rent_dom == day_of_month))
        new_obl.append((1, idx, _cents(pop.rent_ratio[idx] * base_monthly[idx] * trend[idx]), None))
        idx = np.flatnonzero(act & (pay_dom == day_of_month))
        new_obl.append((2, idx, _cents(pop.payroll_ratio[idx] * ema_rev[idx]), None))
        if day_of_month == 15:
            # Small-scale taxpayers file quarterly (January, April, July, October), the others monthly.
            due_now = ~quarterly | (mon[d] % 3 == 1)
            idx = np.flatnonzero(act & due_now)
            new_obl.append((3, idx, _cents(TAX_RATE * tax_base[idx]), None))
            tax_base[due_now] = 0.0
        idx = np.flatnonzero(act & has_ext & (ext_dom == day_of_month))
        new_obl.append((4, idx, ext_amount[idx], None))
        for t, idx, amt, cp in new_obl:
            if idx.size == 0:
                continue
            fresh = obl_amt[t, idx] == 0
            obl_since[t, idx] = np.where(fresh, d, obl_since[t, idx])
            late = rng_day.random(idx.size) < pop.late_prob[idx]
            obl_ready[t, idx] = np.where(fresh, d + late * rng_day.integers(3, 15, size=idx.size), obl_ready[t, idx])
            obl_amt[t, idx] += amt
            if cp is not None:
                obl_cp[t, idx] = cp

        if day_of_month == 1:
            idx = np.flatnonzero(act)
            idx, amt = rows.add(d, idx, "fee", OUT, _cents(fee_rate[idx] * last_month_rev[idx]), pop.channel[idx],
                                3600, 10800)
            balance[idx] -= amt
        idx = np.flatnonzero(act & (util_dom == day_of_month))
        if idx.size:
            amt = _cents(utilities[idx] * np.exp(0.15 * rng_day.standard_normal(idx.size)))
            idx, amt = rows.add(d, idx, "card_payment", OUT, amt, pop.utility[idx], 0, 86400)
            balance[idx] -= amt

        # --- our loans: disbursed earlier, instalments auto-debited on the due day --------------
        idx = np.flatnonzero(next_due == d)
        if idx.size:
            lids = loan_of[idx]
            k = next_k[idx]
            miss = np.array([book.miss_k[j] for j in lids])
            pays = (miss == 0) | (k < miss)
            payers, lp = idx[pays], lids[pays]
            if payers.size:
                terms = np.array([book.term[j] for j in lp])
                inst = np.array([book.instalment[j] for j in lp])
                last = np.array([book.schedule[j][-1] for j in lp])  # the final instalment (rounding)
                amt = np.where(next_k[payers] == terms, last, inst)
                rows.add(d, payers, "loan_repayment", OUT, amt, lender_cp, 21600, 28800)
                balance[payers] -= amt
                done = next_k[payers] == terms
                for i, j in zip(payers[done].tolist(), lp[done].tolist(), strict=True):
                    book.closed_day[j] = d
                    loan_of[i] = -1
                    n_repaid[i] += 1
                    next_due[i] = NEVER
                cont = payers[~done]
                next_k[cont] += 1
                next_due[cont] = due[np.array([book.orig_day[j] for j in loan_of[cont]], dtype=np.int64),
                                     next_k[cont]]
            stop = idx[~pays]
            next_due[stop] = NEVER
            in_arrears[stop] = True
            ever_defaulted[stop] = True

        # --- pay what can be paid: a short balance delays obligations (visible lateness) ------
        overdraft = _cents(0.15 * base_monthly * expense_ratio)
        for t in range(len(OBL)):
            pending = obl_amt[t] > 0
            if not pending.any():
                continue
            can = pending & act & (obl_ready[t] <= d) & (
                (balance - obl_amt[t] >= -overdraft) | (d - obl_since[t] >= 25))
            idx = np.flatnonzero(can)
            if idx.size:
                lo, hi = obl_sec[t]
                idx, amt = rows.add(d, idx, OBL[t], OUT, obl_amt[t, idx], obl_cp[t, idx], lo, hi)
                balance[idx] -= amt
                obl_amt[t, idx] = 0

        # Fraudsters empty the account once the loan is in.
        idx = np.flatnonzero(act & (withdraw_day == d) & (balance > 0))
        if idx.size:
            idx, amt = rows.add(d, idx, "cash_withdrawal", OUT, (balance[idx] * 0.92).astype(np.int64), -1,
                                36000, 57600)
            balance[idx] -= amt

        # --- month end: owner drawings / capital injections, metrics ----------------------------
        if month_end[d]:
            expenses = base_monthly * trend * expense_ratio
            target = _cents(pop.buffer_months * expenses)
            idx = np.flatnonzero(act & (balance > target))
            if idx.size:
                amt = ((balance[idx] - target[idx]) * rng_day.uniform(0.5, 0.9, idx.size)).astype(np.int64)
                idx, amt = rows.add(d, idx, "transfer", OUT, amt, pop.owner[idx], 64800, 75600)
                balance[idx] -= amt
            idx = np.flatnonzero(act & (balance < -_cents(0.3 * expenses)) & (rng_day.random(n) < 0.5))
            if idx.size:
                amt = _cents(expenses[idx] * rng_day.uniform(0.3, 0.8, idx.size))
                idx, amt = rows.add(d, idx, "transfer", IN, amt, pop.owner[idx], 36000, 43200)
                balance[idx] += amt
            _month_metrics(params, pop, rows, d, act, month_e, month_days, month_rev, ticket, rng_day)
            tax_base += month_rev
            last_month_rev = np.where(month_days > 0, month_rev * 30.44 / np.maximum(month_days, 1), last_month_rev)
            ema_rev = np.where(month_days > 0, 0.8 * ema_rev + 0.2 * last_month_rev, ema_rev)
            month_rev[:] = 0.0
            month_e[:] = 0.0
            month_days[:] = 0.0

        # --- period starts: natural closures and loan originations ----------------------------
        boundary = act & ((d + pop.period_offset) % pdays == 0)
        if not boundary.any():
            continue
        free = loan_of < 0
        # Decisions at a period start use the state up to yesterday (the previous period), never
        # today's innovation: the true PD integrates over it, so selecting on it would bias the book.
        prev = np.maximum(pidx - 1, 0)
        e_prev = pop.mu + lat.u[ar, prev] + lat.c[ar, prev] - 0.8 * (d > distress1) - 1.0 * (d > distress2)
        churn = boundary & free & (e_prev < -1.5) & (rng_loan.random(n) < 0.04)
        close_day[churn] = d + rng_loan.integers(1, 30, size=int(churn.sum()))
        history_ok = (d - pop.onboard_day) >= params.min_history_days
        fraud_go = boundary & pop.fraud & (bust_day == d) & free
        u_draw = rng_loan.random(n)
        demand = boundary & ~pop.fraud & free & ~ever_defaulted & history_ok & ~churn & \
            (u_draw < params.demand_per_period * np.exp(-0.25 * e_prev))
        has_loan = loan_of >= 0
        paid_half = np.zeros(n, dtype=bool)
        if has_loan.any():
            hl = np.flatnonzero(has_loan & ~in_arrears)
            terms = np.array([book.term[j] for j in loan_of[hl]], dtype=np.int64)
            ok = np.array([book.miss_k[j] == 0 for j in loan_of[hl]], dtype=bool)
            paid_half[hl] = ok & (2 * (next_k[hl] - 1) >= terms)
        renew = boundary & ~pop.fraud & paid_half & (u_draw < params.renewal_per_period)
        newl = np.flatnonzero(fraud_go | demand | renew)
        if newl.size == 0:
            continue

        # Renewals first pay off the old loan's remaining principal from the new money.
        ren = newl[renew[newl]]
        payoff = np.array([book.schedule[loan_of[i]][next_k[i] - 1] for i in ren], dtype=np.int64)

        _originate(params, hz, pop, lat, book, rows, rng_loan, d, newl, renew[newl], pidx, sales_hist, balance,
                   base_monthly, trend, expense_ratio, ext_amount, has_ext, sector_risk, region_risk, refund_rate,
                   n_repaid, due, lender_cp, days)
        for i in ren.tolist():
            book.closed_day[loan_of[i]] = d
            n_repaid[i] += 1
        if ren.size:
            ren2, amt = rows.add(d, ren, "loan_repayment", OUT, payoff, lender_cp, 64800, 68400)
            balance[ren2] -= amt
        new_ids = np.arange(len(book.merchant) - newl.size, len(book.merchant))
        loan_of[newl] = new_ids
        next_k[newl] = 1
        next_due[newl] = due[d, 1]
        in_arrears[newl] = False
        # Consequences of the simulated outcome (all after origination): distress, closure.
        for i, j in zip(newl.tolist(), new_ids.tolist(), strict=True):
            mk = book.miss_k[j]
            if mk == 0:
                continue
            due_k = int(due[d, mk])
            distress1[i] = max(d + 1, due_k - 45)
            distress2[i] = due_k + 30
            if pop.fraud[i]:
                close_day[i] = d + int(rng_loan.integers(25, 45))
                withdraw_day[i] = d + int(rng_loan.integers(1, 4))
            elif rng_loan.random() < params.post_default_close_share:
                close_day[i] = due_k + int(rng_loan.integers(20, 120))
        balance[newl] += np.array(book.amount[-newl.size:], dtype=np.int64)

    tx = _assemble(rows, n)
    metrics = _assemble_metrics(rows)
    loans = _finish_loans(book, days, due)
    return World(params=params, seed=seed, start=start, end=end, days=days, pop=pop, latent=lat,
                 counterparties=cps.names, tx=tx, metrics=metrics, loans=loans,
                 opening_balance=opening, closing_balance=balance)


def _originate(params, hz, pop, lat, book, rows, rng, d, idx, is_renewal, pidx, sales_hist, balance,
               base_monthly, trend, expense_ratio, ext_amount, has_ext, sector_risk, region_risk, refund_rate,
               n_repaid, due, lender_cp, days):
    """Size, price and draw the outcome of the loans originated today (all arrays over idx)."""
    k_n = idx.size
    fraud = pop.fraud[idx]
    terms = np.asarray(params.terms)
    tw = np.asarray(params.term_weights)
    term = np.where(fraud, 12, rng.choice(terms, size=k_n, p=tw / tw.sum()))
    # The lender sizes on what it sees: the last 90 days' inflows (inflated for a bust-out).
    observed_monthly = sales_hist[idx, max(d - 90, 0):d].sum(axis=1) / 90 * 30.44
    mult = np.exp(rng.normal(np.log(0.25 * term**0.65), 0.3))
    mult = np.where(fraud, 0.25 * term**0.65 * 1.8, mult)
    apr = rng.uniform(*params.apr_range, size=k_n)
    r = apr / 12
    annuity = r / (1 - (1 + r) ** (-term))
    cap = params.max_instalment_share * observed_monthly / annuity
    amount = np.minimum(observed_monthly * mult, np.where(fraud, np.inf, cap))
    amount = np.maximum(np.round(amount / 100) * 100, 1000.0)
    amount_c = np.round(amount * CENTS).astype(np.int64)

    # Known at origination: state at the end of the previous period (the data before today).
    p_prev = pidx[idx] - 1
    mu, u_prev, c_prev = pop.mu[idx], lat.u[idx, p_prev], lat.c[idx, p_prev]
    health_known = np.empty(k_n)
    w_real = np.empty(k_n)
    for k in np.unique(term):
        sel = term == k
        a, wts = future_health_weights(params, int(k))
        health_known[sel] = mu[sel] + a * u_prev[sel] + shock_decay_mean(params, int(k)) * c_prev[sel]
        zsel = lat.z[idx[sel][:, None], (p_prev[sel] + 1)[:, None] + np.arange(int(k))[None, :]]
        w_real[sel] = zsel @ wts
    e_prev = mu + u_prev + c_prev
    expected_revenue = base_monthly[idx] * trend[idx] * np.exp(params.sales_health * e_prev)
    net_revenue = expected_revenue * (1 - np.minimum(refund_rate[idx] * np.exp(params.refund_health * e_prev), 0.6))
    inst_c = np.floor(amount_c * annuity + 0.5).astype(np.int64)
    burden = (inst_c + np.where(has_ext[idx], ext_amount[idx], 0)) / CENTS / net_revenue
    expenses = base_monthly[idx] * trend[idx] * expense_ratio[idx]
    bal = balance[idx] / CENTS
    cover = np.log1p(np.maximum(bal, 0) / expenses)
    age_years = (d - pop.established_offset[idx]) / 365.25
    m = (hz.intercept + sector_risk[idx] + region_risk[idx] + hz.health * health_known
         + hz.burden * np.log(burden / hz.burden_ref) + hz.volatility * (pop.volatility[idx] - 0.3)
         + hz.cash_cover * cover + hz.overdrawn * (bal < 0) + hz.lateness * pop.lateness[idx]
         + hz.youth * np.maximum(0, 1 - age_years / 3) + hz.growth * pop.growth[idx]
         + hz.repeat * np.minimum(n_repaid[idx], 2) + hz.fraud * fraud)
    pd_true, q = true_pd(params, m, term)

    # Realised: the future innovations (already drawn), a new shock in the merchant's sector that
    # reaches it during the term, and idiosyncratic noise.
    off = pop.period_offset[idx]
    lo = params.period_days * p_prev - off
    hi = params.period_days * (p_prev + term) - off
    shock_hit = np.zeros(k_n, dtype=bool)
    for tau, s in zip(lat.shock_day, lat.shock_sector, strict=True):
        shock_hit |= (pop.sector[idx] == s) & (tau > lo) & (tau <= hi)
    nu = rng.normal(0.0, hz.nu_sd, size=k_n)
    logit = m + hz.health * w_real + hz.shock * shock_hit + nu
    defaulted = rng.random(k_n) < sigmoid(logit)
    miss = np.where(defaulted, np.where(fraud, 1, 1 + np.floor(term * rng.random(k_n) ** 1.4).astype(int)), 0)
    miss = np.minimum(miss, term)

    for j in range(k_n):
        t = int(term[j])
        sched = _amortise(int(amount_c[j]), float(r[j]), int(inst_c[j]), t)
        book.merchant.append(int(idx[j]))
        book.orig_day.append(d)
        book.amount.append(int(amount_c[j]))
        book.term.append(t)
        book.apr.append(float(apr[j]))
        book.instalment.append(int(inst_c[j]))
        book.true_pd.append(float(pd_true[j]))
        book.defaulted.append(bool(defaulted[j]))
        book.miss_k.append(int(miss[j]))
        book.default_day.append(int(due[d, miss[j]]) + params.default_dpd_days if miss[j] else NEVER)
        book.closed_day.append(NEVER)
        book.window_end.append(int(due[d, t]) + params.default_dpd_days)
        book.schedule.append(sched)
    lat_vals = {
        "fraud": fraud.astype(int), "health_known": health_known, "health_future": w_real, "mu": mu, "u": u_prev,
        "shock_component": c_prev, "shock_in_term": shock_hit.astype(int), "shock_probability": q, "nu": nu,
        "burden": burden, "cash_cover": cover, "logit_known": m, "logit_realised": logit,
        "renewal": is_renewal.astype(int), "volatility": pop.volatility[idx], "lateness_trait": pop.lateness[idx],
        "business_age_years": age_years,
    }
    for key, vals in lat_vals.items():
        book.latent[key].extend(np.asarray(vals).tolist())
    rows.add(d, idx, "loan_disbursement", IN, amount_c, lender_cp, 36000, 61200)


def _amortise(principal: int, r: float, inst: int, term: int) -> list[int]:
    """Remaining principal after k = 0..term-1 payments, then the final instalment (absorbs rounding)."""
    out = [principal]
    bal = principal
    for _ in range(term - 1):
        interest = int(np.floor(bal * r + 0.5))
        bal -= inst - interest
        out.append(bal)
    interest = int(np.floor(bal * r + 0.5))
    out.append(bal + interest)
    return out


def _month_metrics(params, pop, rows, d, act, month_e, month_days, month_rev, ticket, rng):
    sel = np.flatnonzero(act & pop.marketplace & (month_days >= 5))
    if sel.size == 0:
        return
    eb = month_e[sel] / month_days[sel]
    k = sel.size
    sector = pop.sector[sel].astype(np.intp)
    refund = np.array([s.refund_rate for s in params.sectors])[sector]
    vals = np.empty((len(METRICS), k))
    vals[0] = np.round(np.clip(params.marketplace_rating_mean + params.rating_health * eb + pop.rating_offset[sel]
                               + rng.normal(0, 0.08, k), 0, 5), 2)
    orders = month_rev[sel] / ticket[sel]
    vals[1] = rng.poisson(np.maximum(orders * pop.review_rate[sel], 0))
    vals[2] = np.round(np.clip(0.008 * np.exp(-0.6 * eb + rng.normal(0, 0.25, k)), 0, 1), 4)
    vals[3] = np.round(np.clip(refund * 1.2 * np.exp(-0.45 * eb + rng.normal(0, 0.2, k)), 0, 1), 4)
    vals[4] = np.round(1 / (1 + np.exp(3.2 + 0.8 * eb + rng.normal(0, 0.3, k))), 4)
    vals[5] = np.round(pop.listings[sel] * np.exp(0.15 * eb + rng.normal(0, 0.05, k)))
    rows.metric_parts.append((d, sel.astype(np.int32), vals))


def _assemble(rows: _Rows, n: int) -> dict[str, np.ndarray]:
    parts = rows.parts
    sizes = np.array([p[1].size for p in parts])
    day = np.repeat(np.array([p[0] for p in parts], dtype=np.int32), sizes)
    merchant = np.concatenate([p[1] for p in parts])
    kind = np.repeat(np.array([p[2] for p in parts], dtype=np.int8), sizes)
    direction = np.repeat(np.array([p[3] for p in parts], dtype=np.int8), sizes)
    amount = np.concatenate([p[4] for p in parts])
    cp = np.concatenate([p[5] for p in parts])
    sec = np.concatenate([p[6] for p in parts])
    # Time order within each merchant; ties keep generation order (stable sort).
    key = (merchant.astype(np.int64) * 100_000 + day) * 86_400 + sec
    order = np.argsort(key, kind="stable")
    merchant, day, sec = merchant[order], day[order], sec[order]
    kind, direction, amount, cp = kind[order], direction[order], amount[order], cp[order]
    signed = np.where(direction == IN, amount, -amount)
    return {"merchant": merchant, "day": day, "sec": sec, "kind": kind, "direction": direction, "amount": amount,
            "counterparty": cp, "signed": signed}


def _assemble_metrics(rows: _Rows) -> dict[str, np.ndarray]:
    parts = rows.metric_parts
    if not parts:
        empty = np.zeros(0, dtype=np.int32)
        return {"merchant": empty, "day": empty, "metric": empty, "value": np.zeros(0)}
    merchant, day, metric, value = [], [], [], []
    for d, sel, vals in parts:
        nm = vals.shape[0]
        merchant.append(np.repeat(sel, nm))
        day.append(np.full(sel.size * nm, d, dtype=np.int32))
        metric.append(np.tile(np.arange(nm, dtype=np.int8), sel.size))
        value.append(vals.T.reshape(-1))
    merchant = np.concatenate(merchant)
    day = np.concatenate(day)
    metric = np.concatenate(metric)
    value = np.concatenate(value)
    order = np.lexsort((metric, day, merchant))
    return {"merchant": merchant[order], "day": day[order], "metric": metric[order], "value": value[order]}


def _finish_loans(book: Loans, days: int, due) -> dict[str, np.ndarray]:
    out = {
        "merchant": np.array(book.merchant, dtype=np.int64),
        "orig_day": np.array(book.orig_day, dtype=np.int64),
        "amount": np.array(book.amount, dtype=np.int64),
        "term": np.array(book.term, dtype=np.int64),
        "apr": np.array(book.apr),
        "true_pd": np.array(book.true_pd),
        "defaulted": np.array(book.defaulted, dtype=bool),
        "default_day": np.array(book.default_day, dtype=np.int64),
        "closed_day": np.array(book.closed_day, dtype=np.int64),
        "window_end": np.array(book.window_end, dtype=np.int64),
    }
    for k, v in book.latent.items():
        out["latent_" + k] = np.array(v)
    last = days - 1
    observed_default = out["defaulted"] & (out["default_day"] <= last)
    repaid = ~out["defaulted"] & (out["closed_day"] <= last)
    # 0 current, 1 repaid, 2 defaulted
    out["status"] = np.where(observed_default, 2, np.where(repaid, 1, 0)).astype(np.int8)
    out["outcome_final"] = out["status"] != 0
    out["window_complete"] = out["window_end"] <= last
    # Loans in time order get ids in that order (ties by merchant), so ids are stable.
    order = np.lexsort((out["merchant"], out["orig_day"]))
    return {k: v[order] for k, v in out.items()}
