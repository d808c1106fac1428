"""Merchant history and credit records: what the underwriting engine reads.

Transactions are stored compactly (money as integer minor units, enums as small integers, a
composite primary key instead of a surrogate id) because they are the platform's largest table.
Features never read them directly: they read the daily rollups, which every import maintains, so
deciding costs O(days of history), not O(transactions).

The high-volume tables (transactions, the three rollups, metrics) reference their business without a
database foreign-key constraint: the check costs ~2.5 us per row at commit (more than the insert of
the row itself on a bulk import), and the import validates every merchant id before writing. Django
still cascades deletes from Business. See docs/adr/0002-transaction-storage-and-rollups.md.
"""

import uuid

from django.db import models

from accounts.models import Business, PartnerBank
from config.clock import ClockDateTimeField
from underwriting import kinds
from underwriting.provenance import CHOICES as PROVENANCE_CHOICES
from underwriting.provenance import Provenance

# Choices derived from the one definition in underwriting/kinds.py (same values and labels).
Direction = models.IntegerChoices("Direction", [(d.name, (d.value, d.label)) for d in kinds.Direction])
TransactionKind = models.IntegerChoices("TransactionKind", [(k.name, (k.value, k.label)) for k in kinds.TransactionKind])


class Transaction(models.Model):
    """One money movement of a merchant, in the interchange format."""

    pk = models.CompositePrimaryKey("business_id", "transaction_id")
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    transaction_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    amount_minor = models.BigIntegerField(help_text="Positive amount in the currency's minor units (cents).")
    direction = models.SmallIntegerField(choices=Direction.choices)
    kind = models.SmallIntegerField(choices=TransactionKind.choices)
    # NULL, not "": no counterparty is reported (bank feeds often have none); rollups skip it.
    counterparty = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    balance_after_minor = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["business", "occurred_at"], name="txn_business_time")]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="txn_amount_positive")]

    def __str__(self) -> str:
        return f"{self.transaction_id} ({self.business_id})"


class DailyRollup(models.Model):
    """Per merchant, UTC day, direction and kind: count, sum and largest amount."""

    pk = models.CompositePrimaryKey("business_id", "day", "direction", "kind")
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    day = models.DateField()
    direction = models.SmallIntegerField(choices=Direction.choices)
    kind = models.SmallIntegerField(choices=TransactionKind.choices)
    count = models.IntegerField()
    total_minor = models.BigIntegerField()
    max_minor = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.business_id} {self.day} {self.get_direction_display()} {self.get_kind_display()}"


class CounterpartyDailyRollup(models.Model):
    """Per merchant, UTC day, direction and counterparty: count and sum (concentration, networks)."""

    pk = models.CompositePrimaryKey("business_id", "day", "direction", "counterparty")
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    day = models.DateField()
    direction = models.SmallIntegerField(choices=Direction.choices)
    counterparty = models.CharField(max_length=128)
    count = models.IntegerField()
    total_minor = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.business_id} {self.day} {self.get_direction_display()} {self.counterparty}"


class DailyBalance(models.Model):
    """Per merchant and UTC day with a reported balance: the lowest and the closing balance."""

    pk = models.CompositePrimaryKey("business_id", "day")
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    day = models.DateField()
    min_balance_minor = models.BigIntegerField()
    close_balance_minor = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.business_id} {self.day}"


class MerchantMetric(models.Model):
    """A marketplace's observation of a merchant (rating, dispute rate, ...) on a day."""

    pk = models.CompositePrimaryKey("business_id", "observed_on", "metric")
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    observed_on = models.DateField()
    metric = models.CharField(max_length=64)
    value = models.DecimalField(max_digits=20, decimal_places=6)

    def __str__(self) -> str:
        return f"{self.business_id} {self.observed_on} {self.metric}"


LoanRecordStatus = models.TextChoices("LoanRecordStatus", [(c.name, (c.value, c.value)) for c in kinds.CreditStatus])


class LoanRecordSource(models.TextChoices):
    IMPORTED = "imported", "imported loan book"
    PLATFORM = "platform", "platform loan"


class LoanRecord(models.Model):
    """A loan in a business's credit record: an imported book or the platform's own loans."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="+")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="loan_records")
    loan_id = models.CharField(max_length=64, help_text="The lender's loan id (unique per partner).")
    source = models.CharField(max_length=16, choices=LoanRecordSource.choices, default=LoanRecordSource.IMPORTED)
    originated_on = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    term_months = models.PositiveSmallIntegerField()
    # NULL: an imported book that does not say (distinct from any status).
    status = models.CharField(max_length=16, choices=LoanRecordStatus.choices, null=True, blank=True)  # noqa: DJ001
    defaulted_on = models.DateField(null=True, blank=True)
    days_past_due = models.PositiveIntegerField(default=0)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "loan_id"], name="loanrecord_unique_per_partner"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="loanrecord_amount_positive"),
        ]
        indexes = [models.Index(fields=["business", "originated_on"], name="loanrecord_business_orig")]

    def __str__(self) -> str:
        return f"{self.loan_id} ({self.business_id})"


class ImportStatus(models.TextChoices):
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed (nothing imported)"
    PARTIAL = "partial", "partial (invalid rows skipped)"


class ImportRun(models.Model):
    """An audit record of one history import (a batch): who, when, which files, how many rows, how many
    errors, and the provenance of what it brought (docs/provenance.md)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, default="cli")
    provenance = models.CharField(max_length=16, choices=PROVENANCE_CHOICES, default=Provenance.PARTNER_FEED.value)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    started_at = ClockDateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    files = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    errors_sample = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"import {self.public_id} ({self.status})"


class HistorySource(models.Model):
    """One batch's part of one merchant's history: the transactions it added, their provenance and,
    for a file the owner uploaded, the consistency checks of that file (CheckResult.as_dict() each).
    A decision reads the sources of the days before its own (docs/provenance.md)."""

    import_run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="sources")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="history_sources")
    provenance = models.CharField(max_length=16, choices=PROVENANCE_CHOICES)
    transactions = models.PositiveIntegerField()
    first_day = models.DateField()
    last_day = models.DateField()
    checks = models.JSONField(default=list, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["import_run", "business"], name="historysource_one_per_run"),
            models.CheckConstraint(condition=models.Q(provenance__in=[p.value for p in Provenance]),
                                   name="historysource_provenance_known"),
        ]
        indexes = [models.Index(fields=["business", "first_day"], name="historysource_business_first")]

    def __str__(self) -> str:
        return f"{self.provenance} batch of {self.business_id} ({self.first_day} to {self.last_day})"
