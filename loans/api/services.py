"""Writes the partner API needs beyond the loans services: merchants and transactions through the
history import (the CSV import's rules and its all-or-nothing transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from accounts.models import Business, PartnerBank
from underwriting.history.services import HistoryImportError, ImportIssue, history_import_rows


class RowsRejected(Exception):
    """Nothing was imported; `errors` are {field, message, code} with `<list>[i].<column>` fields."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


class MerchantExists(Exception):
    pass


def _issue_field(issue: ImportIssue, list_name: str | None) -> str | None:
    index = issue.line - 2  # line 1 is the header the rows were written under
    column = issue.column
    if list_name is None:
        return column
    where = f"{list_name}[{index}]" if index >= 0 else list_name
    return f"{where}.{column}" if column else where


def _rejected(exc: HistoryImportError, list_name: str | None) -> RowsRejected:
    return RowsRejected(
        [{"field": _issue_field(i, list_name), "message": i.reason, "code": "invalid"} for i in exc.errors]
    )


def _merchant_row(business: Business | None, changes: dict) -> dict:
    row = {}
    if business is not None:
        row = {
            "merchant_id": business.external_id,
            "name": business.legal_name,
            "category": business.sector,
            "region": business.region,
            "onboarded_on": business.onboarded_on,
            "established_on": business.established_on,
            "registration_number": business.registration_number,
        }
    row.update(changes)
    return row


@transaction.atomic
def merchant_create(*, partner: PartnerBank, data: dict) -> Business:
    # Creates for one partner run one at a time (its row locked until commit): of two concurrent creates
    # of one merchant id, the second finds the first's merchant (409) instead of overwriting it.
    PartnerBank.objects.select_for_update().filter(pk=partner.pk).exists()
    if Business.objects.filter(partner=partner, external_id=data["merchant_id"]).exists():
        raise MerchantExists(data["merchant_id"])
    try:
        history_import_rows(partner=partner, merchants=[_merchant_row(None, data)], source="api")
    except HistoryImportError as exc:
        raise _rejected(exc, None) from None
    return Business.objects.get(partner=partner, external_id=data["merchant_id"])


def merchant_update(*, merchant: Business, changes: dict) -> Business:
    try:
        history_import_rows(
            partner=merchant.partner, merchants=[_merchant_row(merchant, changes)], source="api"
        )
    except HistoryImportError as exc:
        raise _rejected(exc, None) from None
    merchant.refresh_from_db()
    return merchant


@dataclass(frozen=True)
class BatchResult:
    import_id: UUID
    received: int
    inserted: int
    unchanged: int


def transactions_ingest(*, partner: PartnerBank, rows: list[dict]) -> BatchResult:
    """All or nothing: one bad row and nothing is imported; every problem is reported by row index."""
    try:
        result = history_import_rows(partner=partner, transactions=rows, source="api")
    except HistoryImportError as exc:
        raise _rejected(exc, "transactions") from None
    counts = result.files["transactions"]
    return BatchResult(
        import_id=result.run_id, received=counts.read, inserted=counts.inserted, unchanged=counts.unchanged
    )
