"""The money flows of a chunk that several feature families read: which daily rows are revenue,
sales, expenses, refunds and chargebacks, their panels, cumulative sums and monthly rates."""

from __future__ import annotations

import numpy as np

from underwriting.features.chunk import Chunk
from underwriting.features.history import IN, KIND, OUT

REVENUE_KINDS = np.array([KIND[k] for k in ("sale", "transfer", "cash_deposit", "card_payment", "payout", "other")])
EXPENSE_KINDS = np.array([KIND[k] for k in ("fee", "supplier_payment", "payroll", "rent", "tax", "card_payment",
                                            "interest", "other")])
# Card takings: a marketplace's sales, or a bank statement's card settlements coming in from the acquirer.
SALE_KINDS = np.array([KIND[k] for k in ("sale", "card_payment")])
CLASSIFIED_EXPENSE_KINDS = np.array([KIND[k] for k in ("supplier_payment", "payroll", "rent", "tax")])
NOT_EXPENSE_KINDS = np.array([KIND[k] for k in ("refund", "chargeback", "loan_repayment")])


class Flows:
    """Panels (n, PANEL_DAYS) of the chunk's flows, their cumulative sums (`cum_...`, for Chunk.win)
    and the windows and monthly rates shared by several families."""

    def __init__(self, chunk: Chunk):
        self.chunk = chunk
        self.inflow = chunk.ddir == IN
        self.outflow = chunk.ddir == OUT
        self.history_days = chunk.history_days
        self.ok30 = self.history_days >= 30  # a month of history: enough for most rates
        self._panels(chunk)
        self._windows(chunk)

    def _panels(self, chunk: Chunk) -> None:
        kind, outflow = chunk.dkind, self.outflow
        is_sale = self.inflow & np.isin(kind, SALE_KINDS)
        self.has_sale = np.bincount(chunk.dm[is_sale], minlength=chunk.n) > 0
        # Sales one by one (kind sale), so refunds and chargebacks are rows of their own; a bank
        # statement's settlements are already net of them, and their rates would be zeros that lie.
        self.itemised_sales = np.bincount(chunk.dm[self.inflow & (kind == KIND["sale"])], minlength=chunk.n) > 0
        # A source that classifies some expenses (rent, payroll...) names them; otherwise every
        # outflow that is not a refund, chargeback or loan repayment is an expense.
        classifies = np.bincount(chunk.dm[outflow & np.isin(kind, CLASSIFIED_EXPENSE_KINDS)], minlength=chunk.n) > 0
        self.classifies = classifies
        self.revenue_rows = self.inflow & np.isin(kind, REVENUE_KINDS)
        self.revenue = chunk.panel(self.revenue_rows)
        self.card_sales = chunk.panel(is_sale)
        # The sales series: card sales, or all business inflows for a source without a sale kind.
        self.sales = np.where(self.has_sale[:, None], self.card_sales, self.revenue)
        self.outflows = chunk.panel(outflow & (kind != KIND["loan_repayment"]))
        expense_rows = outflow & np.where(classifies[chunk.dm], np.isin(kind, EXPENSE_KINDS),
                                          ~np.isin(kind, NOT_EXPENSE_KINDS))
        self.refunds = chunk.panel(outflow & (kind == KIND["refund"]))
        self.chargebacks = chunk.panel(outflow & (kind == KIND["chargeback"]))
        self.cum_revenue = chunk.cum(self.revenue)
        self.cum_sales = chunk.cum(self.sales)
        self.cum_outflows = chunk.cum(self.outflows)
        self.cum_expenses = chunk.cum(chunk.panel(expense_rows))
        self.cum_refunds = chunk.cum(self.refunds)
        self.cum_chargebacks = chunk.cum(self.chargebacks)
        self.cum_card_sales = chunk.cum(self.card_sales)
        self.cum_chargeback_count = chunk.cum(chunk.panel(outflow & (kind == KIND["chargeback"]), chunk.dcount))

    def _windows(self, chunk: Chunk) -> None:
        win, ok30, days90 = chunk.win, self.ok30, chunk.avail(90)
        self.revenue_90d = win(self.cum_revenue, 90)
        self.revenue_180d = win(self.cum_revenue, 180)
        self.revenue_365d = win(self.cum_revenue, 365)
        self.monthly_revenue = np.where(ok30, self.revenue_90d * 30.0 / days90, np.nan)
        net_rev = (self.revenue_90d - win(self.cum_refunds, 90) - win(self.cum_chargebacks, 90)) * 30.0 / days90
        self.monthly_net_revenue = np.where(ok30, np.maximum(net_rev, 0.01 * self.monthly_revenue), np.nan)
        self.net_90d = self.revenue_90d - win(self.cum_outflows, 90)
        self.net_monthly = np.where(ok30, self.net_90d * 30.0 / days90, np.nan)
        # The last 12 30-day buckets inside the history.
        self.month_seen = np.arange(12)[None, :] >= (12 - np.clip(self.history_days // 30, 0, 12)[:, None])
        self.months_seen = self.month_seen.sum(axis=1)
