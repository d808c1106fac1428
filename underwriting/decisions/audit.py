"""Reads for the audit console: one decision laid out for a person, and CSV exports (docs/adr/0006)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from underwriting.charts import shap_waterfall_svg, waterfall_items
from underwriting.decisions.models import Decision
from underwriting.engine.pricing import approval_cutoff
from underwriting.features.catalog import FAMILIES, format_value
from underwriting.features.specs import FEATURES
from underwriting.money import amount_text
from underwriting.provenance import LABELS as PROVENANCE_LABELS
from underwriting.provenance import Provenance

_CATALOG = {spec.name: spec for spec in FEATURES}


def _shap_names(decision: Decision) -> list[str]:
    """SHAP values are in the model's feature order (engine.model_row), which the registry records."""
    mv = decision.model_version
    if mv is not None and len(mv.feature_names or []) == len(decision.shap_values or []):
        return list(mv.feature_names)
    return list(decision.feature_names)


def feature_rows(decision: Decision) -> list[dict]:
    """Every feature of the snapshot: description, family, the value as stored and as a person reads
    it, and its SHAP contribution when the model ran; ordered by |contribution|, then catalog order."""
    shap = dict(zip(_shap_names(decision), decision.shap_values or [], strict=False))
    currency = decision.partner.currency
    rows = []
    for i, (name, value) in enumerate(zip(decision.feature_names, decision.feature_values, strict=False)):
        spec = _CATALOG.get(name)
        rows.append({
            "position": i,
            "name": name,
            "description": spec.description if spec else "(no longer in the feature catalog)",
            "family": FAMILIES.get(spec.family, spec.family) if spec else "",
            "value": value,
            "shown": (format_value(value, spec.unit, currency) if spec
                      else ("missing" if value is None else f"{value:.6g}")),
            "contribution": shap.get(name),
        })
    rows.sort(key=lambda r: (-abs(r["contribution"]) if r["contribution"] is not None else 0.0, r["position"]))
    return rows


def waterfall_svg(decision: Decision) -> str | None:
    """The decision's SHAP waterfall (None for a knock-out: the model did not run)."""
    if not decision.shap_values or decision.shap_base is None:
        return None
    names = _shap_names(decision)
    values = dict(zip(decision.feature_names, decision.feature_values, strict=False))
    labels = {}
    currency = decision.partner.currency
    for name in names:
        spec = _CATALOG.get(name)
        shown = format_value(values.get(name), spec.unit, currency) if spec else ""
        labels[name] = f"{spec.description}: {shown}" if spec else name
    items = waterfall_items(names=names, labels=labels, shap_values=decision.shap_values,
                            values=[values.get(n) for n in names])
    margin = decision.raw_margin if decision.raw_margin is not None else decision.shap_base + sum(decision.shap_values)
    return shap_waterfall_svg(base=decision.shap_base, items=items, margin=margin, pd=decision.pd)


def decision_audit(decision: Decision) -> dict:
    """What the decision page shows beyond the record's own fields."""
    policy = decision.policy_version.policy
    cutoff_pd, cutoff_score = approval_cutoff(policy, decision.requested_term_months)
    shap_sum = sum(decision.shap_values) if decision.shap_values else None
    additivity = (abs(decision.shap_base + shap_sum - decision.raw_margin)
                  if shap_sum is not None and decision.raw_margin is not None and decision.shap_base is not None
                  else None)
    return {
        "features": feature_rows(decision),
        "missing_features": sum(1 for v in decision.feature_values if v is None),
        "knockouts": decision.knockouts,
        "failed_rules": [r for r in decision.knockouts if not r.get("passed")],
        "reasons": decision.reasons,
        "schedule": decision.schedule.get("rows", []) if isinstance(decision.schedule, dict) else decision.schedule,
        "limit": decision.limit,
        "timings": sorted(decision.timings.items()),
        "cutoff_pd": cutoff_pd,
        "cutoff_score": cutoff_score,
        "additivity_error": additivity,
        "has_waterfall": bool(decision.shap_values),
        "provenance": _provenance(decision.context),
        "history_checks": decision.context.get("history_checks"),
        "exposure": decision.context.get("exposure"),
        "at_request": (decision.limit or {}).get("at_request"),
    }


def _provenance(context: dict) -> str:
    value = context.get("provenance")
    if value is None:
        return "not recorded (decided before provenance was recorded)"
    if value == "":
        return "not recorded (history imported before provenance was recorded: lent on as a partner feed)"
    return PROVENANCE_LABELS.get(Provenance(value), value)


# ---- CSV export ---------------------------------------------------------------------------------------

DECISION_COLUMNS = ["decision_id", "created_at", "as_of", "partner", "business_external_id", "business_name",
                    "registration_number", "application_id", "outcome", "decided_by", "requested_amount",
                    "requested_term_months", "offered_amount", "term_months", "apr", "effective_apr",
                    "origination_fee", "instalment", "total_repayable", "pd", "score", "score_band",
                    "model_version", "policy_version", "failed_rules", "reasons", "total_ms", "hmac"]


def csv_text(value: str) -> str:
    """Free text made safe for spreadsheets: a cell starting with =, +, -, @ (or a tab or carriage
    return) would be run as a formula when an auditor opens the file, so it is prefixed with '."""
    return f"'{value}" if value and value[0] in "=+-@\t\r" else value


def _money(value: Decimal | None) -> str:
    return "" if value is None else amount_text(value)


def decision_csv_rows(decisions: Iterable[Decision]) -> Iterator[list[str]]:
    yield DECISION_COLUMNS
    for d in decisions:
        yield [
            str(d.public_id), d.created_at.isoformat(), d.as_of.isoformat(), d.partner.slug,
            csv_text(d.business.external_id), csv_text(d.business.legal_name),
            csv_text(d.business.registration_number or ""),
            str(d.application_ref or ""), d.outcome, d.decided_by, _money(d.requested_amount),
            str(d.requested_term_months), _money(d.offered_amount), str(d.term_months or ""),
            _money(d.apr), _money(d.effective_apr), _money(d.origination_fee), _money(d.instalment),
            _money(d.total_repayable), "" if d.pd is None else repr(d.pd), "" if d.score is None else str(d.score),
            d.score_band, d.model_version.version if d.model_version_id else "", str(d.policy_version.version),
            " ".join(r["code"] for r in d.knockouts if not r.get("passed")),
            csv_text(" | ".join(r.get("text", "") for r in d.reasons)), str(d.timings.get("total_ms", "")), d.hmac,
        ]


class Echo:
    """A file-like object whose write returns the line, for StreamingHttpResponse."""

    def write(self, value):
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(Echo())
    for row in rows:
        yield writer.writerow(row)
