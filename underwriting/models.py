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

from django.conf import settings
from django.db import models

from accounts.models import Business, PartnerBank
from config.clock import ClockDateTimeField
from underwriting.outcomes import OUTCOME_LABELS, Outcome
from underwriting.provenance import CHOICES as PROVENANCE_CHOICES
from underwriting.provenance import Provenance


class Direction(models.IntegerChoices):
    IN = 1, "in"
    OUT = 2, "out"


class TransactionKind(models.IntegerChoices):
    SALE = 1, "sale"
    REFUND = 2, "refund"
    CHARGEBACK = 3, "chargeback"
    PAYOUT = 4, "payout"
    FEE = 5, "fee"
    SUPPLIER_PAYMENT = 6, "supplier_payment"
    PAYROLL = 7, "payroll"
    RENT = 8, "rent"
    TAX = 9, "tax"
    TRANSFER = 10, "transfer"
    CASH_DEPOSIT = 11, "cash_deposit"
    CASH_WITHDRAWAL = 12, "cash_withdrawal"
    CARD_PAYMENT = 13, "card_payment"
    INTEREST = 14, "interest"
    LOAN_DISBURSEMENT = 15, "loan_disbursement"
    LOAN_REPAYMENT = 16, "loan_repayment"
    OTHER = 17, "other"


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


class LoanRecordStatus(models.TextChoices):
    CURRENT = "current", "current"
    REPAID = "repaid", "repaid"
    DEFAULTED = "defaulted", "defaulted"


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


class SimulationTruth(models.Model):
    """The simulator's ground truth for one loan. Evaluation reads it; feature code never does."""

    loan = models.OneToOneField(LoanRecord, on_delete=models.CASCADE, related_name="truth")
    true_pd = models.FloatField()
    details = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"truth of loan {self.loan_id}: PD {self.true_pd:.4f}"


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


class ModelVersion(models.Model):
    """A trained model in the store (docs/adr/0003-model-artifacts-and-registry.md).

    The artifact directory is the source of truth for the model itself; this row records where it
    is, its checksum (so a swapped directory is refused at load), what it was trained on, and which
    version decides. Exactly one version is active platform-wide; decisions keep the version they
    used, so activating another never rewrites the past.
    """

    version = models.CharField(max_length=64, unique=True)
    artifact_path = models.CharField(max_length=512)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the artifact's manifest.json.")
    created_at = ClockDateTimeField(auto_now_add=True)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    training_window = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    report_path = models.CharField(max_length=512, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activation_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="modelversion_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"model {self.version}{' (active)' if self.is_active else ''}"


class PolicyVersion(models.Model):
    """One version of the credit policy's parameters (underwriting/policy.py, docs/pricing.md).

    Written only by `policy_version_create` (policy_services.py) and never edited afterwards:
    decisions cite the version they used, and a replay reads the same parameters back. Exactly one
    version is active platform-wide.
    """

    version = models.PositiveIntegerField(unique=True)
    params = models.JSONField(help_text="PolicyParams.to_dict(): every parameter, Decimals as strings.")
    note = models.TextField(help_text="Why this version exists.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="policyversion_one_active"
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="policyversion_version_positive"),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version}{' (active)' if self.is_active else ''}"

    @property
    def policy(self):
        """The parameters as a validated PolicyParams."""
        from underwriting.policy import PolicyParams

        return PolicyParams.from_dict(self.params)


# Derived from the engine's Django-free definition (underwriting/outcomes.py): one list of outcomes.
DecisionOutcome = models.TextChoices(
    "DecisionOutcome", [(outcome.name, (outcome.value, OUTCOME_LABELS[outcome])) for outcome in Outcome]
)


class DecisionKind(models.TextChoices):
    KNOCKOUT = "knockout", "knock-out rule"
    MODEL = "model", "model and policy"


class Decision(models.Model):
    """One automated credit decision: immutable, HMAC-chained, replayable.

    It stores everything needed to explain and reproduce it (request, as_of, feature snapshot and
    context, model and policy versions, PD, score, SHAP values, knock-outs, limit caps, reasons) so
    that a replay with the same model and policy gives the identical result.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="+")
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="decisions")
    application_ref = models.UUIDField(
        null=True, blank=True, unique=True, help_text="The application this decides (one decision each)."
    )
    as_of = models.DateTimeField()
    requested_amount = models.DecimalField(max_digits=14, decimal_places=2)
    requested_term_months = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=16, choices=DecisionOutcome.choices)
    decided_by = models.CharField(max_length=16, choices=DecisionKind.choices)
    offered_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    term_months = models.PositiveSmallIntegerField(null=True, blank=True)
    apr = models.DecimalField("nominal APR (%)", max_digits=6, decimal_places=2, null=True, blank=True)
    effective_apr = models.DecimalField("APR incl. fees (%)", max_digits=6, decimal_places=2, null=True, blank=True)
    origination_fee = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    instalment = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    total_repayable = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    schedule = models.JSONField(default=list, blank=True)
    pd = models.FloatField(null=True, blank=True)
    score = models.IntegerField(null=True, blank=True)
    score_band = models.CharField(max_length=8, blank=True, default="")
    raw_margin = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions")
    policy_version = models.ForeignKey("PolicyVersion", on_delete=models.PROTECT, related_name="decisions")
    feature_names = models.JSONField(default=list)
    feature_values = models.JSONField(default=list, help_text="Snapshot; null is an explicitly missing value.")
    context = models.JSONField(default=dict, help_text="Facts beyond features used by rules and sizing.")
    shap_values = models.JSONField(default=list, blank=True)
    shap_base = models.FloatField(null=True, blank=True)
    knockouts = models.JSONField(default=list)
    limit = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list)
    timings = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    previous_hmac = models.CharField(max_length=64)
    hmac = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["business", "as_of"], name="decision_business_asof"),
            models.Index(fields=["created_at"], name="decision_created"),
            # The review queue's "near the approval cut-off" part: a range of scores per requested term.
            models.Index(fields=["requested_term_months", "score"], name="decision_term_score",
                         condition=models.Q(score__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.public_id}"


class DecisionChainHead(models.Model):
    """A single row locked while appending, so the chain of decisions has exactly one order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    last_hmac = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain head at {self.last_decision_id}"


from underwriting.monitoring_models import *  # noqa: E402, F403 - daily summaries and promotions (issue 6)
