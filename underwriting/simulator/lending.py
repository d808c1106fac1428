"""Our loans: instalments auto-debited on the due day, and at each merchant's period start the
decisions (churn, demand, renewal, bust-out) and the originations with their simulated outcome.

Decisions and outcomes draw from the loan stream; the rows (disbursements, repayments) draw their
seconds from the daily stream through `Rows.add`. The order of the draws is part of the world.
"""

import numpy as np

from underwriting.simulator.context import Context, Loans, State, Today
from underwriting.simulator.ledger import CENTS, IN, NEVER, OUT
from underwriting.simulator.outcome import future_health_weights, shock_decay_mean, sigmoid, true_pd


def collect_instalments(cx: Context, st: State, d: int) -> None:
    """Instalments due today are debited; a loan whose outcome misses instalment k stops there."""
    book, loan_of, next_k, next_due = st.book, st.loan_of, st.next_k, st.next_due
    idx = np.flatnonzero(next_due == d)
    if not idx.size:
        return
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
        cx.rows.add(d, payers, "loan_repayment", OUT, amt, cx.lender_cp, 21600, 28800)
        st.balance[payers] -= amt
        done = next_k[payers] == terms
        for i, j in zip(payers[done].tolist(), lp[done].tolist(), strict=True):
            book.closed_day[j] = d
            loan_of[i] = -1
            st.n_repaid[i] += 1
            next_due[i] = NEVER
        cont = payers[~done]
        next_k[cont] += 1
        next_due[cont] = cx.cal.due[np.array([book.orig_day[j] for j in loan_of[cont]], dtype=np.int64),
                                    next_k[cont]]
    stop = idx[~pays]
    next_due[stop] = NEVER
    st.in_arrears[stop] = True
    st.ever_defaulted[stop] = True


def period_start(cx: Context, st: State, t: Today) -> None:
    """Natural closures and loan originations for the merchants whose period starts today."""
    boundary = t.act & ((t.d + cx.pop.period_offset) % cx.params.period_days == 0)
    if not boundary.any():
        return
    newl, renew = _applications(cx, st, t, boundary)
    if newl.size == 0:
        return
    _book_new_loans(cx, st, t, newl, renew)


def _applications(cx: Context, st: State, t: Today, boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Churn, then who takes a loan today: new demand, renewals and the bust-outs whose day it is."""
    params, pop, lat, rng_loan, n = cx.params, cx.pop, cx.lat, cx.rng_loan, cx.n
    d, ar = t.d, cx.ar
    free = st.loan_of < 0
    # Decisions at a period start use the state up to yesterday (the previous period), never
    # today's innovation: the true PD integrates over it, so selecting on it would bias the book.
    prev = np.maximum(t.pidx - 1, 0)
    e_prev = pop.mu + lat.u[ar, prev] + lat.c[ar, prev] - 0.8 * (d > st.distress1) - 1.0 * (d > st.distress2)
    churn = boundary & free & (e_prev < -1.5) & (rng_loan.random(n) < 0.04)
    st.close_day[churn] = d + rng_loan.integers(1, 30, size=int(churn.sum()))
    history_ok = (d - pop.onboard_day) >= params.min_history_days
    fraud_go = boundary & pop.fraud & (cx.tr.bust_day == d) & free
    u_draw = rng_loan.random(n)
    demand = boundary & ~pop.fraud & free & ~st.ever_defaulted & history_ok & ~churn & \
        (u_draw < params.demand_per_period * np.exp(-0.25 * e_prev))
    renew = boundary & ~pop.fraud & _paid_half(st, n) & (u_draw < params.renewal_per_period)
    return np.flatnonzero(fraud_go | demand | renew), renew


def _paid_half(st: State, n: int) -> np.ndarray:
    """Merchants with a loan in good standing that is at least half repaid (eligible to renew)."""
    book, loan_of = st.book, st.loan_of
    has_loan = loan_of >= 0
    paid_half = np.zeros(n, dtype=bool)
    if has_loan.any():
        hl = np.flatnonzero(has_loan & ~st.in_arrears)
        terms = np.array([book.term[j] for j in loan_of[hl]], dtype=np.int64)
        ok = np.array([book.miss_k[j] == 0 for j in loan_of[hl]], dtype=bool)
        paid_half[hl] = ok & (2 * (st.next_k[hl] - 1) >= terms)
    return paid_half


def _book_new_loans(cx: Context, st: State, t: Today, newl: np.ndarray, renew: np.ndarray) -> None:
    """Originate, pay off renewed loans from the new money, start the schedules, disburse."""
    d, book, loan_of, next_k = t.d, st.book, st.loan_of, st.next_k
    # Renewals first pay off the old loan's remaining principal from the new money.
    ren = newl[renew[newl]]
    payoff = np.array([book.schedule[loan_of[i]][next_k[i] - 1] for i in ren], dtype=np.int64)

    originate(cx, st, t, newl, renew[newl])
    for i in ren.tolist():
        book.closed_day[loan_of[i]] = d
        st.n_repaid[i] += 1
    if ren.size:
        ren2, amt = cx.rows.add(d, ren, "loan_repayment", OUT, payoff, cx.lender_cp, 64800, 68400)
        st.balance[ren2] -= amt
    new_ids = np.arange(len(book.merchant) - newl.size, len(book.merchant))
    loan_of[newl] = new_ids
    next_k[newl] = 1
    st.next_due[newl] = cx.cal.due[d, 1]
    st.in_arrears[newl] = False
    _consequences(cx, st, d, newl, new_ids)
    st.balance[newl] += np.array(book.amount[-newl.size:], dtype=np.int64)


def _consequences(cx: Context, st: State, d: int, newl: np.ndarray, new_ids: np.ndarray) -> None:
    """Consequences of the simulated outcome (all after origination): distress, closure."""
    params, pop, rng_loan, due = cx.params, cx.pop, cx.rng_loan, cx.cal.due
    for i, j in zip(newl.tolist(), new_ids.tolist(), strict=True):
        mk = st.book.miss_k[j]
        if mk == 0:
            continue
        due_k = int(due[d, mk])
        st.distress1[i] = max(d + 1, due_k - 45)
        st.distress2[i] = due_k + 30
        if pop.fraud[i]:
            st.close_day[i] = d + int(rng_loan.integers(25, 45))
            st.withdraw_day[i] = d + int(rng_loan.integers(1, 4))
        elif rng_loan.random() < params.post_default_close_share:
            st.close_day[i] = due_k + int(rng_loan.integers(20, 120))


def originate(cx: Context, st: State, t: Today, idx: np.ndarray, is_renewal: np.ndarray) -> None:
    """Size, price and draw the outcome of the loans originated today (all arrays over idx)."""
    params, pop, d = cx.params, cx.pop, t.d
    fraud = pop.fraud[idx]
    term, apr, r, annuity, amount_c = _size_and_price(cx, st, d, idx, fraud)
    # Known at origination: state at the end of the previous period (the data before today).
    p_prev = t.pidx[idx] - 1
    mu, u_prev, c_prev = pop.mu[idx], cx.lat.u[idx, p_prev], cx.lat.c[idx, p_prev]
    health_known, w_real = _health(cx, idx, term, p_prev, mu, u_prev, c_prev)
    inst_c = np.floor(amount_c * annuity + 0.5).astype(np.int64)
    known = _known_logit(cx, st, t, idx, fraud, mu + u_prev + c_prev, inst_c, health_known)
    pd_true, q = true_pd(params, known["logit_known"], term)
    real = _realise(cx, idx, p_prev, term, fraud, known["logit_known"], w_real)
    _record(cx, st.book, d, idx, term, apr, r, amount_c, inst_c, pd_true, real)
    lat_vals = {
        "fraud": fraud.astype(int), "health_known": health_known, "health_future": w_real, "mu": mu, "u": u_prev,
        "shock_component": c_prev, "shock_in_term": real["shock_hit"].astype(int), "shock_probability": q,
        "nu": real["nu"], "burden": known["burden"], "cash_cover": known["cover"],
        "logit_known": known["logit_known"], "logit_realised": real["logit"], "renewal": is_renewal.astype(int),
        "volatility": pop.volatility[idx], "lateness_trait": pop.lateness[idx],
        "business_age_years": known["age_years"],
    }
    for key, vals in lat_vals.items():
        st.book.latent[key].extend(np.asarray(vals).tolist())
    cx.rows.add(d, idx, "loan_disbursement", IN, amount_c, cx.lender_cp, 36000, 61200)


def _size_and_price(cx: Context, st: State, d: int, idx: np.ndarray, fraud: np.ndarray):
    """Term, APR and amount (cents); the lender sizes on what it sees (inflated for a bust-out)."""
    params, rng = cx.params, cx.rng_loan
    k_n = idx.size
    terms = np.asarray(params.terms)
    tw = np.asarray(params.term_weights)
    term = np.where(fraud, 12, rng.choice(terms, size=k_n, p=tw / tw.sum()))
    # The lender sizes on what it sees: the last 90 days' inflows (inflated for a bust-out).
    observed_monthly = st.sales_hist[idx, max(d - 90, 0):d].sum(axis=1) / 90 * 30.44
    mult = np.exp(rng.normal(np.log(0.25 * term**0.65), 0.3))
    mult = np.where(fraud, 0.25 * term**0.65 * 1.8, mult)
    apr = rng.uniform(*params.apr_range, size=k_n)
    r = apr / 12
    annuity = r / (1 - (1 + r) ** (-term))
    cap = params.max_instalment_share * observed_monthly / annuity
    amount = np.minimum(observed_monthly * mult, np.where(fraud, np.inf, cap))
    amount = np.maximum(np.round(amount / 100) * 100, 1000.0)
    amount_c = np.round(amount * CENTS).astype(np.int64)
    return term, apr, r, annuity, amount_c


def _health(cx: Context, idx, term, p_prev, mu, u_prev, c_prev) -> tuple[np.ndarray, np.ndarray]:
    """Mean health over the term as known at origination, and its realised future part."""
    params, lat = cx.params, cx.lat
    k_n = idx.size
    health_known = np.empty(k_n)
    w_real = np.empty(k_n)
    for k in np.unique(term):
        sel = term == k
        a, wts = future_health_weights(params, int(k))
        health_known[sel] = mu[sel] + a * u_prev[sel] + shock_decay_mean(params, int(k)) * c_prev[sel]
        zsel = lat.z[idx[sel][:, None], (p_prev[sel] + 1)[:, None] + np.arange(int(k))[None, :]]
        w_real[sel] = zsel @ wts
    return health_known, w_real


def _known_logit(cx: Context, st: State, t: Today, idx, fraud, e_prev, inst_c, health_known) -> dict:
    """The default logit known at origination (hazard model), with its burden and cover inputs."""
    params, pop, tr, d = cx.params, cx.pop, cx.tr, t.d
    hz = params.hazard
    trend = t.trend
    expected_revenue = tr.base_monthly[idx] * trend[idx] * np.exp(params.sales_health * e_prev)
    net_revenue = expected_revenue * (1 - np.minimum(tr.refund_rate[idx] * np.exp(params.refund_health * e_prev),
                                                     0.6))
    burden = (inst_c + np.where(tr.has_ext[idx], tr.ext_amount[idx], 0)) / CENTS / net_revenue
    expenses = tr.base_monthly[idx] * trend[idx] * tr.expense_ratio[idx]
    bal = st.balance[idx] / CENTS
    cover = np.log1p(np.maximum(bal, 0) / expenses)
    age_years = (d - pop.established_offset[idx]) / 365.25
    m = (hz.intercept + tr.sector_risk[idx] + tr.region_risk[idx] + hz.health * health_known
         + hz.burden * np.log(burden / hz.burden_ref) + hz.volatility * (pop.volatility[idx] - 0.3)
         + hz.cash_cover * cover + hz.overdrawn * (bal < 0) + hz.lateness * pop.lateness[idx]
         + hz.youth * np.maximum(0, 1 - age_years / 3) + hz.growth * pop.growth[idx]
         + hz.repeat * np.minimum(st.n_repaid[idx], 2) + hz.fraud * fraud)
    return {"logit_known": m, "burden": burden, "cover": cover, "age_years": age_years}


def _realise(cx: Context, idx, p_prev, term, fraud, m, w_real) -> dict:
    """Realised: the future innovations (already drawn), a new shock in the merchant's sector that
    reaches it during the term, and idiosyncratic noise. Draws the outcome and the missed instalment."""
    params, pop, lat, rng = cx.params, cx.pop, cx.lat, cx.rng_loan
    hz = params.hazard
    k_n = idx.size
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
    return {"shock_hit": shock_hit, "nu": nu, "logit": logit, "defaulted": defaulted, "miss": miss}


def _record(cx: Context, book: Loans, d: int, idx, term, apr, r, amount_c, inst_c, pd_true, real: dict) -> None:
    """Append the new loans to the book with their schedules and simulated outcome."""
    due, dpd = cx.cal.due, cx.params.default_dpd_days
    defaulted, miss = real["defaulted"], real["miss"]
    for j in range(idx.size):
        t = int(term[j])
        sched = amortise(int(amount_c[j]), float(r[j]), int(inst_c[j]), t)
        book.merchant.append(int(idx[j]))
        book.orig_day.append(d)
        book.amount.append(int(amount_c[j]))
        book.term.append(t)
        book.apr.append(float(apr[j]))
        book.instalment.append(int(inst_c[j]))
        book.true_pd.append(float(pd_true[j]))
        book.defaulted.append(bool(defaulted[j]))
        book.miss_k.append(int(miss[j]))
        book.default_day.append(int(due[d, miss[j]]) + dpd if miss[j] else NEVER)
        book.closed_day.append(NEVER)
        book.window_end.append(int(due[d, t]) + dpd)
        book.schedule.append(sched)


def amortise(principal: int, r: float, inst: int, term: int) -> list[int]:
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


def finish_loans(book: Loans, days: int) -> dict[str, np.ndarray]:
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
