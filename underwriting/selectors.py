from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Min, Sum

from .models import DailyRollup, Direction, TransactionKind


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
    return (Decimal(minor or 0) / 100).quantize(Decimal("0.01"))


def business_history_summary(*, business_id: int) -> HistorySummary:
    """A merchant's history at a glance, from the rollups (never the raw transactions)."""
    rollups = DailyRollup.objects.filter(business_id=business_id)
    span = rollups.aggregate(first=Min("day"), last=Max("day"), n=Sum("count"))
    if span["last"] is None:
        return HistorySummary(None, None, 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
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
