"""The day's flows other than our loans: onboarding, sales, bust-out washing, b2b and cash, refunds
and chargebacks, obligations falling due and being paid (late when cash is short), fees, utilities,
fraud withdrawals and the month end (owner drawings / injections, marketplace metrics).

Each function draws from the daily stream (directly or through `Rows.add`); `engine.simulate`
calls them in a fixed order, which is part of the world.
"""

import numpy as np

from underwriting.simulator.context import OBL, OBL_SEC, PROMO, TAX_RATE, Context, State, Today
from underwriting.simulator.ledger import CENTS, IN, OUT, Rows, cents
from underwriting.simulator.params import METRICS


def begin_day(cx: Context, st: State, d: int) -> Today:
    """Open the accounts of the merchants joining today; today's activity, health and trend."""
    pop, lat, tr, rng_day = cx.pop, cx.lat, cx.tr, cx.rng_day
    newly = (pop.onboard_day == d)
    if newly.any():
        idx = np.flatnonzero(newly)
        target = pop.buffer_months[idx] * tr.base_monthly[idx] * tr.expense_ratio[idx]
        st.balance[idx] = cents(target * rng_day.uniform(0.5, 1.5, size=idx.size))
        st.opening[idx] = st.balance[idx]
        st.opened[idx] = True
    act = st.opened & (d < st.close_day)
    pidx = (d + pop.period_offset) // cx.params.period_days
    e = pop.mu + lat.u[cx.ar, pidx] + lat.c[cx.ar, pidx]
    e = e - 0.8 * (d >= st.distress1) - 1.0 * (d >= st.distress2)
    trend = np.exp(pop.growth * (d / 30.44))
    st.month_e += np.where(act, e, 0.0)
    st.month_days += act
    return Today(d=d, act=act, pidx=pidx, e=e, trend=trend)


def sales(cx: Context, st: State, t: Today) -> np.ndarray:
    """The day's revenue; card sales settle today, the rest accrue. Returns the card sales."""
    params, pop, cal, tr, rng_day = cx.params, cx.pop, cx.cal, cx.tr, cx.rng_day
    d, act, e, trend, n, sec_of = t.d, t.act, t.e, t.trend, cx.n, tr.sec_of
    w = cal.dow[d]
    season_f = cal.season[sec_of, cal.mon[d] - 1] * cal.dow_f[sec_of, w]
    pm = PROMO.get((cal.mon[d], cal.dom[d]))
    if pm is not None:
        season_f = np.where(cal.promo_sector[sec_of], season_f * pm, season_f)
    is_open = rng_day.random(n) < cal.open_p[sec_of, w]
    expected = pop.base_daily * trend * season_f * np.exp(params.sales_health * e)
    vol = pop.volatility
    rev = np.where(act & is_open, expected * np.exp(vol * rng_day.standard_normal(n) - 0.5 * vol**2), 0.0)
    card = rev * (1.0 - pop.cash_share - pop.b2b_share)
    idx = np.flatnonzero(card >= 0.01)
    idx, amt = cx.rows.add(d, idx, "sale", IN, cents(card[idx]), pop.channel[idx], 75600, 86400)
    st.balance[idx] += amt
    st.acc_cash += rev * pop.cash_share
    st.acc_b2b += rev * pop.b2b_share
    st.acc_refund += card  # refunds and chargebacks go back through the payment channel
    st.acc_cogs += rev * pop.cogs
    st.month_rev += rev
    st.sales_hist[:, d] = rev
    return card


def bust_out(cx: Context, st: State, t: Today) -> None:
    """Fake sales from the ring's accounts in the weeks before the loan, washed back."""
    pop, tr, rows, rng_day, n = cx.pop, cx.tr, cx.rows, cx.rng_day, cx.n
    d, act, trend, balance, acc_fake = t.d, t.act, t.trend, st.balance, st.acc_fake
    bust_day, spike_len = tr.bust_day, tr.spike_len
    spiking = act & (d >= bust_day - spike_len) & (d < bust_day)
    if not spiking.any():
        return
    idx = np.flatnonzero(spiking & (rng_day.random(n) < 0.85))
    ramp = (d - (bust_day[idx] - spike_len[idx])) / spike_len[idx]
    fake = pop.base_daily[idx] * trend[idx] * (tr.spike_mult[idx] - 1.0) * (0.5 + ramp) * \
        np.exp(0.3 * rng_day.standard_normal(idx.size))
    cp = pop.ring_counterparties[idx, d % 2]
    idx, amt = rows.add(d, idx, "sale", IN, cents(fake), cp, 36000, 72000)
    balance[idx] += amt
    acc_fake[idx] += amt
    st.sales_hist[idx, d] += amt / CENTS
    wash = np.flatnonzero(spiking & (acc_fake > 0) & ((d + pop.phase[:, 4]) % 6 == 0))
    if wash.size:
        amt = (acc_fake[wash] * rng_day.uniform(0.6, 0.9, wash.size)).astype(np.int64)
        wash, amt = rows.add(d, wash, "transfer", OUT, amt, pop.ring_counterparties[wash, 1 - d % 2],
                             43200, 64800)
        balance[wash] -= amt
        acc_fake[wash] = 0


def b2b_and_cash(cx: Context, st: State, t: Today) -> None:
    """Big customers pay by transfer every two weeks; cash is deposited once a week."""
    pop, tr, rows, rng_day = cx.pop, cx.tr, cx.rows, cx.rng_day
    d, act = t.d, t.act
    idx = np.flatnonzero(act & (pop.b2b_share > 0) & ((d + tr.b2b_phase) % 14 == 0))
    if idx.size:
        amt = cents(st.acc_b2b[idx] * np.exp(0.1 * rng_day.standard_normal(idx.size)))
        cp = pop.customers[idx, (d // 14 + pop.phase[idx, 0]) % 3]
        idx2, amt = rows.add(d, idx, "transfer", IN, amt, cp, 32400, 61200)
        st.balance[idx2] += amt
        st.acc_b2b[idx] = 0.0
    idx = np.flatnonzero(act & (pop.cash_share > 0) & (tr.cash_dow == cx.cal.dow[d]))
    if idx.size:
        idx2, amt = rows.add(d, idx, "cash_deposit", IN, cents(st.acc_cash[idx]), -1, 57600, 64800)
        st.balance[idx2] += amt
        st.acc_cash[idx] = 0.0


def refunds_and_chargebacks(cx: Context, st: State, t: Today, card: np.ndarray) -> None:
    """Both rise as health falls."""
    params, pop, tr, rows, rng_day = cx.params, cx.pop, cx.tr, cx.rows, cx.rng_day
    d, act, e = t.d, t.act, t.e
    idx = np.flatnonzero(act & ((d + tr.refund_phase) % tr.refund_every == 0))
    if idx.size:
        rr = np.minimum(tr.refund_rate[idx] * np.exp(params.refund_health * e[idx]), 0.6)
        amt = cents(st.acc_refund[idx] * rr * np.exp(0.2 * rng_day.standard_normal(idx.size) - 0.02))
        idx2, amt = rows.add(d, idx, "refund", OUT, amt, pop.channel[idx], 43200, 72000)
        st.balance[idx2] -= amt
        st.acc_refund[idx] = 0.0
    p_cb = tr.cb_rate * np.exp(params.chargeback_health * e)
    idx = np.flatnonzero(act & (card > 0) & (rng_day.random(cx.n) < p_cb))
    if idx.size:
        amt = cents(tr.ticket[idx] * np.exp(0.6 * rng_day.standard_normal(idx.size) - 0.18))
        idx, amt = rows.add(d, idx, "chargeback", OUT, amt, pop.channel[idx], 28800, 72000)
        st.balance[idx] -= amt


def obligations_due(cx: Context, st: State, t: Today) -> None:
    """Supplier bills, rent, payroll, tax and external debt fall due (paid by `pay_obligations`)."""
    pop, cal, tr, rng_day = cx.pop, cx.cal, cx.tr, cx.rng_day
    d, act, trend = t.d, t.act, t.trend
    day_of_month = cal.dom[d]
    new_obl = []
    idx = np.flatnonzero(act & ((d + tr.sup_phase) % pop.supplier_interval == 0) & (st.acc_cogs > 0))
    new_obl.append((0, idx, cents(st.acc_cogs[idx] * np.exp(0.05 * rng_day.standard_normal(idx.size))),
                    pop.suppliers[idx, (d // pop.supplier_interval[idx]) % 3]))
    st.acc_cogs[idx] = 0.0
    idx = np.flatnonzero(act & (tr.rent_dom == day_of_month))
    new_obl.append((1, idx, cents(pop.rent_ratio[idx] * tr.base_monthly[idx] * trend[idx]), None))
    idx = np.flatnonzero(act & (tr.pay_dom == day_of_month))
    new_obl.append((2, idx, cents(pop.payroll_ratio[idx] * st.ema_rev[idx]), None))
    if day_of_month == 15:
        # Small-scale taxpayers file quarterly (January, April, July, October), the others monthly.
        due_now = ~tr.quarterly | (cal.mon[d] % 3 == 1)
        idx = np.flatnonzero(act & due_now)
        new_obl.append((3, idx, cents(TAX_RATE * st.tax_base[idx]), None))
        st.tax_base[due_now] = 0.0
    idx = np.flatnonzero(act & tr.has_ext & (tr.ext_dom == day_of_month))
    new_obl.append((4, idx, tr.ext_amount[idx], None))
    obl_amt, obl_since, obl_ready = st.obl_amt, st.obl_since, st.obl_ready
    for k, idx, amt, cp in new_obl:
        if idx.size == 0:
            continue
        fresh = obl_amt[k, idx] == 0
        obl_since[k, idx] = np.where(fresh, d, obl_since[k, idx])
        late = rng_day.random(idx.size) < pop.late_prob[idx]
        obl_ready[k, idx] = np.where(fresh, d + late * rng_day.integers(3, 15, size=idx.size), obl_ready[k, idx])
        obl_amt[k, idx] += amt
        if cp is not None:
            st.obl_cp[k, idx] = cp


def fees_and_utilities(cx: Context, st: State, t: Today) -> None:
    """The channel's monthly fee on the 1st; utility bills by card."""
    pop, tr, rows = cx.pop, cx.tr, cx.rows
    d, act = t.d, t.act
    day_of_month = cx.cal.dom[d]
    if day_of_month == 1:
        idx = np.flatnonzero(act)
        idx, amt = rows.add(d, idx, "fee", OUT, cents(tr.fee_rate[idx] * st.last_month_rev[idx]), pop.channel[idx],
                            3600, 10800)
        st.balance[idx] -= amt
    idx = np.flatnonzero(act & (tr.util_dom == day_of_month))
    if idx.size:
        amt = cents(tr.utilities[idx] * np.exp(0.15 * cx.rng_day.standard_normal(idx.size)))
        idx, amt = rows.add(d, idx, "card_payment", OUT, amt, pop.utility[idx], 0, 86400)
        st.balance[idx] -= amt


def pay_obligations(cx: Context, st: State, t: Today) -> None:
    """Pay what can be paid: a short balance delays obligations (visible lateness)."""
    tr, rows, balance = cx.tr, cx.rows, st.balance
    d, act = t.d, t.act
    obl_amt = st.obl_amt
    overdraft = cents(0.15 * tr.base_monthly * tr.expense_ratio)
    for k in range(len(OBL)):
        pending = obl_amt[k] > 0
        if not pending.any():
            continue
        can = pending & act & (st.obl_ready[k] <= d) & (
            (balance - obl_amt[k] >= -overdraft) | (d - st.obl_since[k] >= 25))
        idx = np.flatnonzero(can)
        if idx.size:
            lo, hi = OBL_SEC[k]
            idx, amt = rows.add(d, idx, OBL[k], OUT, obl_amt[k, idx], st.obl_cp[k, idx], lo, hi)
            balance[idx] -= amt
            obl_amt[k, idx] = 0


def fraud_withdrawals(cx: Context, st: State, t: Today) -> None:
    """Fraudsters empty the account once the loan is in."""
    d, balance = t.d, st.balance
    idx = np.flatnonzero(t.act & (st.withdraw_day == d) & (balance > 0))
    if idx.size:
        idx, amt = cx.rows.add(d, idx, "cash_withdrawal", OUT, (balance[idx] * 0.92).astype(np.int64), -1,
                               36000, 57600)
        balance[idx] -= amt


def month_end(cx: Context, st: State, t: Today) -> None:
    """Owner drawings / capital injections, the marketplace metrics, the month's revenue rolled over."""
    pop, tr, rows, rng_day = cx.pop, cx.tr, cx.rows, cx.rng_day
    d, act, balance = t.d, t.act, st.balance
    expenses = tr.base_monthly * t.trend * tr.expense_ratio
    target = cents(pop.buffer_months * expenses)
    idx = np.flatnonzero(act & (balance > target))
    if idx.size:
        amt = ((balance[idx] - target[idx]) * rng_day.uniform(0.5, 0.9, idx.size)).astype(np.int64)
        idx, amt = rows.add(d, idx, "transfer", OUT, amt, pop.owner[idx], 64800, 75600)
        balance[idx] -= amt
    idx = np.flatnonzero(act & (balance < -cents(0.3 * expenses)) & (rng_day.random(cx.n) < 0.5))
    if idx.size:
        amt = cents(expenses[idx] * rng_day.uniform(0.3, 0.8, idx.size))
        idx, amt = rows.add(d, idx, "transfer", IN, amt, pop.owner[idx], 36000, 43200)
        balance[idx] += amt
    month_rev, month_days = st.month_rev, st.month_days
    month_metrics(cx.params, pop, rows, d, act, st.month_e, month_days, month_rev, tr.ticket, rng_day)
    st.tax_base += month_rev
    st.last_month_rev = np.where(month_days > 0, month_rev * 30.44 / np.maximum(month_days, 1),
                                 st.last_month_rev)
    st.ema_rev = np.where(month_days > 0, 0.8 * st.ema_rev + 0.2 * st.last_month_rev, st.ema_rev)
    month_rev[:] = 0.0
    st.month_e[:] = 0.0
    month_days[:] = 0.0


def month_metrics(params, pop, rows: Rows, d, act, month_e, month_days, month_rev, ticket, rng) -> None:
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
