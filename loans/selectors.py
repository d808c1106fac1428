"""Reads of the loans app, always scoped: an owner sees the applications and loans of the businesses
they own, a partner those of its own merchants. Someone else's id raises DoesNotExist (a 404), so
nobody can tell whether it exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from accounts.models import Business, PartnerBank, User
from config import clock

from .models import Application, Loan, LoanInstalment

DEFAULT_TERM_MONTHS = 12


def _uuid(public_id) -> UUID | None:
    try:
        return public_id if isinstance(public_id, UUID) else UUID(str(public_id))
    except (TypeError, ValueError, AttributeError):
        return None


def _applications() -> QuerySet[Application]:
    return Application.objects.select_related("business", "partner", "decision", "applicant")


def application_list_for_owner(*, user: User) -> QuerySet[Application]:
    return _applications().filter(business__owner=user).order_by("-created_at", "-id")


def application_get_for_owner(*, user: User, public_id) -> Application:
    uid = _uuid(public_id)
    if uid is None or not getattr(user, "is_authenticated", False):
        raise Application.DoesNotExist
    return application_list_for_owner(user=user).get(public_id=uid)


def application_list_for_partner(*, partner: PartnerBank) -> QuerySet[Application]:
    return _applications().filter(partner=partner).order_by("-created_at", "-id")


def application_get_for_partner(*, partner: PartnerBank, public_id) -> Application:
    uid = _uuid(public_id)
    if uid is None:
        raise Application.DoesNotExist
    return application_list_for_partner(partner=partner).get(public_id=uid)


def _loans() -> QuerySet[Loan]:
    return Loan.objects.select_related("application", "business", "partner").prefetch_related(
        Prefetch("instalments", queryset=LoanInstalment.objects.order_by("number"))
    )


def loan_list_for_owner(*, user: User) -> QuerySet[Loan]:
    return _loans().filter(business__owner=user).order_by("-created_at", "-id")


def loan_get_for_owner(*, user: User, public_id) -> Loan:
    uid = _uuid(public_id)
    if uid is None or not getattr(user, "is_authenticated", False):
        raise Loan.DoesNotExist
    return loan_list_for_owner(user=user).get(public_id=uid)


def loan_list_for_partner(*, partner: PartnerBank) -> QuerySet[Loan]:
    return _loans().filter(partner=partner).order_by("-created_at", "-id")


def loan_get_for_partner(*, partner: PartnerBank, public_id) -> Loan:
    uid = _uuid(public_id)
    if uid is None:
        raise Loan.DoesNotExist
    return loan_list_for_partner(partner=partner).get(public_id=uid)


def business_get_for_owner(*, user: User, public_id) -> Business:
    uid = _uuid(public_id)
    if uid is None or not getattr(user, "is_authenticated", False):
        raise Business.DoesNotExist
    return Business.objects.select_related("partner").get(owner=user, public_id=uid)


# ---- the suggested amount ------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    amount: Decimal | None
    term_months: int
    basis: str  # "model": the engine would approve it today; "capacity": affordability only; "none"
    note: str


def _capacity_amount(context, policy, term_months: int) -> Decimal:
    """What affordability and the revenue multiple alone allow, priced at the policy's highest APR
    (the worst price the engine can set), so the engine's own limit for the same business is no
    lower for those two caps."""
    from underwriting.pricing import affordable_principal

    share = policy.max_instalment_share * max(context.avg_monthly_net_inflow, Decimal(0))
    caps = [
        affordable_principal(instalment=share, apr=policy.max_apr, term_months=term_months) if share > 0 else Decimal(0),
        policy.revenue_multiple * context.monthly_revenue,
        policy.exposure_cap - context.existing_exposure,
        policy.max_amount,
    ]
    step = policy.amount_step
    return ((min(caps) / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(Decimal("0.01"))


def business_suggested_amount(
    *, business: Business, term_months: int = DEFAULT_TERM_MONTHS, as_of: datetime | None = None
) -> Suggestion:
    """The amount to pre-fill on the application form: the largest the engine would approve today.

    Read-only use of the engine (nothing is stored): start from what affordability (the instalment
    at most max_instalment_share of the average monthly net inflow) and the revenue multiple allow;
    evaluate it with the active model and policy; on a counter-offer, move to the offered amount and
    evaluate again (the requested amount is itself a feature, so PD moves a little with it). Same
    rollups, same as_of day, same model: the real decision then approves the suggestion. With no
    active model, the capacity estimate alone is shown."""
    from underwriting.decisions import decision_evaluate
    from underwriting.engine import business_context
    from underwriting.history_loader import load_history
    from underwriting.modeling.registry import active_model
    from underwriting.policy_services import policy_active

    as_of = as_of or clock.now()
    _, policy = policy_active()
    term_months = min(max(term_months, policy.min_term_months), policy.max_term_months)
    history = load_history(business=business, as_of=as_of)
    context = business_context(history=history, is_blocked=business.is_blocked)
    if context.history_days < policy.min_history_days:
        return Suggestion(
            None,
            term_months,
            "none",
            f"We need at least {policy.min_history_days} days of transaction history to suggest an amount.",
        )
    amount = _capacity_amount(context, policy, term_months)
    if amount < policy.min_amount:
        return Suggestion(
            None, term_months, "none", "Your recent money in and out does not support a loan of the minimum size yet."
        )
    model = active_model()
    if model is None:
        return Suggestion(amount, term_months, "capacity", "Based on what your recent sales can repay.")
    for _ in range(4):
        *_, result = decision_evaluate(history=history, is_blocked=business.is_blocked, amount=amount,
                                       term_months=term_months, as_of=as_of, policy=policy, model=model)
        if result.outcome == "approved":
            return Suggestion(amount, term_months, "model", "The largest amount we expect to approve today.")
        if result.outcome == "counter_offer" and result.offered_amount < amount:
            amount = result.offered_amount
            continue
        break
    return Suggestion(
        amount, term_months, "capacity", "Based on what your recent sales can repay; the decision may differ."
    )
