"""The risk dashboard's reads: only the summary tables and the active model's manifest, so the cost
grows with days x partners, never with the number of decisions (docs/adr/0006-audit-and-monitoring.md)."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.db.models import Sum

from config import clock
from underwriting.decisions.models import DecisionKind, DecisionOutcome
from underwriting.engine.outcomes import Outcome
from underwriting.engine.policy import PolicyParams
from underwriting.engine.pricing import score_for
from underwriting.features.specs import FEATURES
from underwriting.history.models import LoanRecord, LoanRecordStatus
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import artifact_path_of
from underwriting.money import to_cents_half_even
from underwriting.monitoring.drift import (
    LATENCY_EDGES_MS,
    SCORE_EDGES,
    counts_add,
    histogram_percentile,
    psi,
    psi_flag,
)
from underwriting.monitoring.models import DecisionDailyDrift, DecisionDailySummary
from underwriting.policies.models import PolicyVersion

# ---- the training reference of a model version --------------------------------------------------------

_reference_cache: dict[tuple[int, str], dict | None] = {}


def model_reference(model_version: ModelVersion) -> dict | None:
    """The version's training reference (manifest key "reference"), None for an artifact trained
    before references existed or one that cannot be read. Artifacts are immutable: cached per process."""
    key = (model_version.pk, model_version.checksum)
    if key not in _reference_cache:

        try:
            manifest = json.loads((Path(artifact_path_of(model_version)) / "manifest.json").read_bytes())
            reference = manifest.get("reference") or None
        except (OSError, ValueError):
            reference = None
        _reference_cache[key] = reference
    return _reference_cache[key]


# ---- the dashboard's reads ------------------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _score_labels(pd_edges: list[float], policy) -> list[str]:
    """Reference PD bins as score ranges under `policy`, best first (the score falls as PD rises)."""

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
    approvals = d[Outcome.APPROVED] + d[Outcome.COUNTER_OFFER]
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
    per_day = {d: {"day": d, "count": 0, **dict.fromkeys(Outcome, 0), "latency": []} for d in days}
    outcomes = {o: _empty_outcome(o, label) for o, label in DecisionOutcome.choices}
    latency: list[int] = []
    score_counts: list[int] = []
    for (day, outcome, decided_by, count, scored, pd_sum, req, offered, off_sum, apr_sum, lat, sc) in rows:
        d = per_day[day]
        d["count"] += count
        d[outcome] = d.get(outcome, 0) + count
        d["latency"] = counts_add(d["latency"], lat)
        o = outcomes.setdefault(outcome, _empty_outcome(outcome, outcome))
        for key, value in (("count", count), ("scored", scored), ("pd_sum", pd_sum), ("requested_sum", req),
                           ("offered", offered), ("offered_sum", off_sum), ("apr_sum", apr_sum)):
            o[key] += value
        if decided_by == DecisionKind.KNOCKOUT:
            o["knockouts"] += count
        latency = counts_add(latency, lat)
        score_counts = counts_add(score_counts, sc)
    for d in per_day.values():
        _day_figures(d)
    for o in outcomes.values():
        _outcome_averages(o)
    total = sum(d["count"] for d in per_day.values())
    approvals = sum(d[Outcome.APPROVED] + d[Outcome.COUNTER_OFFER] for d in per_day.values())
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

    mv = ModelVersion.objects.filter(is_active=True, partner__isnull=True).first()  # the platform's (ADR 0012)
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
        score_counts = counts_add(score_counts, row.score_counts)
        for name, counts in row.feature_counts.items():
            feature_counts[name] = counts_add(feature_counts.get(name, []), counts)
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
