"""Reads of the loans app, always scoped: an owner sees the applications and loans of the businesses
they own, a partner those of its own merchants. Someone else's id raises DoesNotExist (a 404), so
nobody can tell whether it exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from accounts.models import Business, PartnerBank, User
from config import clock
from underwriting.decisions import NoActiveModel, decision_preview
from underwriting.policy_services import policy_active

from .exposure import exposure_read, related_parties
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
    basis: str  # "model": the engine would lend it now; "none": it would not lend now (see note)
    note: str


def business_suggested_amount(
    *, business: Business, term_months: int = DEFAULT_TERM_MONTHS, as_of: datetime | None = None
) -> Suggestion:
    """The amount to pre-fill on the application form: what the engine would offer now for a request
    of the most the product lends, through the decision's own path (`decision_preview`: the same
    history, exposure, provenance, policy and model as a decision; nothing is stored). A counter-offer
    is the largest amount it would lend; an approval, the product maximum itself."""
    as_of = as_of or clock.now()
    _, policy = policy_active()
    term_months = min(max(term_months, policy.min_term_months), policy.max_term_months)
    exposure = exposure_read(parties=related_parties(business=business), now=as_of)
    try:
        result = decision_preview(business=business, amount=policy.max_amount, term_months=term_months,
                                  as_of=as_of, exposure=exposure)
    except NoActiveModel:
        return Suggestion(None, term_months, "none", "Decisions are paused for a moment; please try again soon.")
    if result.offered_amount is None:
        because = result.reasons[0]["text"] if result.reasons else ""
        return Suggestion(None, term_months, "none", f"We could not lend to this business today. {because}".strip())
    return Suggestion(result.offered_amount, term_months, "model", "The most we would lend you today.")
