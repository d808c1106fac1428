from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Min, Sum

from underwriting.engine.product import estimated_outstanding
from underwriting.history.models import (
    DailyRollup,
    Direction,
    HistorySource,
    LoanRecord,
    LoanRecordSource,
    LoanRecordStatus,
    TransactionKind,
)
from underwriting.money import ZERO, to_cents
from underwriting.provenance import least_trusted


@dataclass(frozen=True)
class HistorySummary:
    first_day: date | None
    last_day: date | None
    transaction_count: int
    sales_90d: Decimal
    inflow_90d: Decimal
    outflow_90d: Decimal

    @property
    def months(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return ((self.last_day - self.first_day).days + 1) // 30


def _to_units(minor: int | None) -> Decimal:
    return to_cents(Decimal(minor or 0) / 100)


def business_history_summary(*, business_id: int) -> HistorySummary:
    """A merchant's history at a glance, from the rollups (never the raw transactions)."""
    rollups = DailyRollup.objects.filter(business_id=business_id)
    span = rollups.aggregate(first=Min("day"), last=Max("day"), n=Sum("count"))
    if span["last"] is None:
        return HistorySummary(None, None, 0, ZERO, ZERO, ZERO)
    recent = rollups.filter(day__gt=span["last"] - timedelta(days=90))
    inflow = recent.filter(direction=Direction.IN).aggregate(s=Sum("total_minor"))["s"]
    outflow = recent.filter(direction=Direction.OUT).aggregate(s=Sum("total_minor"))["s"]
    sales = recent.filter(direction=Direction.IN, kind=TransactionKind.SALE).aggregate(s=Sum("total_minor"))["s"]
    return HistorySummary(
        first_day=span["first"],
        last_day=span["last"],
        transaction_count=span["n"] or 0,
        sales_90d=_to_units(sales),
        inflow_90d=_to_units(inflow),
        outflow_90d=_to_units(outflow),
    )


@dataclass(frozen=True)
class ImportedExposure:
    outstanding: Decimal
    current_loans: int


def credit_record_imported_exposure(*, business_ids: list[int], on: date) -> dict[int, ImportedExposure]:
    """Per business: the imported loans its credit record says are still current (platform loans are
    the lending workflow's to count), at their estimated outstanding principal on `on`."""
    out = {pk: ImportedExposure(ZERO, 0) for pk in business_ids}
    rows = LoanRecord.objects.filter(
        business_id__in=business_ids, source=LoanRecordSource.IMPORTED, status=LoanRecordStatus.CURRENT,
        originated_on__lte=on,
    ).values_list("business_id", "amount", "originated_on", "term_months")
    for business_id, amount, originated_on, term_months in rows:
        owed = estimated_outstanding(amount=amount, originated_on=originated_on, term_months=term_months, on=on)
        current = out[business_id]
        out[business_id] = ImportedExposure(current.outstanding + owed, current.current_loans + 1)
    return out


@dataclass(frozen=True)
class HistoryProvenance:
    """The provenance of a merchant's history as known before a day (docs/provenance.md)."""

    provenance: str  # the least trusted batch's; "" when no batch recorded one
    checks: list[dict] | None  # the consistency checks its uploaded files tripped; None when nothing is recorded
    batches: dict[str, int]  # transactions per provenance


def history_provenance(*, business_id: int, before: date) -> HistoryProvenance:
    """What built the history a decision on `before` reads: the batches with transactions before that
    day. The history is as trustworthy as its least trusted batch; every tripped check of an uploaded
    file counts (once per code)."""
    return history_provenances(business_ids=[business_id], before=before)[business_id]


def history_provenances(*, business_ids: Sequence[int], before: date) -> dict[int, HistoryProvenance]:
    """history_provenance for several businesses, in one statement: business id -> provenance."""
    sources: dict[int, list] = {pk: [] for pk in business_ids}
    rows = (HistorySource.objects.filter(business_id__in=list(sources), first_day__lt=before)
            .order_by("business_id", "id").values_list("business_id", "provenance", "transactions", "checks"))
    for business_id, *source in rows:
        sources[business_id].append(source)
    return {pk: _provenance(found) for pk, found in sources.items()}


def _provenance(sources: list) -> HistoryProvenance:
    if not sources:
        return HistoryProvenance("", None, {})
    batches: dict[str, int] = {}
    tripped: dict[str, dict] = {}
    for provenance, transactions, checks in sources:
        batches[provenance] = batches.get(provenance, 0) + transactions
        for check in checks or []:
            if check.get("tripped") and check["code"] not in tripped:
                tripped[check["code"]] = {k: check.get(k) for k in ("code", "title", "detail")}
    return HistoryProvenance(least_trusted(batches).value, [tripped[c] for c in sorted(tripped)], batches)
