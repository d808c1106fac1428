"""Reads of applications and loans, scoped to the owner or the partner who may see them (docs/domain.md,
"Tenancy")."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Business, PartnerBank, User
from config import clock
from loans.applications.models import UNDECIDED_STATUSES, Application, ApplicationStatus, Loan, LoanInstalment
from underwriting.decisions.models import Decision


def as_uuid(public_id) -> UUID | None:
    """The UUID a public id stands for, or None for anything that is not one (a 404, not a 500)."""
    try:
        return public_id if isinstance(public_id, UUID) else UUID(str(public_id))
    except (TypeError, ValueError, AttributeError):
        return None


def owner_uuid(*, user: User, public_id) -> UUID | None:
    """The UUID an owner's page asks for, or None (a 404) when it is not one or nobody is logged in."""
    uid = as_uuid(public_id)
    return uid if uid is not None and getattr(user, "is_authenticated", False) else None


def _applications() -> QuerySet[Application]:
    return Application.objects.select_related("business", "partner", "decision", "applicant")


def application_list_for_owner(*, user: User) -> QuerySet[Application]:
    return _applications().filter(business__owner=user).order_by("-created_at", "-id")


def application_get_for_owner(*, user: User, public_id) -> Application:
    uid = owner_uuid(user=user, public_id=public_id)
    if uid is None:
        raise Application.DoesNotExist
    return application_list_for_owner(user=user).get(public_id=uid)


def application_status_for_owner(*, user: User, public_id) -> Application:
    """The owner's application with only what its progress poll shows (status, and the decision's
    outcome for the heading): the poll runs every quarter second while a decision is awaited, and the
    decision's snapshot, SHAP values and schedule are not read for it."""
    uid = owner_uuid(user=user, public_id=public_id)
    if uid is None:
        raise Application.DoesNotExist
    return (Application.objects.filter(business__owner=user, public_id=uid)
            .select_related("decision").only("public_id", "status", "decision__outcome").get())


def application_list_for_partner(*, partner: PartnerBank) -> QuerySet[Application]:
    return _applications().filter(partner=partner).order_by("-created_at", "-id")


def application_get_for_partner(*, partner: PartnerBank, public_id) -> Application:
    uid = as_uuid(public_id)
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
    uid = owner_uuid(user=user, public_id=public_id)
    if uid is None:
        raise Loan.DoesNotExist
    return loan_list_for_owner(user=user).get(public_id=uid)


def loan_list_for_partner(*, partner: PartnerBank) -> QuerySet[Loan]:
    return _loans().filter(partner=partner).order_by("-created_at", "-id")


def loan_get_for_partner(*, partner: PartnerBank, public_id) -> Loan:
    uid = as_uuid(public_id)
    if uid is None:
        raise Loan.DoesNotExist
    return loan_list_for_partner(partner=partner).get(public_id=uid)


def application_in_progress(*, business: Business) -> Application | None:
    """The business's application that is being decided or whose offer is still open, if any."""
    return (
        Application.objects.filter(business=business)
        .filter(
            Q(status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.DECIDING])
            | Q(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.COUNTER_OFFERED],
                offer_expires_at__gt=clock.now())
        )
        .order_by("-created_at", "-id")
        .first()
    )


def applications_missing_their_decision() -> QuerySet[Application]:
    """Applications in a decided status without a decision, or pointing to a decision row that is not
    there: the foreign key and the check constraint hold against the app, not against someone who
    deletes decisions in SQL with triggers and constraints switched off (verify_decisions)."""
    dangling = Q(decision_id__isnull=False) & ~Exists(Decision.objects.filter(pk=OuterRef("decision_id")))
    return Application.objects.filter(
        (Q(decision_id__isnull=True) & ~Q(status__in=UNDECIDED_STATUSES)) | dangling).order_by("pk")
