"""Decisions for several requests at once (docs/adr/0009-decisions-in-batches.md): each the decision
`decision_make` would store for its request alone, with the work that costs the same for one merchant
or many done once for all of them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from accounts.models import Business
from underwriting.decisions.models import Decision
from underwriting.decisions.services import (
    active_model_or_raise,
    decision_evaluate_row,
    decisions_append,
    ms_since,
    snapshot_values,
)
from underwriting.engine.exposure import Exposure
from underwriting.engine.policy import PolicyParams
from underwriting.features import LoanRequest, compute_features_with_request_bases
from underwriting.history.loader import as_of_day, load_histories
from underwriting.history.selectors import history_provenances
from underwriting.modeling.models import ModelVersion
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active


@dataclass(frozen=True)
class DecisionRequest:
    """One request of `decisions_make`: what `decision_make` takes, less the policy."""

    business: Business
    amount: Decimal
    term_months: int
    as_of: datetime
    application_ref: UUID | None = None
    exposure: Exposure | None = None


def decisions_make(
    *, requests: Sequence[DecisionRequest], policy: tuple[PolicyVersion, PolicyParams] | None = None,
    undecided: bool = False,
) -> list[Decision]:
    """`decision_make` for several requests at once, in the caller's transaction; the decisions in the
    requests' order, appended to the chain in that order.

    Each decision is the one `decision_make` would store for its request alone: the same history (read
    for each as_of day as `load_history` reads it), the same features, model, rules and record. What is
    shared: one statement per history table and one for the provenances per as_of day instead of one
    per merchant, the features as one matrix (a single merchant's features are mostly numpy's per-call
    overhead), the policy and model read once, and the chain's head locked and moved once. The caller
    reads each request's exposure first and must not put two requests of related parties in one call
    (the second's exposure would miss the first's offer).
    `undecided`: the caller knows no request has a decision yet (it holds their applications' row locks
    in a state that has none), so the stored ones are not looked up; a duplicate would still fail the
    insert (unique reference) and the caller's transaction with it.
    Raises NoActiveModel when no model is active.
    """
    refs = [r.application_ref for r in requests if r.application_ref is not None]
    existing = ({d.application_ref: d for d in Decision.objects.filter(application_ref__in=refs)}
                if refs and not undecided else {})
    todo = [r for r in requests if r.application_ref not in existing]
    if not todo:
        return [existing[r.application_ref] for r in requests]
    started = time.perf_counter()
    policy_version, policy = policy or policy_active()
    # each partner's applications by its own active model, else the platform's (ADR 0012)
    resolved = {pid: active_model_or_raise(pid) for pid in {r.business.partner_id for r in todo}}
    model_of = [resolved[r.business.partner_id] for r in todo]
    t = time.perf_counter()
    histories, provenances = _histories(todo)
    load_ms = ms_since(t) / len(todo)
    t = time.perf_counter()
    values, bases = _features(todo, histories, model_of)
    features_ms = ms_since(t) / len(todo)
    shared_ms = (time.perf_counter() - started) * 1000.0 / len(todo)

    items: list[dict] = []
    for row, request in enumerate(todo):
        t = time.perf_counter()
        # The batch's shared work counts in equal shares; `batch` says how many shared it.
        timings: dict[str, float] = {"load_ms": round(load_ms, 3), "features_ms": round(features_ms, 3),
                                     "batch": len(todo)}
        names, decided, context, result = decision_evaluate_row(
            history=histories[row], values=values[row], bases=bases[row], is_blocked=request.business.is_blocked,
            amount=request.amount, term_months=request.term_months, as_of=request.as_of, policy=policy,
            model=model_of[row][0], exposure=request.exposure, provenance=provenances[row],
            currency=request.business.partner.currency, timings=timings)
        timings["total_ms"] = round(shared_ms + (time.perf_counter() - t) * 1000.0, 3)
        items.append({
            "business": request.business, "result": result, "as_of": request.as_of,
            "application_ref": request.application_ref, "policy_version": policy_version,
            "model_version_id": model_of[row][1], "names": names, "values": snapshot_values(decided),
            "context": context, "timings": timings,
        })
    cited = ModelVersion.objects.filter(pk__in={model_version_id for _, model_version_id in resolved.values()})
    made = iter(decisions_append(items, model_versions=list(cited)))
    return [existing[r.application_ref] if r.application_ref in existing else next(made) for r in requests]


def _features(requests: list[DecisionRequest], histories: list, model_of: list) -> tuple[list, list]:
    """Each request's feature values and request bases, computed once per model for its requests."""
    by_model: dict[int, list[int]] = {}
    for i, (_model, model_version_id) in enumerate(model_of):
        by_model.setdefault(model_version_id, []).append(i)
    values: list = [None] * len(requests)
    bases: list = [None] * len(requests)
    for rows in by_model.values():
        v, b = compute_features_with_request_bases(
            [histories[i] for i in rows],
            [LoanRequest(amount=float(requests[i].amount), term_months=int(requests[i].term_months)) for i in rows],
            peers=model_of[rows[0]][0].peers)
        for k, i in enumerate(rows):
            values[i], bases[i] = v[k], b[k]
    return values, bases


def _histories(requests: list[DecisionRequest]) -> tuple[list, list]:
    """Each request's history and provenance, read per as_of day exactly as `load_history` and
    `history_provenance` read one (a batch straddling midnight reads twice)."""
    by_day: dict = {}
    for i, r in enumerate(requests):
        by_day.setdefault(as_of_day(r.as_of), []).append(i)
    histories: list = [None] * len(requests)
    provenances: list = [None] * len(requests)
    for day, members in by_day.items():
        ids = [requests[i].business.pk for i in members]
        loaded = load_histories(business_ids=ids, as_of=[requests[i].as_of for i in members],
                                businesses={requests[i].business.pk: requests[i].business for i in members})
        found = history_provenances(business_ids=ids, before=day)
        for i, history in zip(members, loaded, strict=True):
            histories[i] = history
            provenances[i] = found[requests[i].business.pk]
    return histories, provenances
