"""Exposure as the lending workflow sees it: open platform loans, open offers and the credit record's
current imported loans of a business and its related parties, read under a row lock
(docs/exposure.md). The engine gets the result as plain data (underwriting.engine.exposure.Exposure).

Related parties, within the business's partner: every business of the same owner, and every business
with the same company registration number. The decision locks all of them before reading, and so does
an acceptance; two applications of the same company therefore decide and accept one after the other,
each seeing what the other left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q

from accounts.models import Business
from loans.applications.models import Application, ApplicationStatus, Loan, LoanStatus
from underwriting.engine.exposure import BUSINESS, OWNER, REGISTRATION, ZERO, Exposure, PartyExposure
from underwriting.history.selectors import credit_record_imported_exposure
from underwriting.money import to_cents_half_even

# Platform loans that still owe money (servicing will add its running states here).
OPEN_LOAN_STATUSES = (LoanStatus.AWAITING_DISBURSEMENT, LoanStatus.DISBURSED)
OPEN_OFFER_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.COUNTER_OFFERED)


@dataclass(frozen=True)
class Parties:
    """Business ids per scope (None: the scope does not apply, e.g. a business without an owner)."""

    business: tuple[int, ...]
    owner: tuple[int, ...] | None
    registration: tuple[int, ...] | None

    def scopes(self) -> list[tuple[str, tuple[int, ...]]]:
        out = [(BUSINESS, self.business)]
        if self.owner is not None:
            out.append((OWNER, self.owner))
        if self.registration is not None:
            out.append((REGISTRATION, self.registration))
        return out

    def all_ids(self) -> list[int]:
        return sorted({pk for _, ids in self.scopes() for pk in ids})


def related_parties(*, business: Business) -> Parties:
    return _parties(business, lock=False)


def parties_lock(*, business: Business) -> Parties:
    """Locks the rows of the business and its related parties (in primary-key order, so two lockers
    never wait on each other in a cycle) and returns the parties. Call inside a transaction."""
    return _parties(business, lock=True)


def _parties(business: Business, *, lock: bool) -> Parties:
    """The business and its related parties in one statement (which, locking, also decides the set:
    no party can join between reading the set and locking it), with a flag per scope for each row."""
    match, flags = Q(pk=business.pk), {}
    if business.owner_id is not None:
        match |= Q(owner_id=business.owner_id)
        flags["same_owner"] = ExpressionWrapper(Q(owner_id=business.owner_id), output_field=BooleanField())
    number = (business.registration_number or "").strip()
    if number:
        same_number = Q(registration_number__iexact=number)
        match |= same_number
        flags["same_registration"] = ExpressionWrapper(same_number, output_field=BooleanField())
    rows = Business.objects.filter(match, partner_id=business.partner_id)
    if lock:
        rows = rows.select_for_update()
    found = list(rows.annotate(**flags).order_by("pk").values("pk", *flags))
    return Parties(
        business=(business.pk,),
        owner=tuple(r["pk"] for r in found if r["same_owner"]) if "same_owner" in flags else None,
        registration=tuple(r["pk"] for r in found if r["same_registration"]) if "same_registration" in flags else None,
    )


_LOAN, _OFFER = 1, 2


def _money(value) -> Decimal:
    # SQLite hands numerics back as floats or ints: their shortest text is the stored amount.
    # Banker's rounding as it always was: the text of a stored 2-decimal amount never has a tie anyway.
    return value if isinstance(value, Decimal) else to_cents_half_even(value)


def _platform_rows(ids: list[int], now: datetime, exclude_application_id: int | None):
    """(business id, _LOAN or _OFFER, amount) of the open platform loans and open offers of `ids`, in
    one statement (the decision's path reads it on every decision)."""
    marks = ", ".join(["%s"] * len(ids))
    loan_states = ", ".join(["%s"] * len(OPEN_LOAN_STATUSES))
    offer_states = ", ".join(["%s"] * len(OPEN_OFFER_STATUSES))
    loan, application = Loan._meta.db_table, Application._meta.db_table
    decision = Application._meta.get_field("decision").related_model._meta.db_table
    sql = (
        f"SELECT business_id, {_LOAN}, principal FROM {loan} WHERE business_id IN ({marks}) AND status IN ({loan_states}) "
        f"UNION ALL SELECT a.business_id, {_OFFER}, d.offered_amount FROM {application} a "
        f"JOIN {decision} d ON d.id = a.decision_id WHERE a.business_id IN ({marks}) AND a.status IN ({offer_states}) "
        "AND (a.offer_expires_at IS NULL OR a.offer_expires_at > %s) AND a.id <> %s"
    )
    params = [*ids, *OPEN_LOAN_STATUSES, *ids, *OPEN_OFFER_STATUSES,
              connection.ops.adapt_datetimefield_value(now), exclude_application_id or 0]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def exposure_read(
    *, parties: Parties, now: datetime, exclude_application_id: int | None = None
) -> Exposure:
    """The exposure of each scope at `now`: outstanding principal of open platform loans (no
    repayments are recorded yet, so the whole principal), the amount of every offer still open
    (`exclude_application_id`: the application being decided or accepted itself), and the estimated
    outstanding principal of imported loans the credit record says are current."""
    ids = parties.all_ids()
    loans: dict[int, list[Decimal]] = {pk: [] for pk in ids}
    offers: dict[int, Decimal] = dict.fromkeys(ids, ZERO)
    for business_id, what, amount in _platform_rows(ids, now, exclude_application_id):
        if what == _LOAN:
            loans[business_id].append(_money(amount))
        else:
            offers[business_id] += _money(amount)
    imported = credit_record_imported_exposure(business_ids=ids, on=now.date())
    parties_out = []
    for scope, members in parties.scopes():
        parties_out.append(PartyExposure(
            scope=scope,
            businesses=len(members),
            open_platform_loans=sum(len(loans[pk]) for pk in members),
            platform_outstanding=sum((sum(loans[pk], ZERO) for pk in members), ZERO),
            open_offers=sum((offers[pk] for pk in members), ZERO),
            imported_outstanding=sum((imported[pk].outstanding for pk in members), ZERO),
            imported_current_loans=sum(imported[pk].current_loans for pk in members),
        ))
    return Exposure(parties=tuple(parties_out), read_at=now.isoformat())
