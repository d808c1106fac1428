"""The simulation's ledger: rows collected as column arrays while the days run, assembled at the end.

Every transaction row draws its second of day from the daily stream when it is recorded, so the
order of `Rows.add` calls is part of the world (it also decides ties in the final time order).
"""

import numpy as np

from underwriting.simulator.params import KIND

NEVER = np.iinfo(np.int32).max // 2
IN, OUT = 0, 1
CENTS = 100


def cents(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x) * CENTS + 0.5).astype(np.int64)


class Rows:
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


def assemble_transactions(rows: Rows, n: int) -> dict[str, np.ndarray]:
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


def assemble_metrics(rows: Rows) -> dict[str, np.ndarray]:
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
