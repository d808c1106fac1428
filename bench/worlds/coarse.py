"""The same world seen through a plain bank statement: what a bank partner without marketplace data has.

A bank statement knows three kinds of line (`card_payment`, `transfer`, `other`), no counterparty
names and no balance column, and no marketplace metrics. Card takings arrive as one settlement a day
from the acquirer, net of that day's refunds and chargebacks; every bank transfer in or out (customers,
suppliers, wages, rent, tax, loans) is a `transfer`; cash and bank charges are `other`. The credit
record (the lender's own loans) is kept: a bank knows what it lent.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from underwriting.features import BalanceRows, CounterpartyRows, DailyRows, MerchantHistory, MetricRows
from underwriting.kinds import Direction, TransactionKind

K = TransactionKind
IN, OUT = int(Direction.IN), int(Direction.OUT)
CARD, TRANSFER, OTHER = int(K.CARD_PAYMENT), int(K.TRANSFER), int(K.OTHER)
_CARD_NETTED = {int(K.REFUND), int(K.CHARGEBACK)}
_TO_TRANSFER = {int(k) for k in (K.TRANSFER, K.PAYOUT, K.SUPPLIER_PAYMENT, K.PAYROLL, K.RENT, K.TAX,
                                 K.LOAN_DISBURSEMENT, K.LOAN_REPAYMENT)}


def _coarse_kind(direction: np.ndarray, kind: np.ndarray) -> np.ndarray:
    out = np.full(kind.size, OTHER, np.int8)
    out[np.isin(kind, list(_TO_TRANSFER))] = TRANSFER
    out[(kind == int(K.SALE)) | (kind == CARD)] = CARD
    return out


def coarse_daily(rows: DailyRows) -> DailyRows:
    """Daily rows as a bank statement would give them (see the module docstring)."""
    day, direction, kind = rows.day, rows.direction.astype(np.int64), rows.kind.astype(np.int64)
    total, count, largest = rows.total.copy(), rows.count.astype(np.int64), rows.max.copy()
    netted = np.isin(kind, list(_CARD_NETTED))
    # a day's refunds and chargebacks come off that day's settlement; no settlement that day: a debit
    new_kind = _coarse_kind(direction, kind)
    new_dir = direction.copy()
    new_kind[netted] = CARD
    card_in = (new_kind == CARD) & (direction == IN)
    new_count = np.where(card_in, 1, count)  # one settlement a day, however many sales
    signed = np.where(netted, -total, total)
    key = (day.astype(np.int64) * 4 + np.where(netted, IN, new_dir)) * 32 + new_kind
    order = np.argsort(key, kind="stable")
    ks = key[order]
    if not ks.size:
        return rows
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ks)) + 1))
    t = np.add.reduceat(signed[order], starts)
    c = np.add.reduceat(new_count[order], starts)
    m = np.maximum.reduceat(np.where(netted, 0.0, largest)[order], starts)
    u = ks[starts]
    d_, dir_, k_ = u // 128, (u // 32) % 4, u % 32
    # a net debit settlement becomes an outgoing card line
    neg = t < 0
    dir_ = np.where(neg, OUT, dir_)
    t = np.abs(t)
    m = np.where(neg | (k_ == CARD) & (dir_ == IN), np.minimum(np.maximum(m, 0), t), m)
    keep = t > 0
    return DailyRows.build(d_[keep], dir_[keep], k_[keep], np.where(neg, 1, c)[keep], t[keep],
                           np.where(m[keep] > 0, m[keep], t[keep]))


def coarse(history: MerchantHistory) -> MerchantHistory:
    """The history as a bank statement gives it: three kinds, no counterparties, balances or metrics."""
    return replace(history, daily=coarse_daily(history.daily), counterparties=CounterpartyRows.build(),
                   balances=BalanceRows.build(), metrics=MetricRows.build())
