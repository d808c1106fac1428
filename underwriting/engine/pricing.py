"""Score scaling, risk-based price and limit sizing: pure functions of a PD and policy parameters.

See docs/pricing.md for the formulas, the defaults and a worked example. Rates are annual
fractions (Decimal("0.18") is 18%); amounts are Decimals in the partner's currency units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import TYPE_CHECKING

from underwriting.engine.product import annuity_instalment
from underwriting.money import CENT, ZERO, cap_to_cent, cap_to_step

if TYPE_CHECKING:
    from underwriting.engine.policy import PolicyParams

__all__ = [
    "CAP_NAMES",
    "LimitResult",
    "PriceBreakdown",
    "price_breakdown",
    "required_apr",
    "score_band",
    "score_for",
    "score_from_pd",
    "size_limit",
]

# A calibrated model never says exactly 0: below this the risk cap would be unbounded.
PD_FLOOR = Decimal("0.000001")


# ---- score -----------------------------------------------------------------------------------------


def score_from_pd(
    pd: float | Decimal,
    *,
    base_score: int = 600,
    base_odds: float | Decimal = 50,
    pdo: float | Decimal = 20,
    min_score: int = 300,
    max_score: int = 900,
) -> int:
    """The points score of a PD: `base_score` at `base_odds` good:bad, +`pdo` each time the odds double.

    score = offset + factor x ln(odds), odds = (1 - PD) / PD, factor = pdo / ln 2,
    offset = base_score - factor x ln(base_odds); rounded half-up and clamped to
    [min_score, max_score] (a PD of 0 or 1 lands on a bound instead of failing).
    """
    p = float(pd)
    if math.isnan(p):
        raise ValueError("pd is NaN")
    if p <= 0:
        return max_score
    if p >= 1:
        return min_score
    factor = float(pdo) / math.log(2)
    offset = base_score - factor * math.log(float(base_odds))
    # Scores come from floats; 1e-9 absorbs the last-bit error so 50:1 gives 600, not 599.
    raw = offset + factor * math.log((1 - p) / p)
    score = math.floor(raw + 0.5 + 1e-9)
    return max(min_score, min(max_score, score))


def score_for(pd: float | Decimal, params: PolicyParams) -> int:
    """`score_from_pd` with the policy's scaling."""
    return score_from_pd(
        pd,
        base_score=params.score_base,
        base_odds=params.score_base_odds,
        pdo=params.score_pdo,
        min_score=params.score_min,
        max_score=params.score_max,
    )


def score_band(score: int, bands: Sequence[tuple[str, int]]) -> str:
    """The label of the best band whose lowest score `score` reaches.

    `bands` is [(label, lowest score), ...] from the best band down (PolicyParams.score_bands);
    a score under every band's lowest score gets the last band.
    """
    if not bands:
        raise ValueError("no score bands")
    for label, lowest in bands:
        if score >= lowest:
            return label
    return bands[-1][0]


# ---- price -----------------------------------------------------------------------------------------


def _decimal(value: float | Decimal) -> Decimal:
    # A model's float PD as its shortest repr ("0.02", not 0.0200000000000000004163...), so a price
    # sitting exactly on a rate step is not pushed to the next one by binary noise.
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """The components of a risk-based rate (annual fractions) and the rate charged."""

    cost_of_funds: Decimal
    expected_loss: Decimal
    operating_cost: Decimal
    margin: Decimal
    unrounded: Decimal
    apr: Decimal
    floored: bool
    above_max: bool
    # Added for trust in the data (docs/provenance.md): an owner's own upload costs more.
    provenance_premium: Decimal = Decimal("0")

    def as_dict(self) -> dict:
        out = {
            "cost_of_funds": str(self.cost_of_funds),
            "expected_loss": str(self.expected_loss),
            "operating_cost": str(self.operating_cost),
            "margin": str(self.margin),
            "unrounded": str(self.unrounded),
            "apr": str(self.apr),
            "floored": self.floored,
            "above_max": self.above_max,
        }
        if self.provenance_premium:
            out["provenance_premium"] = str(self.provenance_premium)
        return out


def price_breakdown(
    *, pd: float | Decimal, term_months: int, params: PolicyParams, premium: Decimal = Decimal("0")
) -> PriceBreakdown:
    """The risk-based rate and its components; see `required_apr`. `premium` (an annual fraction) is
    added before rounding to the rate step: the price of a history the platform trusts less."""
    if term_months < 1:
        raise ValueError(f"term_months must be positive, got {term_months}")
    pd_d = _decimal(pd)
    if not 0 <= pd_d <= 1:
        raise ValueError(f"pd must be in [0, 1], got {pd}")
    with localcontext() as ctx:
        ctx.prec = 28
        expected_loss = pd_d * params.lgd * 12 / term_months
        unrounded = params.cost_of_funds + expected_loss + params.operating_cost + params.margin + premium
        stepped = (unrounded / params.rate_step).to_integral_value(rounding=ROUND_CEILING) * params.rate_step
    apr = max(stepped, params.min_apr)
    return PriceBreakdown(
        cost_of_funds=params.cost_of_funds,
        expected_loss=expected_loss,
        operating_cost=params.operating_cost,
        margin=params.margin,
        unrounded=unrounded,
        apr=apr,
        floored=stepped < params.min_apr,
        above_max=apr > params.max_apr,
        provenance_premium=premium,
    )


def required_apr(*, pd: float | Decimal, term_months: int, params: PolicyParams) -> Decimal:
    """The annual rate that covers funding, expected loss, operations and margin.

    apr = cost_of_funds + PD x LGD / (term_months / 12) + operating_cost + margin, rounded UP to
    `params.rate_step`, and at least `params.min_apr`. It is not capped: the caller declines when it
    exceeds `params.max_apr` (the legal maximum), since lending below the required rate loses money.

    The expected-loss term is an approximation. PD is over the whole term, so PD x LGD is the loss
    per unit of exposure at default over the term; dividing by the term in years spreads it per
    annum. Exposure at default is the balance outstanding when the default happens, and interest is
    earned on the balance outstanding; on an amortising loan with defaults spread over the term both
    are about the average balance, so the two cancel and the rate is a fraction of the principal.
    It ignores discounting and the timing of defaults (early defaults lose more than they paid);
    margin covers that error, and calibration of realised loss by score band will tell if it does not.
    """
    return price_breakdown(pd=pd, term_months=term_months, params=params).apr


# ---- limit -----------------------------------------------------------------------------------------

CAP_NAMES = ("affordability", "revenue_multiple", "exposure", "risk", "product_max")


@dataclass(frozen=True, slots=True)
class LimitResult:
    """How much may be lent. `caps` maps each constraint in CAP_NAMES to its amount (2 decimals,
    rounded down); `max_amount` is the smallest, rounded down to the amount step; `binding` names
    the constraint that set it (the first in CAP_NAMES on a tie).

    `outcome`: "fits" (lend the requested amount), "counter_offer" (the request is above
    max_amount but max_amount reaches the product minimum: offer max_amount) or "decline".
    """

    requested: Decimal
    max_amount: Decimal
    binding: str
    caps: dict[str, Decimal]
    fits: bool
    outcome: str
    offer_amount: Decimal | None
    affordable_instalment: Decimal

    def as_dict(self) -> dict:
        return {
            "requested": str(self.requested),
            "max_amount": str(self.max_amount),
            "binding": self.binding,
            "caps": {name: str(value) for name, value in self.caps.items()},
            "fits": self.fits,
            "outcome": self.outcome,
            "offer_amount": None if self.offer_amount is None else str(self.offer_amount),
            "affordable_instalment": str(self.affordable_instalment),
        }


def _down(amount: Decimal, step: Decimal = CENT) -> Decimal:
    if amount <= 0:
        return ZERO
    return cap_to_step(amount, step)


def affordable_principal(*, instalment: Decimal, apr: Decimal, term_months: int) -> Decimal:
    """The principal whose annuity instalment at `apr` over `term_months` is `instalment` (unrounded):
    the present value of the instalments, instalment x (1 - (1 + r)^-n) / r with r = apr / 12."""
    if instalment <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = 40
        if apr == 0:
            return instalment * term_months
        r = apr / 12
        return instalment * (1 - (1 + r) ** -term_months) / r


def instalment_allowance(
    *, params: PolicyParams, avg_monthly_net_inflow: Decimal | None, monthly_revenue: Decimal | None,
    monthly_debt_service: Decimal | None,
) -> tuple[Decimal, str]:
    """The most this loan's instalment may be, and on what it rests: "net_inflow" (max_instalment_share
    of the average monthly net inflow after running debt service: free cash flow) or "revenue"
    (max_debt_service_share of monthly revenue, less the running debt service: a holdback on sales, the
    way sales-based lenders size). Either proves capacity, so the larger counts; the model's PD at the
    amount judges the risk of it. A debt-service share of 0 (the default, and every policy version
    recorded before the parameter existed) leaves free cash flow the only basis."""
    cash_flow = params.max_instalment_share * (avg_monthly_net_inflow or ZERO)
    revenue = params.max_debt_service_share * (monthly_revenue or ZERO) - (monthly_debt_service or ZERO)
    if params.max_debt_service_share > 0 and revenue > max(cash_flow, ZERO):
        return revenue, "revenue"
    return cash_flow, "net_inflow"


def size_limit(
    *,
    requested: Decimal,
    term_months: int,
    avg_monthly_net_inflow: Decimal | None,
    monthly_revenue: Decimal | None,
    existing_exposure: Decimal,
    pd: float | Decimal,
    apr: Decimal,
    params: PolicyParams,
    product_max: Decimal | None = None,
    monthly_debt_service: Decimal | None = None,
) -> LimitResult:
    """The largest amount the policy allows and whether the request fits under it.

    Caps: affordability (the principal whose instalment at `apr` is the `instalment_allowance`),
    revenue_multiple (revenue_multiple x monthly revenue), exposure
    (exposure_cap minus what the business already owes), risk (the amount whose expected loss
    PD x LGD x amount equals max_expected_loss: a cap that shrinks as PD rises) and product_max.
    Unknown inflow or revenue (None) gives that cap 0.00: no evidence of capacity, no loan.
    `product_max` narrows `params.max_amount` (the provenance's share of it, docs/provenance.md).
    """
    if requested <= 0:
        raise ValueError(f"requested must be positive, got {requested}")
    share_target, _ = instalment_allowance(params=params, avg_monthly_net_inflow=avg_monthly_net_inflow,
                                           monthly_revenue=monthly_revenue, monthly_debt_service=monthly_debt_service)
    pd_d = max(_decimal(pd), PD_FLOOR)
    with localcontext() as ctx:
        ctx.prec = 40
        caps = {
            "affordability": _down(affordable_principal(instalment=share_target, apr=apr, term_months=term_months)),
            "revenue_multiple": _down(params.revenue_multiple * (monthly_revenue or ZERO)),
            "exposure": _down(params.exposure_cap - existing_exposure),
            "risk": _down(params.max_expected_loss / (pd_d * params.lgd)),
            "product_max": _down(params.max_amount if product_max is None else min(product_max, params.max_amount)),
        }
    binding = min(CAP_NAMES, key=lambda name: caps[name])  # min() keeps the first of equal caps
    max_amount = _down(caps[binding], params.amount_step)
    # The instalment is rounded half-up, so an amount exactly at the affordability cap can cost a
    # cent more than the share allows; one step down restores the rule.
    while max_amount > 0 and annuity_instalment(max_amount, apr, term_months) > share_target:
        max_amount = _down(max_amount - params.amount_step, params.amount_step)
    fits = requested <= max_amount
    if fits:
        outcome, offer = "fits", requested
    elif max_amount >= params.min_amount:
        outcome, offer = "counter_offer", max_amount
    else:
        outcome, offer = "decline", None
    return LimitResult(
        requested=requested,
        max_amount=max_amount,
        binding=binding,
        caps=caps,
        fits=fits,
        outcome=outcome,
        offer_amount=offer,
        affordable_instalment=cap_to_cent(share_target) if share_target > 0 else ZERO,
    )


def approval_cutoff(policy, term_months: int) -> tuple[float, int]:
    """The PD above which the model-and-policy path declines a request of `term_months` (whatever its
    amount), and its score: the lower of the policy's `max_pd` and the PD whose risk-based rate
    reaches the legal maximum `max_apr` (pricing.price_breakdown: the expected-loss rate is
    PD x LGD x 12 / term)."""
    room = policy.max_apr - policy.cost_of_funds - policy.operating_cost - policy.margin
    price_pd = float(room * term_months / (12 * policy.lgd)) if room > 0 else 0.0
    pd = max(min(float(policy.max_pd), price_pd), 1e-9)
    return pd, score_for(min(pd, 1.0), policy)
