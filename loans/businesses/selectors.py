"""An owner's businesses as the owner's pages show them: where each stands, its next step and the
suggested amount (from the engine's one sizing path, `decision_preview`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from accounts.models import Business, User
from accounts.selectors import business_list_for_owner
from config import clock
from loans.applications.exposure import OPEN_LOAN_STATUSES, exposure_read, related_parties
from loans.applications.models import Application, Loan
from loans.applications.selectors import application_in_progress, owner_uuid
from underwriting.decisions.services import NoActiveModel, decision_preview
from underwriting.history.models import Transaction
from underwriting.history.selectors import HistorySummary, business_history_summary, history_provenance
from underwriting.policies.services import policy_active
from underwriting.provenance import Provenance

DEFAULT_TERM_MONTHS = 12


def business_replaceable_by_demo(*, business: Business) -> bool:
    """Whether a demo merchant claimed from this business's "Link history" page may replace it: the
    business has no history and no application yet (loans.businesses.services.business_claim_demo)."""
    return not (
        Transaction.objects.filter(business_id=business.pk).exists()
        or Application.objects.filter(business_id=business.pk).exists()
    )


def business_get_for_owner(*, user: User, public_id) -> Business:
    uid = owner_uuid(user=user, public_id=public_id)
    if uid is None:
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


# ---- the owner's dashboard -----------------------------------------------------------------------


class BusinessState:
    """Where a business stands, each with the owner's next action (templates/loans/home.html)."""

    NO_HISTORY = "no_history"  # link its transaction history
    DECIDING = "deciding"  # an application is being decided: see it
    OFFER = "offer"  # an offer waits for the owner's answer: see it, accept or reject
    LOAN = "loan"  # a loan is open (awaiting payout or running): see it
    READY = "ready"  # history linked, nothing open: apply (with the suggested amount)


@dataclass(frozen=True)
class BusinessOverview:
    business: Business
    history: HistorySummary
    state: str
    application: Application | None  # the application in progress (DECIDING, OFFER)
    loan: Loan | None  # the open loan (LOAN)
    suggestion: Suggestion | None  # READY only
    history_source: str  # where the linked history comes from, in the owner's words ("" if none)


HISTORY_SOURCE_WORDS = {
    Provenance.SIMULATED: "Simulated history from the demo marketplace",
    Provenance.OWNER_UPLOAD: "History you uploaded",
    Provenance.PARTNER_FEED: "History sent by your bank or marketplace",
}


def business_overview_for_owner(*, user: User, suggest: bool = True) -> list[BusinessOverview]:
    """Every business of the owner (by name) with where it stands and what to do next. A business has
    one application in progress and one open loan at a time (docs/exposure.md): one with either shows
    it, rather than "Apply", which would be refused or knocked out. `suggest` False skips the suggested
    amounts (a preview of the decision each)."""
    now = clock.now()
    out = []
    for business in business_list_for_owner(user=user):
        history = business_history_summary(business_id=business.pk)
        application = application_in_progress(business=business)
        loan = None
        suggestion = None
        if application is not None:
            state = BusinessState.DECIDING if application.is_pending else BusinessState.OFFER
        else:
            loan = (Loan.objects.filter(business=business, status__in=OPEN_LOAN_STATUSES)
                    .order_by("-created_at", "-id").first())
            if loan is not None:
                state = BusinessState.LOAN
            elif not history.transaction_count:
                state = BusinessState.NO_HISTORY
            else:
                state = BusinessState.READY
                suggestion = business_suggested_amount(business=business, as_of=now) if suggest else None
        source = ""
        if history.transaction_count:
            provenance = history_provenance(business_id=business.pk, before=history.last_day + timedelta(days=1))
            source = HISTORY_SOURCE_WORDS.get(provenance.provenance, "")
        out.append(BusinessOverview(business, history, state, application, loan, suggestion, source))
    return out
