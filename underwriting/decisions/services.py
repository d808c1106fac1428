"""Making, storing, replaying and verifying decisions (the database side of the engine).

`decision_make` is the one write: it loads the point-in-time history, computes the features, runs
the pure engine and appends an immutable, HMAC-chained `Decision`. Everything the engine used is
stored with it, so `decision_replay` can reproduce it from the record alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from accounts.models import Business
from config import clock
from underwriting.decisions import chain
from underwriting.decisions.models import Decision, DecisionChainHead
from underwriting.engine.context import BusinessContext, business_context
from underwriting.engine.evaluation import DecisionResult, evaluate
from underwriting.engine.exposure import Exposure
from underwriting.engine.policy import PolicyParams
from underwriting.features import LoanRequest, compute_features_with_request_bases, feature_names
from underwriting.history.loader import as_of_day, load_history
from underwriting.history.selectors import HistoryProvenance, history_provenance
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import active_model_and_id, load_model_version
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active


class NoActiveModel(Exception):
    """No model is active: the application must wait (it is never approved by default)."""


# Fields that make up a decision's signed content in content version 1 (everything but the chain fields).
SIGNED_FIELDS = [
    "public_id",
    "partner_id",
    "business_id",
    "application_ref",
    "as_of",
    "requested_amount",
    "requested_term_months",
    "outcome",
    "decided_by",
    "offered_amount",
    "term_months",
    "apr",
    "effective_apr",
    "origination_fee",
    "instalment",
    "total_repayable",
    "schedule",
    "pd",
    "score",
    "score_band",
    "raw_margin",
    "model_version_id",
    "policy_version_id",
    "feature_names",
    "feature_values",
    "context",
    "shap_values",
    "shap_base",
    "knockouts",
    "limit",
    "reasons",
    "timings",
    "created_at",
]
# What each content version's HMAC covers. A record is never re-signed: it verifies under the version
# it was signed in. Version 2 adds the record's position, so a deleted record leaves a signed gap; the
# version itself is signed too, so a version 2 record cannot pass for a version 1 one.
CONTENT_FIELDS = {
    1: SIGNED_FIELDS,
    2: [*SIGNED_FIELDS, "sequence", "content_version"],
}
CONTENT_VERSION = 2


def signed_fields(content_version: int) -> list[str]:
    """The fields a record of `content_version` is signed over; KeyError for a version never written."""
    return CONTENT_FIELDS[content_version]


def hmac_key() -> bytes:
    key = settings.DECISION_HMAC_KEY
    if not key:
        raise ImproperlyConfigured("DECISION_HMAC_KEY must be set to sign decision records.")
    return key.encode()


def decision_content(decision: Decision) -> dict:
    return {name: getattr(decision, name) for name in signed_fields(decision.content_version)}


def snapshot_values(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]


def _snapshot_array(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def active_model_or_raise(partner_id: int | None = None):
    """The model deciding `partner_id`'s applications (its own active version, else the platform's,
    ADR 0012) and its ModelVersion id."""
    model, model_version_id = active_model_and_id(partner_id)
    if model is None:
        raise NoActiveModel("No model is active; train one with `manage.py train_model`.")
    return model, model_version_id


def decision_evaluate(
    *,
    history,
    is_blocked: bool,
    amount: Decimal,
    term_months: int,
    as_of: datetime,
    policy,
    model,
    exposure: Exposure | None = None,
    provenance: HistoryProvenance | None = None,
    currency: str = "",
    timings: dict | None = None,
) -> tuple[list[str], np.ndarray, BusinessContext, DecisionResult]:
    """Features, context and the engine's result for a request, storing nothing: the decision's own
    path (decision_make) and read-only previews (the suggested amount) run exactly this.
    Returns (feature names, the decided amount's feature values, context, result); fills `timings`
    when given."""
    t = time.perf_counter()
    values, bases = compute_features_with_request_bases(
        [history], [LoanRequest(amount=float(amount), term_months=int(term_months))], peers=model.peers)
    if timings is not None:
        timings["features_ms"] = ms_since(t)
    return decision_evaluate_row(
        history=history, values=values[0], bases=bases[0], is_blocked=is_blocked, amount=amount,
        term_months=term_months, as_of=as_of, policy=policy, model=model, exposure=exposure,
        provenance=provenance, currency=currency, timings=timings,
    )


def decision_evaluate_row(
    *, history, values: np.ndarray, bases: np.ndarray, is_blocked: bool, amount: Decimal, term_months: int,
    as_of: datetime, policy, model, exposure: Exposure | None, provenance: HistoryProvenance | None,
    currency: str, timings: dict | None,
) -> tuple[list[str], np.ndarray, BusinessContext, DecisionResult]:
    """decision_evaluate past the features: one request's row of features (and its request bases)."""
    context = replace(
        business_context(history=history, is_blocked=is_blocked, exposure=exposure),
        request_bases=snapshot_values(bases),
        currency=currency,
        provenance=provenance.provenance if provenance is not None else "",
        history_checks=provenance.checks if provenance is not None else None,
    )
    t = time.perf_counter()
    names = feature_names()
    result = evaluate(feature_names=names, feature_values=values, context=context, amount=amount,
                      term_months=term_months, as_of=as_of.date(), policy=policy, model=model)
    if timings is not None:
        timings["engine_ms"] = ms_since(t)
    decided = values if result.feature_values is None else _snapshot_array(result.feature_values)
    return names, decided, context, result


def decision_preview(
    *, business: Business, amount: Decimal, term_months: int, as_of: datetime, exposure: Exposure | None = None
) -> DecisionResult:
    """What `decision_make` would decide now, storing nothing (the owner's suggested amount)."""
    _, policy = policy_active()
    model, _ = active_model_or_raise(business.partner_id)
    history = load_history(business=business, as_of=as_of)
    *_, result = decision_evaluate(
        history=history, is_blocked=business.is_blocked, amount=amount, term_months=term_months, as_of=as_of,
        policy=policy, model=model, exposure=exposure, currency=business.partner.currency,
        provenance=history_provenance(business_id=business.pk, before=as_of_day(as_of)))
    return result


def decision_make(
    *,
    business: Business,
    amount: Decimal,
    term_months: int,
    as_of: datetime,
    application_ref: UUID | None = None,
    exposure: Exposure | None = None,
    policy: tuple[PolicyVersion, PolicyParams] | None = None,
) -> Decision:
    """Decide a request for `business` as of `as_of` and append the decision to the chain.

    `exposure`: what the business and its related parties owe or have on offer now, read by the
    caller under a row lock on those businesses (docs/exposure.md); it goes into the decision's
    context, so the caps it drives replay from the record.
    `policy`: the active policy version and its parameters as the caller already read them in this
    decision's transaction (`policy_active()`), or None to read them here.
    Safe to call twice for one application: the second call returns the stored decision.
    Raises NoActiveModel when no model is active (the caller retries later).
    """
    if application_ref is not None:
        existing = Decision.objects.filter(application_ref=application_ref).first()
        if existing is not None:
            return existing
    started = time.perf_counter()
    policy_version, policy = policy or policy_active()
    model, model_version_id = active_model_or_raise(business.partner_id)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    history = load_history(business=business, as_of=as_of)
    timings["load_ms"] = ms_since(t)

    names, values, context, result = decision_evaluate(
        history=history, is_blocked=business.is_blocked, amount=amount, term_months=term_months, as_of=as_of,
        policy=policy, model=model, exposure=exposure, currency=business.partner.currency,
        provenance=history_provenance(business_id=business.pk, before=as_of_day(as_of)), timings=timings)
    timings["total_ms"] = ms_since(started)

    try:
        return decisions_append([{
            "business": business, "result": result, "as_of": as_of, "application_ref": application_ref,
            "policy_version": policy_version, "model_version_id": model_version_id, "names": names,
            "values": snapshot_values(values), "context": context, "timings": timings,
        }])[0]
    except IntegrityError:
        # A concurrent worker decided the same application first; its decision stands.
        if application_ref is not None:
            existing = Decision.objects.filter(application_ref=application_ref).first()
            if existing is not None:
                return existing
        raise


def _locked_head() -> DecisionChainHead:
    """The chain head row, locked: it serialises appends so every decision has exactly one predecessor
    and one position."""
    head = DecisionChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:  # the very first decision
        DecisionChainHead.objects.get_or_create(pk=1, defaults={"last_hmac": chain.GENESIS})
        head = DecisionChainHead.objects.select_for_update().get(pk=1)
    return head


# No savepoint inside the caller's transaction (the decision task's, holding the exposure lock): two
# round trips saved on every decision. A duplicate application_ref then fails the caller's whole
# transaction instead of being caught here; the task retries and finds the stored decision.
@transaction.atomic(savepoint=False)
def decisions_append(items: list[dict], *, model_versions: Sequence[ModelVersion] = ()) -> list[Decision]:
    """Appends decisions to the chain in order, under one lock of its head: each signed over its
    predecessor, all inserted in one statement, the head moved once. `model_versions`: the rows the
    decisions cite, when the caller has them (set on each, so reading them back costs nothing)."""
    cited = {mv.pk: mv for mv in model_versions}
    head = _locked_head()
    decisions = []
    sequence, previous = head.last_sequence, head.last_hmac
    for fields in items:
        sequence += 1
        decision = _decision(sequence=sequence, previous_hmac=previous, **fields)
        if decision.model_version_id in cited:
            decision.model_version = cited[decision.model_version_id]
        decision.hmac = chain.sign(key=hmac_key(), content=decision_content(decision), previous=previous)
        previous = decision.hmac
        decisions.append(decision)
    Decision.objects.bulk_create(decisions)
    head.last_decision = decisions[-1]
    head.last_sequence = sequence
    head.last_hmac = previous
    head.save(update_fields=["last_decision", "last_sequence", "last_hmac"])
    return decisions


def _decision(
    *,
    business: Business,
    result: DecisionResult,
    as_of: datetime,
    application_ref: UUID | None,
    policy_version: PolicyVersion,
    model_version_id: int | None,
    names: list[str],
    values: list[float | None],
    context: BusinessContext,
    timings: dict,
    sequence: int,
    previous_hmac: str,
) -> Decision:
    return Decision(
        partner_id=business.partner_id,
        business=business,
        application_ref=application_ref,
        as_of=as_of,
        requested_amount=result.requested_amount,
        requested_term_months=result.requested_term_months,
        outcome=result.outcome,
        decided_by=result.decided_by,
        offered_amount=result.offered_amount,
        term_months=result.term_months,
        apr=result.apr,
        effective_apr=result.effective_apr,
        origination_fee=result.origination_fee,
        instalment=result.instalment,
        total_repayable=result.total_repayable,
        schedule=result.schedule,
        pd=result.pd,
        score=result.score,
        score_band=result.score_band,
        raw_margin=result.raw_margin,
        model_version_id=model_version_id,
        policy_version=policy_version,
        feature_names=names,
        feature_values=values,
        context=context.as_dict(),
        shap_values=result.shap_values,
        shap_base=result.shap_base,
        knockouts=result.knockouts,
        limit=result.limit,
        reasons=result.reasons,
        timings=timings,
        created_at=clock.now(),
        sequence=sequence,
        content_version=CONTENT_VERSION,
        previous_hmac=previous_hmac,
    )


# ---- replay --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    decision: Decision
    result: DecisionResult
    differences: dict[str, tuple]
    # Reasons that cite the same facts with the same weights in other words (the reason texts were
    # reworded since the decision was made): reported, not a difference.
    rewordings: list[tuple[str, str]] = ()

    @property
    def identical(self) -> bool:
        return not self.differences


_REPLAY_FIELDS = [
    "outcome",
    "decided_by",
    "offered_amount",
    "term_months",
    "apr",
    "effective_apr",
    "origination_fee",
    "instalment",
    "total_repayable",
    "score",
    "score_band",
    "knockouts",
    "limit",
]


def decision_replay(*, decision: Decision, model=None) -> Replay:
    """Re-run a stored decision from its own snapshot with its own model and policy versions.

    `model` overrides the stored model version (to see what another model would have decided)."""

    if model is None and decision.model_version_id is not None:
        model = load_model_version(decision.model_version)
    policy = PolicyParams.from_dict(decision.policy_version.params)
    result = evaluate(
        feature_names=decision.feature_names,
        feature_values=_snapshot_array(decision.feature_values),
        context=BusinessContext.from_dict(decision.context),
        amount=decision.requested_amount,
        term_months=decision.requested_term_months,
        as_of=decision.as_of.date(),
        policy=policy,
        model=model,
    )
    differences = {}
    for name in _REPLAY_FIELDS:
        stored, replayed = _jsonable(getattr(decision, name)), _jsonable(getattr(result, name))
        if stored != replayed:
            differences[name] = (stored, replayed)
    if (decision.pd is None) != (result.pd is None) or (
        decision.pd is not None and abs(decision.pd - result.pd) > 1e-12
    ):
        differences["pd"] = (decision.pd, result.pd)
    if result.schedule != decision.schedule:
        differences["schedule"] = (decision.schedule, result.schedule)
    if result.feature_values is not None and result.feature_values != decision.feature_values:
        differences["feature_values"] = (decision.feature_values, result.feature_values)
    stored, replayed = _reason_facts(decision.reasons), _reason_facts(result.reasons)
    if stored != replayed:
        differences["reasons"] = (decision.reasons, result.reasons)
    rewordings = [(a.get("text", ""), b.get("text", "")) for a, b in zip(decision.reasons, result.reasons, strict=False)
                  if a.get("text") != b.get("text")] if stored == replayed else []
    return Replay(decision=decision, result=result, differences=differences, rewordings=rewordings)


def _reason_facts(reasons: list[dict]) -> list[tuple]:
    """What a reason cites: its family, feature (or rule code), value and SHAP contribution."""
    return [(r.get("family"), r.get("feature"), _jsonable(r.get("value")), r.get("contribution")) for r in reasons]


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    return value
