"""An owner's businesses: creating one, linking its history (an upload or a demo merchant)."""

from __future__ import annotations

import tempfile
import uuid
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Business, PartnerBank, User
from config import clock
from loans.businesses import selectors
from loans.businesses.uploads import owner_upload_prepare
from underwriting.history.services import (
    HistoryImportError,
    ImportIssue,
    ImportResult,
    history_file_checks,
    history_import,
)
from underwriting.provenance import Provenance

# ---- the owner's business on the platform's own channel ------------------------------------------


def own_channel_partner() -> PartnerBank:
    partner, _ = PartnerBank.objects.get_or_create(
        slug=settings.OWN_CHANNEL_PARTNER,
        defaults={"name": "310 Lending (direct)", "currency": settings.OWN_CHANNEL_CURRENCY},
    )
    return partner


@transaction.atomic
def business_create_for_owner(
    *,
    owner: User,
    legal_name: str,
    registration_number: str = "",
    sector: str = "",
    region: str = "",
    established_on: date | None = None,
) -> Business:
    """A business of the platform's own channel, owned by `owner`; its merchant id is generated."""
    business = Business(
        partner=own_channel_partner(),
        external_id=f"W{uuid.uuid4().hex[:12].upper()}",
        legal_name=legal_name.strip(),
        registration_number=registration_number.strip(),
        sector=sector.strip(),
        region=region.strip(),
        established_on=established_on,
        onboarded_on=clock.today(),
        owner=owner,
    )
    business.full_clean()
    business.save()
    return business


class HistoryLinkError(Exception):
    """The history could not be linked; `errors` are row-level problems (nothing was imported), the
    first MAX_UPLOAD_ERRORS of `error_count`."""

    def __init__(self, message: str, errors: list[ImportIssue] | None = None, error_count: int = 0):
        self.errors = errors or []
        self.error_count = error_count or len(self.errors)
        super().__init__(message)


# How many of an upload's problems the owner's page lists (with the total); the import keeps 1,000.
MAX_UPLOAD_ERRORS = 50


def business_history_upload(*, business: Business, upload, actor: str) -> ImportResult:
    """Imports an uploaded transactions file (interchange format) for `business`. All or nothing:
    any invalid row and nothing is imported; HistoryLinkError lists the problems by line and column.

    Every row is the business's own: the file needs no merchant_id column, and a row naming another
    merchant is refused (loans/businesses/uploads.py). Its problems and the import's are found in one pass and
    reported together: one upload lists every problem of the file (up to MAX_UPLOAD_ERRORS shown)."""
    if upload.size == 0:
        raise HistoryLinkError("The file is empty.")
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        original = Path(folder) / "upload.csv"
        with open(original, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        prepared = owner_upload_prepare(
            source=original, target=Path(folder) / "transactions.csv", merchant_id=business.external_id
        )
        try:
            return history_import(
                partner=business.partner, transactions=prepared.path, source="web",
                provenance=Provenance.OWNER_UPLOAD, known_issues=prepared.issues,
                checks={business.external_id: history_file_checks(path=prepared.path, merchant_id=business.external_id)},
            )
        except HistoryImportError as exc:
            errors, count = list(exc.errors), exc.error_count
            if prepared.issues and _NO_DATA_ROWS in errors:
                # Every row was left out for a problem listed already: the file had rows.
                errors.remove(_NO_DATA_ROWS)
                count -= 1
            errors = [_as_owner_sees_it(issue, business) for issue in errors[:MAX_UPLOAD_ERRORS]]
            raise HistoryLinkError(str(exc), errors, count) from None


_NO_DATA_ROWS = ImportIssue("transactions.csv", 1, None, "the file has a header but no data rows", "transactions")


def _as_owner_sees_it(issue: ImportIssue, business: Business) -> ImportIssue:
    """The import's messages, for the owner: the merchant they name is always the owner's own business
    (whose internal id means nothing to them), and "the partner" is that business."""
    reason = issue.reason.replace(f' of merchant "{business.external_id}"', "")
    reason = reason.replace("is not this partner's currency", "is not this business's currency")
    return ImportIssue(issue.file, issue.line, issue.column, reason, issue.kind)


@transaction.atomic
def business_claim_demo(*, owner: User, merchant_id: str, replacing: Business | None = None) -> Business:
    """The owner takes over an unowned simulated merchant of the demo marketplace (its history comes
    with it). Refused, with nothing changed, if it does not exist or already has an owner.

    The rule when it is claimed from one of the owner's businesses' "Link history" page (`replacing`):
    the demo merchant replaces that business. A demo merchant is a whole simulated business, its name,
    sector, age, marketplace metrics and credit record included, and the engine decides from all of
    them, so its history cannot be moved onto another business; instead the business the owner added
    (which has nothing yet: no transactions, no application) is removed, and the demo merchant takes
    its place on the dashboard. A business that already has history or an application cannot be
    replaced: the claim is refused (a demo merchant can be claimed from a newly added business)."""
    merchant_id = merchant_id.strip()
    business = (
        Business.objects.select_for_update()
        .filter(partner__slug=settings.DEMO_MERCHANTS_PARTNER, external_id=merchant_id)
        .first()
    )
    if business is None:
        raise ValidationError({"merchant_id": f"There is no demo merchant with the ID {merchant_id!r}."})
    if business.owner_id is not None and business.owner_id != owner.pk:
        raise ValidationError({"merchant_id": "This demo merchant is already linked to another account."})
    if replacing is not None and replacing.pk != business.pk:
        _business_replace_check(owner=owner, business=replacing)
        replacing.delete()
    business.owner = owner
    business.save(update_fields=["owner", "updated_at"])
    return business


def _business_replace_check(*, owner: User, business: Business) -> None:
    locked = Business.objects.select_for_update().filter(pk=business.pk, owner=owner).first()
    if locked is None:
        raise ValidationError({"merchant_id": "This business is not yours."})
    if not selectors.business_replaceable_by_demo(business=locked):
        raise ValidationError({"merchant_id": (
            f"{locked.legal_name} already has its own history or applications, so a demo merchant cannot "
            "replace it. Add a new business to try a demo merchant."
        )})
