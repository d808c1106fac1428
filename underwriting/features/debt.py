"""Existing debt and loan history: prior loans of the credit record, what is still owed on them, and
the debt service the flows show (in part owed to lenders outside the credit record)."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import div
from underwriting.features.burden import REFERENCE_APR
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows
from underwriting.features.history import CURRENT, DEFAULTED, KIND, REPAID


def debt_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    """Also sets f["largest_prior_loan"] and f["external_service"] (request bases of the burden)."""
    _loan_record(chunk, flows, f)
    _debt_service(chunk, flows, f)
    disbursed = chunk.panel(flows.inflow & (chunk.dkind == KIND["loan_disbursement"]), np.ones_like(chunk.dtotal))
    f["loan_disbursements_180d"] = np.where(flows.history_days >= 30,
                                            disbursed[:, PANEL_DAYS - 180:].sum(axis=1), np.nan)


def _loan_record(chunk: Chunk, flows: Flows, f) -> None:
    n, merchant, status = chunk.n, chunk.lm, chunk.lstatus

    def count(sel):
        return np.bincount(merchant[sel], minlength=n).astype(float)

    f["prior_loans_repaid"] = count(status == REPAID)
    f["prior_loans_defaulted"] = count(status == DEFAULTED)
    f["prior_loans_current"] = count(status == CURRENT)
    latest = np.full(n, -1, dtype=np.int64)
    if merchant.size:
        np.maximum.at(latest, merchant, chunk.lorig)
    f["months_since_last_loan"] = np.where(latest >= 0, np.floor((chunk.as_of - latest) / 30.44), np.nan)
    largest = np.zeros(n)
    if merchant.size:
        np.maximum.at(largest, merchant, chunk.lamount)
    f["largest_prior_loan"] = np.where(largest > 0, largest, np.nan)
    # Running loans at the reference rate: remaining principal after the months elapsed.
    monthly_rate = REFERENCE_APR / 12.0
    growth = (1 + monthly_rate) ** chunk.lterm
    elapsed = np.clip(np.floor((chunk.as_of[merchant] - chunk.lorig) / 30.44), 0, chunk.lterm)
    remaining = chunk.lamount * (growth - (1 + monthly_rate) ** elapsed) / (growth - 1)
    owed = np.bincount(merchant, weights=np.where(status == CURRENT, remaining, 0.0), minlength=n)
    f["outstanding_principal_to_revenue"] = div(owed, flows.monthly_revenue)


def _debt_service(chunk: Chunk, flows: Flows, f) -> None:
    """Debt service from the flows: the median of the last three 30-day repayment totals (a renewal's
    lump-sum payoff is not a monthly instalment); what the credit record does not explain is owed to
    other lenders."""
    hist = flows.history_days
    repay = flows.outflow & (chunk.dkind == KIND["loan_repayment"])

    def monthly_service(rows):
        last3 = chunk.months(chunk.panel(rows), 3)
        return np.where(hist >= 90, np.median(last3, axis=1), np.where(hist >= 30, last3[:, -1], np.nan))

    service = monthly_service(repay)
    external = monthly_service(repay & ~_record_due_days(chunk))
    f["external_service"] = np.where(np.isnan(external), 0.0, external)
    f["debt_service_to_revenue_90d"] = div(service, flows.monthly_revenue)
    f["external_debt_service_to_revenue"] = div(external, flows.monthly_revenue)


def _record_due_days(chunk: Chunk) -> np.ndarray:
    """Per daily row, whether it falls on a due day of a loan in the credit record: instalments fall
    due on the origination's day of the month (clamped to the month's end)."""
    n, merchant = chunk.n, chunk.lm
    recent = chunk.lorig >= chunk.as_of[merchant] - PANEL_DAYS
    lender_dom = np.zeros((n, 33), dtype=bool)
    orig = chunk.lorig.astype("datetime64[D]")
    orig_dom = (orig - orig.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    lender_dom[merchant[recent], orig_dom[recent]] = True
    later = np.flip(np.logical_or.accumulate(np.flip(lender_dom, axis=1), axis=1), axis=1)  # any due day >= d
    dom = chunk.ddom
    return lender_dom[chunk.dm, dom] | ((dom == chunk.dmlen) & later[chunk.dm, np.minimum(dom, 32)])
