"""The decision stream into daily summaries (docs/adr/0006-audit-and-monitoring.md).

`summaries_catch_up` adds every decision committed since the watermark, in batches (Celery beat, or an
officer's "Count them now" on the dashboard), so the decision itself never waits for it (a summary update
costs ~2-4 ms, a fifth of a decision's budget); `summaries_rebuild` recomputes them from the decisions
(takes the chain-head lock and moves the watermark). The reads are in selectors.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction

from underwriting.decisions import chain
from underwriting.decisions.models import Decision, DecisionChainHead
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.reference import bin_index
from underwriting.money import ZERO
from underwriting.monitoring.drift import LATENCY_EDGES_MS, SCORE_EDGES, counts_add, latency_bin, score_bin
from underwriting.monitoring.models import DecisionDailyDrift, DecisionDailySummary, DecisionSummaryWatermark
from underwriting.monitoring.selectors import model_reference

# ---- accumulating decisions into summary rows ---------------------------------------------------------


_VERSIONS: dict[int, ModelVersion] = {}


@dataclass
class _Summary:
    count: int = 0
    scored: int = 0
    pd_sum: float = 0.0
    requested_sum: Decimal = ZERO
    offered: int = 0
    offered_sum: Decimal = ZERO
    apr_sum: Decimal = ZERO
    latency_ms_sum: float = 0.0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    score_counts: list[int] = field(default_factory=lambda: [0] * (len(SCORE_EDGES) + 1))


@dataclass
class _Drift:
    has_reference: bool
    count: int = 0
    scored: int = 0
    score_counts: list[int] = field(default_factory=list)
    feature_counts: dict[str, list[int]] = field(default_factory=dict)


class SummaryAccumulator:
    """Adds decisions (model instances or dicts with the same attribute names) to in-memory summary
    rows; `save()` merges them into the tables. The hook feeds it one decision, the rebuild and the
    bench feed it millions."""

    FIELDS = ("created_at", "partner_id", "outcome", "decided_by", "pd", "score", "requested_amount",
              "offered_amount", "apr", "timings", "model_version_id", "feature_names", "feature_values")

    def __init__(self):
        self.summaries: dict[tuple, _Summary] = {}
        self.drifts: dict[tuple, _Drift] = {}
        # Registry rows are never rewritten but for activation flags, so the process may keep them.
        self._versions = _VERSIONS

    def prime(self, model_version: ModelVersion) -> None:
        """Makes `model_version` known without a query (for callers streaming a COPY meanwhile)."""
        self._versions[model_version.pk] = model_version

    def _reference(self, model_version_id: int) -> dict | None:
        if model_version_id not in self._versions:
            self._versions[model_version_id] = ModelVersion.objects.get(pk=model_version_id)
        return model_reference(self._versions[model_version_id])

    def add(self, d) -> None:
        get = d.get if isinstance(d, dict) else (lambda name: getattr(d, name))
        day = get("created_at").date()
        key = (day, get("partner_id"), get("outcome"), get("decided_by"))
        s = self.summaries.get(key)
        if s is None:
            s = self.summaries[key] = _Summary()
        s.count += 1
        s.requested_sum += Decimal(get("requested_amount"))
        pd, score = get("pd"), get("score")
        if pd is not None:
            s.scored += 1
            s.pd_sum += float(pd)
        if score is not None:
            s.score_counts[score_bin(int(score))] += 1
        offered = get("offered_amount")
        if offered is not None:
            s.offered += 1
            s.offered_sum += Decimal(offered)
            s.apr_sum += Decimal(get("apr") or 0)
        total_ms = (get("timings") or {}).get("total_ms")
        if total_ms is not None:
            s.latency_ms_sum += float(total_ms)
            s.latency_counts[latency_bin(float(total_ms))] += 1

        mv = get("model_version_id")
        if mv is None:
            return
        ref = self._reference(mv)
        dkey = (day, mv)
        drift = self.drifts.get(dkey)
        if drift is None:
            drift = self.drifts[dkey] = _Drift(has_reference=ref is not None)
            if ref is not None:
                drift.score_counts = [0] * (len(ref["score"]["pd_edges"]) + 2)
                drift.feature_counts = {n: [0] * (len(f["edges"]) + 2) for n, f in ref["features"].items()}
        drift.count += 1
        if pd is not None:
            drift.scored += 1
        if ref is None:
            return
        if pd is not None:
            drift.score_counts[bin_index(ref["score"]["pd_edges"], float(pd))] += 1
        names, values = get("feature_names") or [], get("feature_values") or []
        for name, value in zip(names, values, strict=False):
            spec = ref["features"].get(name)
            if spec is not None:
                drift.feature_counts[name][bin_index(spec["edges"], value)] += 1

    def save(self) -> None:
        """Merges the accumulated rows into the tables (caller holds the chain-head lock)."""
        for (day, partner_id, outcome, decided_by), s in self.summaries.items():
            row, _ = DecisionDailySummary.objects.select_for_update().get_or_create(
                day=day, partner_id=partner_id, outcome=outcome, decided_by=decided_by)
            row.count += s.count
            row.scored += s.scored
            row.pd_sum += s.pd_sum
            row.requested_sum += s.requested_sum
            row.offered += s.offered
            row.offered_sum += s.offered_sum
            row.apr_sum += s.apr_sum
            row.latency_ms_sum += s.latency_ms_sum
            row.latency_counts = counts_add(row.latency_counts, s.latency_counts)
            row.score_counts = counts_add(row.score_counts, s.score_counts)
            row.save()
        for (day, mv), d in self.drifts.items():
            row, _ = DecisionDailyDrift.objects.select_for_update().get_or_create(
                day=day, model_version_id=mv, defaults={"has_reference": d.has_reference})
            row.count += d.count
            row.scored += d.scored
            row.score_counts = counts_add(row.score_counts, d.score_counts)
            row.feature_counts = {name: counts_add(row.feature_counts.get(name, []), counts)
                                  for name, counts in d.feature_counts.items()} or row.feature_counts
            row.save()

    def rows(self) -> tuple[list[DecisionDailySummary], list[DecisionDailyDrift]]:
        """Unsaved model instances (for a bulk insert into empty tables)."""
        summaries = [DecisionDailySummary(day=k[0], partner_id=k[1], outcome=k[2], decided_by=k[3], **vars(s))
                     for k, s in self.summaries.items()]
        drifts = [DecisionDailyDrift(day=k[0], model_version_id=k[1], **vars(d)) for k, d in self.drifts.items()]
        return summaries, drifts


def summaries_backlog() -> dict:
    """What the daily summaries do not count yet: the decisions made since the watermark (how many,
    and when the last was counted). A read: the dashboard shows it and never catches up on a GET."""
    mark = DecisionSummaryWatermark.objects.filter(pk=1).values("last_decision_id", "updated_at").first()
    last_id = mark["last_decision_id"] if mark else 0
    return {"pending": Decision.objects.filter(pk__gt=last_id).count(),
            "counted_at": mark["updated_at"] if mark else None}


def summaries_catch_up(*, batch_size: int = 2000) -> int:
    """Adds the decisions committed since the watermark to the summaries, `batch_size` at a time
    (each batch and its watermark move commit together). Safe to run concurrently: the watermark row
    is locked, a second runner waits and then finds nothing new. Returns how many were added."""
    added = 0
    while True:
        with transaction.atomic():
            mark, _ = DecisionSummaryWatermark.objects.get_or_create(pk=1)
            mark = DecisionSummaryWatermark.objects.select_for_update().get(pk=mark.pk)
            batch = list(Decision.objects.filter(pk__gt=mark.last_decision_id).order_by("pk")
                         .values("pk", *SummaryAccumulator.FIELDS)[:batch_size])
            if not batch:
                return added
            acc = SummaryAccumulator()
            for row in batch:
                acc.add(row)
            acc.save()
            mark.last_decision_id = batch[-1]["pk"]
            mark.save(update_fields=["last_decision_id", "updated_at"])
            added += len(batch)


@transaction.atomic
def summaries_rebuild(*, since: date | None = None, batch_size: int = 5000) -> int:
    """Recomputes the summaries of every day from `since` (all days if None) from the decisions.
    Holds the chain-head lock, so no decision is appended (and summarised twice) meanwhile."""
    head, _ = DecisionChainHead.objects.get_or_create(pk=1, defaults={"last_hmac": chain.GENESIS})
    DecisionChainHead.objects.select_for_update().get(pk=head.pk)
    if since is not None:
        # Days before `since` are kept: bring them up to date first, so that after the rebuild every
        # decision up to the newest is counted exactly once (no decision is appended meanwhile).
        summaries_catch_up()
    summaries, drifts = DecisionDailySummary.objects.all(), DecisionDailyDrift.objects.all()
    decisions = Decision.objects.all()
    if since is not None:
        summaries, drifts = summaries.filter(day__gte=since), drifts.filter(day__gte=since)
        # created_at is UTC; a day starts at its midnight UTC.
        decisions = decisions.filter(created_at__date__gte=since)
    summaries.delete()
    drifts.delete()
    acc = SummaryAccumulator()
    seen, last = 0, 0
    fields = SummaryAccumulator.FIELDS
    while True:
        batch = list(decisions.filter(pk__gt=last).order_by("pk").values("pk", *fields)[:batch_size])
        if not batch:
            break
        for row in batch:
            acc.add(row)
        seen += len(batch)
        last = batch[-1]["pk"]
    summary_rows, drift_rows = acc.rows()
    DecisionDailySummary.objects.bulk_create(summary_rows, batch_size=1000)
    DecisionDailyDrift.objects.bulk_create(drift_rows, batch_size=1000)
    # Every decision is now counted: the catch-up starts after the newest one.
    newest = Decision.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    DecisionSummaryWatermark.objects.update_or_create(pk=1, defaults={"last_decision_id": newest})
    return seen
