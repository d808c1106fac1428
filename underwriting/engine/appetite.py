"""The risk appetite: what each approval cut-off costs, read from the model's own out-of-fold validation.

Training records, for the loans it scored out of fold (each by a model that never saw it), the
trade-off between approving more and defaulting more: at each approval rate, the highest PD approved
and the bad rate of the approved. It also records, among the loans such a cut-off approves, the bad rate
by how heavy the loan was against the business (the burden features the model itself reads). A risk
operator picks a target bad rate; `derive_appetite` turns it into the approval cut-off (`max_pd`) and
the sizing caps (`max_instalment_share`, `revenue_multiple`, `max_debt_service_share`) that the book
shows to hold it. The
policy version records the figures it was derived from (underwriting/policies/services.py,
docs/pricing.md, "Policy from the risk appetite").

Pure numpy: training writes the record (underwriting/modeling/train.py), the policy service reads it
as data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

APPROVAL_STEPS = 20  # the curve's rows: approval rates 5%, 10%, ..., 100%
# Band edges of the two burden measures the sizing caps correspond to. Instalment at the burden
# features' reference price over monthly net cash flow (the affordability cap's share):
SHARE_EDGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# Amount over monthly revenue (the revenue cap's multiple):
MULTIPLE_EDGES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
# All debt service (this instalment and other lenders') over monthly revenue (the debt-service share):
DEBT_SERVICE_EDGES = (0.05, 0.1, 0.15, 0.2, 0.25)
MIN_BAND_LOANS = 30  # a band with fewer approved loans is no evidence either way
# Never derived above these, whatever the book shows: an instalment of 80% of the free cash flow is a
# debt service coverage of 1.25, the usual floor of cash-flow lending; three months of sales is above
# what the field lends unsecured; sales-based lenders hold back at most about a quarter of sales
# (docs/pricing.md).
SHARE_CEILING = 0.8
MULTIPLE_CEILING = 3.0
DEBT_SERVICE_CEILING = 0.25
SHARE_FEATURE = "instalment_to_net_inflow"
MULTIPLE_FEATURE = "amount_to_monthly_revenue"
DEBT_SERVICE_FEATURE = "total_debt_service_to_revenue"
# (record key, the burden feature it bands, band edges, ceiling, the policy parameter it sets)
MEASURES = (
    ("share_bands", SHARE_FEATURE, SHARE_EDGES, SHARE_CEILING, "max_instalment_share"),
    ("multiple_bands", MULTIPLE_FEATURE, MULTIPLE_EDGES, MULTIPLE_CEILING, "revenue_multiple"),
    ("debt_service_bands", DEBT_SERVICE_FEATURE, DEBT_SERVICE_EDGES, DEBT_SERVICE_CEILING, "max_debt_service_share"),
)


class AppetiteError(ValueError):
    """The book cannot support the appetite asked for (the message says why)."""


def tradeoff_curve(pd: np.ndarray, y: np.ndarray) -> list[dict]:
    """At each approval rate (the lowest PDs approved first): the highest PD approved (the cut-off), the
    loans and defaults approved, the observed and the predicted bad rate."""
    pd, y = np.asarray(pd, dtype=np.float64), np.asarray(y, dtype=np.int64)
    n = y.size
    if n == 0:
        return []
    order = np.argsort(pd, kind="stable")
    cum_y, cum_pd = np.cumsum(y[order]), np.cumsum(pd[order])
    rows = []
    for step in range(1, APPROVAL_STEPS + 1):
        take = max(int(np.ceil(n * step / APPROVAL_STEPS)), 1)
        rows.append({"approval_rate": take / n, "max_pd": float(pd[order[take - 1]]), "loans": take,
                     "defaults": int(cum_y[take - 1]), "bad_rate": float(cum_y[take - 1] / take),
                     "expected_bad_rate": float(cum_pd[take - 1] / take)})
    return rows


def burden_bands(measure: np.ndarray, y: np.ndarray, edges: tuple[float, ...]) -> list[dict]:
    """Loans, defaults and bad rate per band of `measure` (upper edges; the last band is open). Rows whose
    measure is unknown are left out."""
    measure, y = np.asarray(measure, dtype=np.float64), np.asarray(y, dtype=np.int64)
    known = ~np.isnan(measure)
    band = np.searchsorted(np.asarray(edges), measure[known], side="left")
    yk = y[known]
    rows, lower = [], 0.0
    for i, upper in enumerate((*edges, None)):
        inside = band == i
        loans = int(inside.sum())
        defaults = int(yk[inside].sum())
        rows.append({"lower": lower, "upper": upper, "loans": loans, "defaults": defaults,
                     "bad_rate": defaults / loans if loans else None})
        lower = upper
    return rows


def appetite_record(pd: np.ndarray, y: np.ndarray, features: dict[str, np.ndarray]) -> dict:
    """What training stores: the trade-off curve and, per curve row, the approved loans' bad rate by
    burden band (`features` maps the MEASURES' burden features to their columns; a missing one gives no
    bands)."""
    pd, y = np.asarray(pd, dtype=np.float64), np.asarray(y, dtype=np.int64)
    curve = tradeoff_curve(pd, y)
    for row in curve:
        approved = pd <= row["max_pd"]
        for key, name, edges, _ceiling, _param in MEASURES:
            column = features.get(name)
            row[key] = burden_bands(column[approved], y[approved], edges) if column is not None else []
    return {"source": "out-of-fold", "loans": int(y.size), "defaults": int(y.sum()), "curve": curve}


@dataclass(frozen=True)
class Appetite:
    """A target bad rate turned into policy parameters, with the curve row and bands it rests on."""

    target_bad_rate: float
    max_pd: float
    approval_rate: float
    bad_rate: float
    loans: int
    # The sizing caps (None: the book shows no band with evidence that holds)
    max_instalment_share: float | None
    revenue_multiple: float | None
    max_debt_service_share: float | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _largest_edge(bands: list[dict], bound: float, ceiling: float) -> float | None:
    """The heaviest burden the book shows lending at: walking the bands from the lightest up, the upper
    edge (the ceiling for the open last band) of the last band with a bad rate within `bound`. A band
    with fewer than MIN_BAND_LOANS loans is no evidence either way and is passed over; the walk stops
    at the first band with evidence that breaks the bound (a heavier loan is no safer than a lighter
    one that failed). None when no band has evidence that holds."""
    best = None
    for band in bands:
        if band["loans"] < MIN_BAND_LOANS:
            continue
        if band["bad_rate"] > bound:
            break
        best = ceiling if band["upper"] is None else min(band["upper"], ceiling)
    return best


def derive_appetite(record: dict, target_bad_rate: float) -> Appetite:
    """The highest approval rate whose approved loans defaulted at most `target_bad_rate` (observed out
    of fold), its cut-off PD, and the sizing caps its approved loans support: the heaviest burden band
    whose loans defaulted no more often than the cut-off's own PD, the riskiest single loan the policy
    accepts (a band judged against the book's average would be judged against loans far safer than
    the marginal ones the cut-off already takes)."""
    if not 0 < target_bad_rate < 1:
        raise AppetiteError(f"the target bad rate must be between 0 and 1, got {target_bad_rate}")
    curve = record.get("curve") or []
    if not curve:
        raise AppetiteError("the model records no trade-off curve (trained before it was recorded): retrain it")
    within = [row for row in curve if row["bad_rate"] <= target_bad_rate]
    if not within:
        lowest = min(row["bad_rate"] for row in curve)
        raise AppetiteError(f"no cut-off keeps the approved loans' bad rate within {target_bad_rate:.2%}: the "
                            f"lowest on this model's validation is {lowest:.2%} (at {curve[0]['approval_rate']:.0%} "
                            "approved)")
    row = max(within, key=lambda r: r["approval_rate"])
    caps = {param: _largest_edge(row.get(key, []), row["max_pd"], ceiling) for key, _f, _e, ceiling, param in MEASURES}
    return Appetite(target_bad_rate=target_bad_rate, max_pd=row["max_pd"], approval_rate=row["approval_rate"],
                    bad_rate=row["bad_rate"], loans=row["loans"], **caps)
