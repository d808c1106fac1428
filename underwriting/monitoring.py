"""Monitoring of the decision stream: daily summaries, PSI against the training reference, and the
risk dashboard's reads (docs/adr/0006-audit-and-monitoring.md).

Writes: `summaries_catch_up` (adds every decision committed since the watermark, in batches: run
by Celery beat and by the dashboard before it reads, so the decision itself never waits for it; a
decision's summary update cost ~2-4 ms, a fifth of its budget) and `summaries_rebuild` (recompute
from the decisions; takes the chain-head lock and moves the watermark). Reads: `dashboard_summary`, which touches only
the summary tables and the active model's manifest: its cost grows with days x partners, never with
the number of decisions.
"""

from __future__ import annotations

import itertools
import json
import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.db.models import Sum

from config import clock
from underwriting import chain
from underwriting.modeling.reference import bin_index
from underwriting.models import (
    Decision,
    DecisionChainHead,
    DecisionDailyDrift,
    DecisionDailySummary,
    DecisionOutcome,
    DecisionSummaryWatermark,
    LoanRecord,
    LoanRecordStatus,
    ModelVersion,
    PolicyVersion,
)
from underwriting.money import ZERO, to_cents_half_even

# Fixed histogram edges. Score: 20-point bins over the policy's range. Latency: geometric bins 25%
# apart from 0.5 ms to ~1 min, so a percentile read from the histogram is within ~12% of the truth.
SCORE_EDGES: list[int] = list(range(320, 900, 20))
LATENCY_EDGES_MS: list[float] = [round(0.5 * 1.25**k, 4) for k in range(53)]

PSI_FLOOR = 1e-4  # an empty bin's share, so ln(a / e) stays finite (BRIEF.md: "empty bins floored")
PSI_WATCH, PSI_SHIFT = 0.10, 0.25


# ---- PSI ----------------------------------------------------------------------------------------------


def psi(expected: Iterable[float], actual: Iterable[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index: sum over bins of (a - e) ln(a / e), with a and e the actual and
    expected shares; a share under `floor` (an empty bin) counts as `floor`. `actual` may be counts."""
    e = [float(x) for x in expected]
    a = [float(x) for x in actual]
    if len(a) != len(e):
        raise ValueError(f"PSI needs the same bins on both sides ({len(e)} expected, {len(a)} actual)")
    total_a, total_e = sum(a), sum(e)
    if total_a <= 0 or total_e <= 0:
        raise ValueError("PSI needs at least one observation on each side")
    value = 0.0
    for ei, ai in zip(e, a, strict=True):
        ei, ai = max(ei / total_e, floor), max(ai / total_a, floor)
        value += (ai - ei) * math.log(ai / ei)
    return value


def psi_flag(value: float | None) -> str:
    if value is None:
        return ""
    if value > PSI_SHIFT:
        return "shifted"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


# ---- histograms ---------------------------------------------------------------------------------------


def score_bin(score: int) -> int:
    return bisect_right(SCORE_EDGES, score)


def latency_bin(ms: float) -> int:
    return bisect_right(LATENCY_EDGES_MS, ms)


def histogram_percentile(counts: list[int], edges: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram over `edges` (len(counts) == len(edges) + 1), by linear
    interpolation inside the bin; the open top bin answers its lower edge."""
    total = sum(counts)
    if total == 0:
        return None
    target = q * total
    running = 0
    for i, c in enumerate(counts):
        if c and running + c >= target:
            lo = edges[i - 1] if i > 0 else 0.0
            if i >= len(edges):
                return float(lo)
            hi = edges[i]
            return float(lo + (hi - lo) * (target - running) / c)
        running += c
    return float(edges[-1])


def _add(into: list[int], other: list[int]) -> list[int]:
    if not into:
        return list(other)
    if not other:
        return into
    return [a + b for a, b in zip(into, other, strict=True)]


# ---- the training reference of a model version --------------------------------------------------------

_reference_cache: dict[tuple[int, str], dict | None] = {}


def model_reference(model_version: ModelVersion) -> dict | None:
    """The version's training reference (manifest key "reference"), None for an artifact trained
    before references existed or one that cannot be read. Artifacts are immutable: cached per process."""
    key = (model_version.pk, model_version.checksum)
    if key not in _reference_cache:
        from underwriting.modeling.registry import artifact_path_of

        try:
            manifest = json.loads((Path(artifact_path_of(model_version)) / "manifest.json").read_bytes())
            reference = manifest.get("reference") or None
        except (OSError, ValueError):
            reference = None
        _reference_cache[key] = reference
    return _reference_cache[key]


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
            row.latency_counts = _add(row.latency_counts, s.latency_counts)
            row.score_counts = _add(row.score_counts, s.score_counts)
            row.save()
        for (day, mv), d in self.drifts.items():
            row, _ = DecisionDailyDrift.objects.select_for_update().get_or_create(
                day=day, model_version_id=mv, defaults={"has_reference": d.has_reference})
            row.count += d.count
            row.scored += d.scored
            row.score_counts = _add(row.score_counts, d.score_counts)
            row.feature_counts = {name: _add(row.feature_counts.get(name, []), counts)
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


# ---- the dashboard's reads ------------------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _score_labels(pd_edges: list[float], policy) -> list[str]:
    """Reference PD bins as score ranges under `policy`, best first (the score falls as PD rises)."""
    from underwriting.pricing import score_for

    scores = [score_for(p, policy) for p in pd_edges]
    if not scores:
        return ["all scores"]
    labels = [f"{scores[0]}+"]
    labels += [f"{lo}\u2013{hi}" for hi, lo in itertools.pairwise(scores)]
    labels.append(f"up to {scores[-1]}")
    return labels


def _empty_outcome(outcome: str, label: str) -> dict:
    return {"outcome": outcome, "label": label, "count": 0, "scored": 0, "pd_sum": 0.0,
            "requested_sum": Decimal(0), "offered": 0, "offered_sum": Decimal(0), "apr_sum": Decimal(0),
            "knockouts": 0}


def _day_figures(d: dict) -> None:
    approvals = d["approved"] + d["counter_offer"]
    d["approval_rate"] = approvals / d["count"] if d["count"] else None
    d["p50_ms"] = histogram_percentile(d["latency"], LATENCY_EDGES_MS, 0.50) if d["latency"] else None
    d["p99_ms"] = histogram_percentile(d["latency"], LATENCY_EDGES_MS, 0.99) if d["latency"] else None


def _outcome_averages(o: dict) -> None:
    o["avg_pd"] = o["pd_sum"] / o["scored"] if o["scored"] else None
    o["avg_requested"] = to_cents_half_even(o["requested_sum"] / o["count"]) if o["count"] else None
    o["avg_offered"] = to_cents_half_even(o["offered_sum"] / o["offered"]) if o["offered"] else None
    o["avg_apr"] = to_cents_half_even(o["apr_sum"] / o["offered"]) if o["offered"] else None


def dashboard_summary(*, start: date, end: date, partner_id: int | None = None) -> dict:
    """Everything the risk dashboard shows for [start, end] (UTC days), from the summary tables."""
    rows = DecisionDailySummary.objects.filter(day__gte=start, day__lte=end)
    if partner_id is not None:
        rows = rows.filter(partner_id=partner_id)
    rows = list(rows.values_list("day", "outcome", "decided_by", "count", "scored", "pd_sum", "requested_sum",
                                 "offered", "offered_sum", "apr_sum", "latency_counts", "score_counts"))
    days = _days(start, end)
    per_day = {d: {"day": d, "count": 0, "approved": 0, "counter_offer": 0, "declined": 0, "latency": []}
               for d in days}
    outcomes = {o: _empty_outcome(o, label) for o, label in DecisionOutcome.choices}
    latency: list[int] = []
    score_counts: list[int] = []
    for (day, outcome, decided_by, count, scored, pd_sum, req, offered, off_sum, apr_sum, lat, sc) in rows:
        d = per_day[day]
        d["count"] += count
        d[outcome] = d.get(outcome, 0) + count
        d["latency"] = _add(d["latency"], lat)
        o = outcomes.setdefault(outcome, _empty_outcome(outcome, outcome))
        for key, value in (("count", count), ("scored", scored), ("pd_sum", pd_sum), ("requested_sum", req),
                           ("offered", offered), ("offered_sum", off_sum), ("apr_sum", apr_sum)):
            o[key] += value
        if decided_by == "knockout":
            o["knockouts"] += count
        latency = _add(latency, lat)
        score_counts = _add(score_counts, sc)
    for d in per_day.values():
        _day_figures(d)
    for o in outcomes.values():
        _outcome_averages(o)
    total = sum(d["count"] for d in per_day.values())
    approvals = sum(d["approved"] + d["counter_offer"] for d in per_day.values())
    return {
        "start": start,
        "end": end,
        "total": total,
        "approval_rate": approvals / total if total else None,
        "days": [per_day[d] for d in days],
        "outcomes": list(outcomes.values()),
        "latency": {
            "p50_ms": histogram_percentile(latency, LATENCY_EDGES_MS, 0.50) if latency else None,
            "p99_ms": histogram_percentile(latency, LATENCY_EDGES_MS, 0.99) if latency else None,
        },
        "score_histogram": {"edges": SCORE_EDGES, "counts": score_counts},
        "drift": drift_summary(start=start, end=end),
    }


def drift_summary(*, start: date, end: date) -> dict:
    """The active model's decisions in [start, end] against its training reference: score bins side by
    side and PSI for the score and every feature (flagged at 0.1 and 0.25)."""
    from underwriting.policy import PolicyParams

    mv = ModelVersion.objects.filter(is_active=True).first()
    if mv is None:
        return {"status": "no_model", "message": "No model is active."}
    reference = model_reference(mv)
    base = {"model_version": mv, "reference": reference is not None}
    if reference is None:
        return {**base, "status": "no_reference",
                "message": f"The artifact of model {mv.version} carries no training reference distributions "
                           "(it was trained before they were recorded): retrain it to measure drift."}
    rows = DecisionDailyDrift.objects.filter(model_version=mv, day__gte=start, day__lte=end, has_reference=True)
    count, scored = 0, 0
    score_counts: list[int] = []
    feature_counts: dict[str, list[int]] = {}
    for row in rows.only("count", "scored", "score_counts", "feature_counts"):
        count += row.count
        scored += row.scored
        score_counts = _add(score_counts, row.score_counts)
        for name, counts in row.feature_counts.items():
            feature_counts[name] = _add(feature_counts.get(name, []), counts)
    ref_score = reference["score"]
    # A read never records the default policy (policy_active would on an empty database).
    active_policy = PolicyVersion.objects.filter(is_active=True).first()
    policy = active_policy.policy if active_policy else PolicyParams()
    result = {**base, "status": "ok" if scored else "no_decisions", "count": count, "scored": scored,
              "reference_rows": reference.get("rows"), "reference_slice": reference.get("slice")}
    labels = [*_score_labels(ref_score["pd_edges"], policy), "no score"]
    expected = ref_score["shares"]
    actual = [c / scored for c in score_counts] if scored else [0.0] * len(expected)
    # The missing bin of the score is for knock-outs, which have no PD: left out of the score's PSI.
    score_psi = psi(expected[:-1], score_counts[:-1]) if scored else None
    result["score"] = {
        "bins": [{"label": lab, "expected": e, "actual": a}
                 for lab, e, a in zip(labels[:-1], expected[:-1], actual[:-1], strict=True)],
        "psi": score_psi,
        "flag": psi_flag(score_psi),
    }
    from underwriting.features.specs import FEATURES

    descriptions = {s.name: s.description for s in FEATURES}
    features = []
    for name, spec in reference["features"].items():
        counts = feature_counts.get(name)
        value = psi(spec["shares"], counts) if counts and sum(counts) and sum(spec["shares"]) else None
        features.append({"name": name, "description": descriptions.get(name, ""), "psi": value,
                         "flag": psi_flag(value), "n": sum(counts) if counts else 0})
    features.sort(key=lambda f: (-(f["psi"] if f["psi"] is not None else -1.0), f["name"]))
    result["features"] = features
    result["flags"] = {flag: sum(1 for f in features if f["flag"] == flag) for flag in ("stable", "watch", "shifted")}
    return result


# ---- the credit record: vintages ---------------------------------------------------------------------


def _month(d: date) -> date:
    return d.replace(day=1)


def vintage_default_rates(*, source: str | None = None, months: int = 24, today: date | None = None) -> list[dict]:
    """Default rate by origination month of the loans in the credit record (LoanRecord): loans,
    defaults so far (status defaulted or 90+ days past due), and their rate."""
    from django.db.models import Count, Q
    from django.db.models.functions import TruncMonth

    today = today or clock.today()
    first = _month(today.replace(day=1) - timedelta(days=31 * (months - 1)))
    loans = LoanRecord.objects.filter(originated_on__gte=first)
    if source:
        loans = loans.filter(source=source)
    defaulted = Q(status=LoanRecordStatus.DEFAULTED) | Q(days_past_due__gte=90)
    rows = (loans.annotate(month=TruncMonth("originated_on")).values("month")
            .annotate(loans=Count("id"), defaults=Count("id", filter=defaulted), amount=Sum("amount"))
            .order_by("month"))
    out = []
    for r in rows:
        month = r["month"] if isinstance(r["month"], date) else r["month"].date()
        out.append({"month": month, "loans": r["loans"], "defaults": r["defaults"], "amount": r["amount"],
                    "rate": r["defaults"] / r["loans"] if r["loans"] else None})
    return out


# ---- the approval threshold ---------------------------------------------------------------------------


def approval_cutoff(policy, term_months: int) -> tuple[float, int]:
    """The PD above which the model-and-policy path declines a request of `term_months` (whatever its
    amount), and its score: the lower of the policy's `max_pd` and the PD whose risk-based rate
    reaches the legal maximum `max_apr` (pricing.price_breakdown: the expected-loss rate is
    PD x LGD x 12 / term)."""
    from underwriting.pricing import score_for

    room = policy.max_apr - policy.cost_of_funds - policy.operating_cost - policy.margin
    price_pd = float(room * term_months / (12 * policy.lgd)) if room > 0 else 0.0
    pd = max(min(float(policy.max_pd), price_pd), 1e-9)
    return pd, score_for(min(pd, 1.0), policy)
