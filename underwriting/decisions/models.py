"""Decisions: the record of every automated decision, its snapshot and its place in the
HMAC chain (docs/domain.md, "Decision records")."""

import uuid

from django.db import models

from accounts.models import Business, PartnerBank
from underwriting.engine.outcomes import OUTCOME_LABELS, Outcome

# Derived from the engine's Django-free definition (underwriting/engine/outcomes.py): one list of outcomes.
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
    # The record's position in the chain, from 1. Signed from content version 2 on, so deleting rows
    # leaves a gap in the numbers and cutting the newest off shows against an exported head.
    sequence = models.PositiveBigIntegerField(unique=True)
    # Which fields the HMAC covers (services.signed_fields): records are never re-signed, so each
    # keeps verifying under the format it was signed in.
    content_version = models.PositiveSmallIntegerField()
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
    """A single row locked while appending, so the chain of decisions has exactly one order.

    It sits in the same database as the records, so whoever can delete records can rewind it too:
    `export_decision_head` copies it, signed, to storage outside the database (docs/adr/0006)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # No index: nothing looks the head up by it, and with none of its columns indexed every append's
    # UPDATE is a heap-only (HOT) update that PostgreSQL prunes in place. With the index, each append
    # left a dead row version and index entry behind until a vacuum: measured, 19,630 dead versions
    # (544 kB for one row) after a day of benches with autovacuum off, every append walking them.
    last_decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                      db_index=False)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hmac = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain head at {self.last_decision_id}"
