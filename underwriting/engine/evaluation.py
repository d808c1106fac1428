"""One evaluation of a request, as a pure function: knock-out rules, PD, score, limit, price, the
counter-offer search and the reasons.

`evaluate` takes only plain data (a feature snapshot, the business context, the request, the policy
parameters and a loaded model) and returns a `DecisionResult`. `underwriting/decisions/services.py`
loads those inputs from the database and stores the result; a replay feeds the stored snapshot back
in and must get the identical result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property

import numpy as np

from underwriting.engine.context import BusinessContext
from underwriting.engine.counter_offer import largest_acceptable
from underwriting.engine.outcomes import Outcome
from underwriting.engine.policy import PolicyParams
from underwriting.engine.pricing import (
    affordable_principal,
    instalment_allowance,
    price_breakdown,
    score_band,
    score_for,
    size_limit,
)
from underwriting.engine.product import (
    amortisation_schedule,
    effective_apr,
    origination_fee,
)
from underwriting.engine.reasons import reasons_from_contributions
from underwriting.engine.rules import RuleResult, knockout_rules
from underwriting.features import BURDEN_NAMES, FEATURES, request_features
from underwriting.money import cap_to_step, money_text, to_cents


@dataclass(frozen=True)
class DecisionResult:
    """Everything a decision decides and every input and intermediate figure behind it."""

    outcome: str
    decided_by: str  # "knockout" or "model"
    requested_amount: Decimal
    requested_term_months: int
    knockouts: list[dict]
    offered_amount: Decimal | None = None
    term_months: int | None = None
    apr: Decimal | None = None  # nominal, percent, 2 dp
    effective_apr: Decimal | None = None  # with the origination fee, percent, 2 dp
    origination_fee: Decimal | None = None
    instalment: Decimal | None = None
    total_repayable: Decimal | None = None
    schedule: dict = field(default_factory=dict)
    pd: float | None = None
    score: int | None = None
    score_band: str = ""
    raw_margin: float | None = None
    shap_values: list[float] = field(default_factory=list)
    shap_base: float | None = None
    price: dict = field(default_factory=dict)
    limit: dict = field(default_factory=dict)
    reasons: list[dict] = field(default_factory=list)
    # The features of the amount decided (the counter-offer's, or the request's); None for knock-outs
    # and for decisions replayed as they were made before counter-offers were searched.
    feature_values: list[float | None] | None = None

    def comparable(self) -> dict:
        """The fields a replay must reproduce exactly (everything but timings)."""
        return asdict(self)


def model_matrix(model, feature_names: Sequence[str], feature_values: np.ndarray) -> np.ndarray:
    """The model's input rows, in its own feature order, from rows of named values (n, len(names)) or
    one row: a feature the values lack is missing, NaN, exactly as LightGBM saw missing values in
    training."""
    position = {name: i for i, name in enumerate(feature_names)}
    take = np.array([position.get(name, -1) for name in model.feature_names], dtype=np.int64)
    values = np.atleast_2d(np.asarray(feature_values, dtype=np.float64))
    return np.where(take >= 0, values[:, np.maximum(take, 0)], np.nan)


def model_row(model, feature_names: Sequence[str], feature_values: np.ndarray) -> np.ndarray:
    """model_matrix of one snapshot: a (1, F) row."""
    return model_matrix(model, feature_names, feature_values)


_SPECS_CACHE: dict[str, list] = {}


def reason_specs(model) -> list:
    """The catalog's specs (statements, family labels) for the model's features, in model order.
    A feature the current catalog no longer has still gets a plain statement from its description."""
    key = getattr(model, "version", None) or id(model)
    if key not in _SPECS_CACHE:
        catalog = {spec.name: spec for spec in FEATURES}
        _SPECS_CACHE[key] = [
            catalog.get(name)
            or _RetiredFeature(
                name, getattr(model.specs[i], "description", name), getattr(model.specs[i], "family", "other")
            )
            for i, name in enumerate(model.feature_names)
        ]
    return _SPECS_CACHE[key]


@dataclass(frozen=True)
class _RetiredFeature:
    name: str
    description: str
    family: str

    @property
    def family_label(self) -> str:
        return self.family.replace("_", " ").capitalize()

    def statement(self, value: float | None, helped: bool = False, *, currency: str = "",
                  typical: float | None = None) -> str:
        # Its unit is no longer known: the raw number, and the typical one beside it when known.
        shown = "unknown" if value is None or value != value else f"{value:.4g}"
        if typical is None or typical != typical or shown == "unknown":
            return f"{self.description}: {shown}"
        return f"{self.description}: {shown} (typical: {typical:.4g})"


def _percent(rate: Decimal) -> Decimal:
    return to_cents(rate * 100)


def _rule_reasons(failed: Sequence[RuleResult]) -> list[dict]:
    return [
        {
            "family": "policy",
            "label": "Policy rule",
            "feature": rule.code,
            "value": None,
            "contribution": None,
            "text": rule.detail,
        }
        for rule in failed
    ]


@dataclass(frozen=True)
class _Assessment:
    """One amount of a request, priced and sized: acceptable when `failure` is None."""

    amount: Decimal
    row: np.ndarray  # the catalog's features for this amount (feature_names order)
    x: np.ndarray  # the model's (1, F) input
    pd: float
    margin: float
    price: object  # PriceBreakdown
    limit: object | None  # LimitResult (None when PD or price already failed)
    failure: str | None  # "pd", "price", a limit cap name, or None

    @property
    def acceptable(self) -> bool:
        return self.failure is None


class _Request:
    """A request as the engine weighs it at any amount: the snapshot, with the burden features
    recomputed from the stored request bases for each amount (features.request_features)."""

    def __init__(self, *, feature_names, feature_values, context, term_months, policy, model, terms):
        self.names = list(feature_names)
        self.values = np.asarray(feature_values, dtype=np.float64)
        self.context, self.term, self.policy, self.model, self.terms = context, term_months, policy, model, terms
        self.burden_at = [self.names.index(n) if n in self.names else -1 for n in BURDEN_NAMES]
        self.product_max = cap_to_step(policy.max_amount * terms.max_amount_share, policy.amount_step)

    def rows(self, amounts: Sequence[Decimal]) -> np.ndarray:
        rows = np.tile(self.values, (len(amounts), 1))
        if self.context.request_bases is not None:
            burden = request_features(self.context.request_bases, [float(a) for a in amounts], self.term)
            for j, at in enumerate(self.burden_at):
                if at >= 0:
                    rows[:, at] = burden[:, j]
        return rows

    def assess(self, amounts: Sequence[Decimal]) -> list[_Assessment]:
        rows = self.rows(amounts)
        x = model_matrix(self.model, self.names, rows)
        margins = self.model.raw_margin(x)
        pds = _pd_from_margin(self.model, x, margins)
        return [self._one(a, rows[i], x[i:i + 1], float(pds[i]), float(margins[i])) for i, a in enumerate(amounts)]

    def first_acceptable(self, amounts: Sequence[Decimal]) -> int | None:
        """The index of the first acceptable amount (for the counter-offer search, largest first). One
        batch prediction for the amounts under `amount_ceiling`; the limit is sized only for those whose
        PD and risk cap allow it, and only until one is accepted."""
        ceiling = self.amount_ceiling
        candidates = [i for i, amount in enumerate(amounts) if amount <= ceiling]
        if not candidates:
            return None
        rows = self.rows([amounts[i] for i in candidates])
        x = model_matrix(self.model, self.names, rows)
        margins = self.model.raw_margin(x)
        pds = _pd_from_margin(self.model, x, margins)
        policy = self.policy
        for j, i in enumerate(candidates):
            pd = float(pds[j])
            # The risk cap needs only the PD: an amount whose expected loss is clearly over it cannot fit
            # (the margin leaves the exact boundary to size_limit's decimal arithmetic).
            expected_loss = float(amounts[i]) * max(pd, 1e-6) * float(policy.lgd)
            if pd > float(policy.max_pd) or expected_loss > float(policy.max_expected_loss) * (1 + 1e-9):
                continue
            if self._one(amounts[i], rows[j], x[j:j + 1], pd, float(margins[j])).acceptable:
                return i
        return None

    @cached_property
    def amount_ceiling(self) -> Decimal:
        """An upper bound of every amount's limit: the caps that do not move with the amount (revenue
        multiple, exposure, product maximum) and affordability priced at the lowest rate the policy
        charges (a higher rate only lowers it)."""
        policy, context = self.policy, self.context
        share, _ = instalment_allowance(params=policy, avg_monthly_net_inflow=context.avg_monthly_net_inflow,
                                        monthly_revenue=context.monthly_revenue,
                                        monthly_debt_service=context.monthly_debt_service)
        affordable = affordable_principal(instalment=share, apr=policy.min_apr, term_months=self.term)
        return min(policy.revenue_multiple * context.monthly_revenue, policy.exposure_cap - context.existing_exposure,
                   self.product_max, affordable)

    def _one(self, amount, row, x, pd, margin) -> _Assessment:
        policy, context = self.policy, self.context
        price = price_breakdown(pd=pd, term_months=self.term, params=policy, premium=self.terms.rate_premium)
        if pd > float(policy.max_pd):
            return _Assessment(amount, row, x, pd, margin, price, None, "pd")
        if price.above_max:
            return _Assessment(amount, row, x, pd, margin, price, None, "price")
        limit = size_limit(
            requested=amount, term_months=self.term, avg_monthly_net_inflow=context.avg_monthly_net_inflow,
            monthly_revenue=context.monthly_revenue, existing_exposure=context.existing_exposure, pd=pd,
            apr=price.apr, params=policy, product_max=self.product_max,
            monthly_debt_service=context.monthly_debt_service,
        )
        return _Assessment(amount, row, x, pd, margin, price, limit, None if limit.fits else limit.binding)


def _pd_from_margin(model, x: np.ndarray, margins: np.ndarray) -> np.ndarray:
    # One booster pass for both figures (the calibrated PD is a function of the raw margin); a model
    # without the shortcut computes it again.
    shortcut = getattr(model, "pd_from_margin", None)
    return shortcut(margins) if shortcut is not None else model.pd(x)


def evaluate(
    *,
    feature_names: Sequence[str],
    feature_values: np.ndarray,
    context: BusinessContext,
    amount: Decimal,
    term_months: int,
    as_of: date,
    policy: PolicyParams,
    model,
) -> DecisionResult:
    """Decide one application from its snapshot (`feature_names`/`feature_values`: the catalog's
    features as computed for it). `model` is a loaded model (underwriting.modeling.artifact.LoadedModel):
    `.feature_names`, `.raw_margin`, `.pd`, `.contributions`, `.typical`.

    Approved when the requested amount is acceptable (PD, price and every limit cap); otherwise a
    counter-offer of the largest acceptable amount in the product's range (underwriting/engine/counter_offer.py),
    evaluated with that amount's own features, PD and price; declined only when no amount is
    acceptable. The decision's snapshot, PD, score and SHAP values are those of the amount it decides
    (`DecisionResult.feature_values`): the offer of a counter-offer, the request otherwise."""
    amount = to_cents(amount)
    rules = knockout_rules(context=context, amount=amount, term_months=term_months, policy=policy)
    failed = [rule for rule in rules if not rule.passed]
    base = {
        "requested_amount": amount,
        "requested_term_months": term_months,
        "knockouts": [rule.as_dict() for rule in rules],
    }
    if failed:
        return DecisionResult(outcome=Outcome.DECLINED, decided_by="knockout", reasons=_rule_reasons(failed), **base)

    terms = policy.terms_for(context.provenance)
    request = _Request(feature_names=feature_names, feature_values=feature_values, context=context,
                       term_months=term_months, policy=policy, model=model, terms=terms)
    asked = request.assess([amount])[0]
    if asked.acceptable:
        return _decided(Outcome.APPROVED, asked, base, context, policy, model, as_of, term_months, asked)
    if context.request_bases is None:
        # Decided before requests were weighed at other amounts: replayed as it was decided then.
        return _decided_without_search(asked, base, context, policy, model, as_of, term_months)
    best = largest_acceptable(low=policy.min_amount, high=min(amount, request.product_max), step=policy.amount_step,
                              first_acceptable=request.first_acceptable)
    if best is None:
        return _decided(Outcome.DECLINED, asked, base, context, policy, model, as_of, term_months, asked)
    offer = request.assess([best])[0]
    return _decided(Outcome.COUNTER_OFFER, offer, base, context, policy, model, as_of, term_months, asked)


def _scored(chosen: _Assessment, base: dict, policy: PolicyParams, contributions: np.ndarray) -> dict:
    score = score_for(chosen.pd, policy)
    return dict(
        base,
        decided_by="model",
        pd=chosen.pd,
        score=score,
        score_band=score_band(score, policy.score_bands),
        raw_margin=chosen.margin,
        shap_values=[float(v) for v in contributions[:-1]],
        shap_base=float(contributions[-1]),
        feature_values=[None if np.isnan(v) else float(v) for v in chosen.row.tolist()],
    )


def _reasons(model, chosen: _Assessment, contributions, direction: str, context, policy) -> list[dict]:
    return [
        r.as_dict()
        for r in reasons_from_contributions(
            specs=reason_specs(model), values=chosen.x[0], contributions=contributions, direction=direction,
            limit=policy.max_reasons, typical=getattr(model, "typical", None), currency=context.currency,
        )
    ]


def _decided(outcome, chosen: _Assessment, base, context, policy, model, as_of, term_months, asked) -> DecisionResult:
    """The result for `chosen` (the requested amount, or the counter-offer's); `asked` is the request's
    own assessment, whose failure a counter-offer or decline explains first."""
    contributions = model.contributions(chosen.x)[0]
    scored = _scored(chosen, base, policy, contributions)
    limit = chosen.limit.as_dict() if chosen.limit is not None else {}
    # The price's components travel in the stored limit (the record's JSON of sizing and pricing), so
    # the officer sees a provenance premium and what the rate is made of.
    limit["price"] = chosen.price.as_dict()
    if outcome == Outcome.DECLINED:
        # A PD over the ceiling is explained by what raised it (the adverse SHAP reasons alone); a price
        # or a limit names itself first.
        reasons = [] if asked.failure == "pd" else [_failure_reason(asked, None, context, policy, term_months)]
        reasons += _reasons(model, chosen, contributions, "adverse", context, policy)
        return DecisionResult(outcome=Outcome.DECLINED, price=chosen.price.as_dict(), limit=limit,
                              reasons=reasons[: policy.max_reasons] or _fallback_reason(asked.pd), **scored)
    if outcome == Outcome.APPROVED:
        reasons = _reasons(model, chosen, contributions, "helped", context, policy)
    else:
        limit["at_request"] = {"amount": str(asked.amount), "pd": asked.pd, "score": score_for(asked.pd, policy),
                              "failure": asked.failure,
                              "limit": asked.limit.as_dict() if asked.limit is not None else None,
                              "apr_percent": str(_percent(asked.price.apr))}
        reasons = [_failure_reason(asked, chosen.amount, context, policy, term_months)]
        reasons += _reasons(model, chosen, contributions, "adverse", context, policy)
        reasons = reasons[: policy.max_reasons]
    return _offer(outcome, chosen.amount, chosen.price, limit, reasons, scored, policy, as_of, term_months)


def _offer(outcome, principal, price, limit, reasons, scored, policy, as_of, term_months) -> DecisionResult:
    schedule = amortisation_schedule(principal=principal, apr=price.apr, term_months=term_months, disbursed_on=as_of)
    fee = origination_fee(principal, policy.origination_fee_rate)
    return DecisionResult(
        outcome=outcome,
        offered_amount=principal,
        term_months=term_months,
        apr=_percent(price.apr),
        effective_apr=effective_apr(principal=principal, fee=fee, schedule=schedule),
        origination_fee=fee,
        instalment=schedule.instalment,
        total_repayable=schedule.total_repayable,
        schedule=schedule.as_dict(),
        price=price.as_dict(),
        limit=limit,
        reasons=reasons,
        **scored,
    )


def _decided_without_search(asked, base, context, policy, model, as_of, term_months) -> DecisionResult:
    """The engine before counter-offers were searched (decisions whose context has no request bases):
    a PD or price failure declines, a limit below the request counters at the limit."""
    contributions = model.contributions(asked.x)[0]
    scored = _scored(asked, base, policy, contributions)
    scored.pop("feature_values")
    adverse = _reasons(model, asked, contributions, "adverse", context, policy)
    if asked.failure in ("pd", "price"):
        extra = [] if asked.failure == "pd" else [_price_reason(asked.price, term_months, policy)]
        reasons = (extra + adverse)[: policy.max_reasons] or _fallback_reason(asked.pd)
        return DecisionResult(outcome=Outcome.DECLINED, price=asked.price.as_dict(), reasons=reasons, **scored)
    limit = asked.limit
    reasons = [_limit_reason(limit, context, policy), *adverse][: policy.max_reasons]
    if limit.outcome == "decline":
        return DecisionResult(outcome=Outcome.DECLINED, price=asked.price.as_dict(), limit=limit.as_dict(), reasons=reasons,
                              **scored)
    return _offer(Outcome.COUNTER_OFFER, limit.offer_amount, asked.price, limit.as_dict(), reasons, scored, policy, as_of,
                  term_months)


def _failure_reason(asked: _Assessment, offered: Decimal | None, context: BusinessContext, policy: PolicyParams,
                    term_months: int) -> dict:
    """Why the requested amount was not lent in full, and what is offered instead (None: nothing)."""
    cur = context.currency
    if asked.failure == "pd":
        text = (f"At {money_text(asked.amount, cur)} the estimated chance of default is {asked.pd:.1%}, above "
                f"the {float(policy.max_pd):.0%} this product accepts.")
        reason = {"family": "overall", "label": "Overall risk", "feature": "pd", "value": asked.pd}
    elif asked.failure == "price":
        reason = _price_reason(asked.price, term_months, policy)
        text = reason["text"]
    else:
        reason = _limit_reason(asked.limit, context, policy)
        text = reason["text"]
    if offered is not None:
        text += f" {money_text(offered, cur)} is the largest amount we can lend you now."
    return {**{"value": None, "contribution": None}, **reason, "text": text}


_LIMIT_TEXT = {
    "affordability": "Repayments are limited to {share}% of your average monthly net inflow of {net} a month: "
    "at most {instalment} a month.",
    "affordability_revenue": "All loan repayments together are limited to {debt_share}% of your average monthly "
    "sales of {revenue}; after your running loans' {debt} a month, at most {instalment} a month is left for this one.",
    "revenue_multiple": "The amount is limited to {multiple} times your average monthly sales of {revenue} a month.",
    "exposure": "What you already owe or have on offer with us and other lenders ({exposure}) counts towards the "
    "most we lend to one business, one owner or one company ({cap}).",
    "risk": "The amount is limited by the expected loss we can carry at your risk level.",
    "product_max": "The product lends at most {product_max}.",
    "provenance_max": "Your history was uploaded by you and not yet confirmed by a bank or marketplace, so we "
    "lend at most {product_max} on it.",
    # Affordability with nothing to share: the money going out has matched or exceeded the money
    # coming in, so no instalment fits (a share of a negative number would read as nonsense).
    "affordability_debt": "Your running loan repayments ({debt} a month) already take more than the {debt_share}% "
    "of your average monthly sales of {revenue} that all repayments together may take, and over the last six months "
    "more money went out of the business than came in, so there is no room for another repayment.",
    "affordability_none": "Over the last six months, after your running loan repayments, more money went out "
    "of the business than came in (on average {net} a month), so there is no room for a repayment.",
}


def _limit_reason(limit, context: BusinessContext, policy: PolicyParams) -> dict:
    key = limit.binding
    _, basis = instalment_allowance(params=policy, avg_monthly_net_inflow=context.avg_monthly_net_inflow,
                                    monthly_revenue=context.monthly_revenue,
                                    monthly_debt_service=context.monthly_debt_service)
    if key == "affordability" and basis == "revenue":
        key = "affordability_revenue"
    elif key == "affordability" and context.avg_monthly_net_inflow <= 0:
        key = "affordability_debt" if policy.max_debt_service_share > 0 else "affordability_none"
    product_max = Decimal(limit.caps.get("product_max") or policy.max_amount)
    if key == "product_max" and product_max < policy.max_amount:
        key = "provenance_max"
    cur = context.currency
    return {
        "family": "limit",
        "label": "Amount limit",
        "feature": limit.binding,
        "value": None,
        "contribution": None,
        "text": _LIMIT_TEXT.get(key, "The amount is limited by policy.").format(
            share=(policy.max_instalment_share * 100).normalize(),
            debt_share=(policy.max_debt_service_share * 100).normalize(),
            debt=money_text(context.monthly_debt_service, cur),
            net=money_text(context.avg_monthly_net_inflow, cur),
            instalment=money_text(limit.affordable_instalment, cur),
            multiple=policy.revenue_multiple.normalize(),
            revenue=money_text(context.monthly_revenue, cur),
            exposure=money_text(context.existing_exposure, cur),
            cap=money_text(policy.exposure_cap, cur),
            product_max=money_text(product_max, cur),
        ),
    }


def _price_reason(price, term_months: int, policy: PolicyParams) -> dict:
    # The expected loss is spread over the term, so the same risk needs a lower rate over a longer
    # term: say so, since it is the one thing the applicant can change at once.
    longer = "" if term_months >= policy.max_term_months else " A longer term lowers the rate needed."
    return {
        "family": "price",
        "label": "Price",
        "feature": "required_apr",
        "value": float(price.apr),
        "contribution": None,
        "text": f"At this risk a {term_months}-month loan would need an APR of {_percent(price.apr)}%, "
        f"above the maximum of {_percent(policy.max_apr)}%.{longer}",
    }


def _fallback_reason(pd: float) -> list[dict]:
    # Only when no single feature pushes risk up (the base rate alone is too high): still say why.
    return [
        {
            "family": "overall",
            "label": "Overall risk",
            "feature": "pd",
            "value": pd,
            "contribution": None,
            "text": f"The estimated chance of default ({pd:.1%}) is above what this product accepts.",
        }
    ]
