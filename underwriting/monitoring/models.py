"""Daily summaries of decisions and the audit trail of model promotions (docs/adr/0006).

The risk dashboard reads only these tables, never the raw decisions: `monitoring.summaries_catch_up`
(Celery beat, and the dashboard before it reads) adds the decisions committed since the watermark in
batches, off the decision's hot path, and `rebuild_decision_summaries` recomputes them from the
decisions when needed (a backfill, or a change of binning).
"""

from django.db import models

from accounts.models import PartnerBank
from config.clock import ClockDateTimeField


class DecisionDailySummary(models.Model):
    """Per UTC day, partner, outcome and deciding path: counts, sums and fixed-bin histograms.

    Sums (not means) so that days and partners add up; histograms on fixed edges
    (monitoring.SCORE_EDGES, monitoring.LATENCY_EDGES_MS) so that percentiles of any range are read
    from the summed counts.
    """

    day = models.DateField()
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16)
    decided_by = models.CharField(max_length=16)
    count = models.PositiveIntegerField(default=0)
    scored = models.PositiveIntegerField(default=0, help_text="Decisions with a PD (the model ran).")
    pd_sum = models.FloatField(default=0.0)
    requested_sum = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    offered = models.PositiveIntegerField(default=0, help_text="Decisions with an offer (amount and rate).")
    offered_sum = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    apr_sum = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    latency_ms_sum = models.FloatField(default=0.0)
    latency_counts = models.JSONField(default=list)
    score_counts = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "partner", "outcome", "decided_by"], name="dailysummary_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="dailysummary_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.partner_id} {self.outcome}/{self.decided_by}: {self.count}"


class DecisionDailyDrift(models.Model):
    """Per UTC day and model version: decisions counted in the bins of that model's training
    reference (its artifact's manifest, key "reference"), for the score and every feature."""

    day = models.DateField()
    model_version = models.ForeignKey("underwriting.ModelVersion", on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(default=0)
    scored = models.PositiveIntegerField(default=0)
    has_reference = models.BooleanField(default=False, help_text="False: the artifact carries no reference bins.")
    score_counts = models.JSONField(default=list, help_text="Counts per reference PD bin (the score's bins).")
    feature_counts = models.JSONField(default=dict, help_text="{feature: [count per bin..., missing]}.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "model_version"], name="dailydrift_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} model {self.model_version_id}: {self.count}"


class DecisionSummaryWatermark(models.Model):
    """The last decision (by primary key) added to the daily summaries: one row. Decisions are
    appended one at a time under the chain-head lock, so their keys commit in increasing order and
    everything above the watermark is exactly what the summaries still miss."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_decision_id = models.BigIntegerField(default=0)
    updated_at = ClockDateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"summaries through decision {self.last_decision_id}"
