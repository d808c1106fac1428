"""The risk dashboard (/risk/dashboard/): a page for loan officers and risk operators.

Decision volumes, approval rate, PD/amount/rate by outcome, latency and drift come from the daily
summary tables (underwriting.monitoring), never from the raw decisions; vintages from the credit
record (LoanRecord); predicted vs observed default by score band joins the platform's own loans to
the decisions that priced them (a loan count, not a decision count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from accounts.models import PartnerBank
from config import clock
from loans.applications.booking import platform_loan_id
from loans.applications.models import Loan
from underwriting.charts import bar_chart_svg, line_chart_svg
from underwriting.engine.pricing import score_for
from underwriting.history.models import LoanRecord, LoanRecordSource, LoanRecordStatus
from underwriting.modeling.models import ModelVersion
from underwriting.monitoring.selectors import dashboard_summary, vintage_default_rates
from underwriting.monitoring.services import summaries_backlog, summaries_catch_up
from underwriting.policies.services import policy_active

RANGES = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_RANGE = "30d"
VIEW_PERMISSION = "underwriting.view_decision"


@dataclass(frozen=True)
class Window:
    key: str
    start: date
    end: date


def _window(params) -> Window:
    today = clock.today()
    key = params.get("range", DEFAULT_RANGE)
    if key == "custom":
        try:
            start = date.fromisoformat(params.get("start", ""))
            end = date.fromisoformat(params.get("end", ""))
        except ValueError:
            key = DEFAULT_RANGE
        else:
            if start <= end and (end - start).days <= 731:
                return Window("custom", start, end)
            key = DEFAULT_RANGE
    if key not in RANGES:
        key = DEFAULT_RANGE
    return Window(key, today - timedelta(days=RANGES[key] - 1), today)


def calibration_by_band() -> list[dict]:
    """The platform's disbursed loans by the score band of the decision that priced them: loans,
    mean predicted PD, defaults so far (defaulted or 90+ days past due) and the observed rate."""
    records = {r["loan_id"]: r for r in LoanRecord.objects.filter(source=LoanRecordSource.PLATFORM)
               .values("loan_id", "status", "days_past_due")}
    bands: dict[str, dict] = {}
    loans = (Loan.objects.filter(application__decision__isnull=False)
             .values_list("public_id", "application__decision__pd", "application__decision__score_band"))
    for public_id, pd, band in loans:
        record = records.get(platform_loan_id(public_id))
        if record is None or pd is None:
            continue  # not disbursed yet: no credit record, no outcome to observe
        b = bands.setdefault(band, {"band": band, "loans": 0, "pd_sum": 0.0, "defaults": 0})
        b["loans"] += 1
        b["pd_sum"] += pd
        if record["status"] == LoanRecordStatus.DEFAULTED or record["days_past_due"] >= 90:
            b["defaults"] += 1
    rows = []
    for band in sorted(bands):
        b = bands[band]
        rows.append({**b, "predicted": b["pd_sum"] / b["loans"], "observed": b["defaults"] / b["loans"]})
    return rows


def appetite_curve() -> dict | None:
    """The active model's trade-off between approving more and defaulting more (out of fold,
    underwriting/engine/appetite.py), each row's cut-off as a score, the row the active policy's
    `max_pd` sits in marked, and how the active policy was set (its derivation, if any)."""
    model = ModelVersion.objects.filter(is_active=True, partner=None).only("version", "metrics").first()
    record = ((model.metrics or {}).get("appetite") or {}) if model else {}
    if not record.get("curve"):
        return None
    row, policy = policy_active()
    cut = float(policy.max_pd)
    rows = [{**r, "score": score_for(min(r["max_pd"], 1.0), policy), "within": r["max_pd"] <= cut}
            for r in record["curve"]]
    inside = [r for r in rows if r["within"]]
    if inside:
        inside[-1]["current"] = True
    return {"model": model.version, "loans": record["loans"], "defaults": record["defaults"], "rows": rows,
            "max_pd": cut, "policy_version": row.version, "derivation": row.derivation, "note": row.note}


def _charts(summary: dict, vintages: list[dict], bands: list[dict]) -> dict:
    days = summary["days"]
    labels = [d["day"].strftime("%m-%d") for d in days]
    charts = {
        "volume": bar_chart_svg(
            title="Decisions per day by outcome", labels=labels,
            series={"approved": [d["approved"] for d in days], "counter-offer": [d["counter_offer"] for d in days],
                    "declined": [d["declined"] for d in days]}),
        "approval": line_chart_svg(title="Approval rate per day (approved + counter-offers)", labels=labels,
                                   series={"approval rate": [d["approval_rate"] for d in days]}, unit="%"),
        "latency": line_chart_svg(title="Decision latency per day", labels=labels, unit="ms",
                                  series={"p50": [d["p50_ms"] for d in days], "p99": [d["p99_ms"] for d in days]}),
    }
    drift = summary["drift"]
    if drift.get("score"):
        bins = drift["score"]["bins"]
        charts["score"] = bar_chart_svg(
            title="Score distribution: training data vs decisions in range", labels=[b["label"] for b in bins],
            series={"training (reference)": [b["expected"] for b in bins],
                    "decisions in range": [b["actual"] for b in bins]}, unit="%", height=260)
    if vintages:
        charts["vintage"] = bar_chart_svg(
            title="Default rate by origination month", labels=[v["month"].strftime("%Y-%m") for v in vintages],
            series={"default rate": [v["rate"] for v in vintages]}, unit="%")
    if bands:
        charts["bands"] = bar_chart_svg(
            title="Predicted vs observed default by score band", labels=[b["band"] for b in bands],
            series={"predicted PD": [b["predicted"] for b in bands], "observed so far": [b["observed"] for b in bands]},
            unit="%")
    return charts


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def dashboard(request):
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied("The risk dashboard is for loan officers and risk operators.")
    if request.method == "POST":
        # "Count them now": the officer's explicit action; a GET never writes (beat counts new
        # decisions every DECISION_SUMMARY_SECONDS).
        summaries_catch_up()
        return redirect(request.get_full_path())
    window = _window(request.GET)
    partners = list(PartnerBank.objects.order_by("slug").values_list("id", "slug", "name"))
    partner = next((p for p in partners if p[1] == request.GET.get("partner")), None)
    summary = dashboard_summary(start=window.start, end=window.end, partner_id=partner[0] if partner else None)
    source = request.GET.get("book", LoanRecordSource.PLATFORM)
    if source not in (LoanRecordSource.PLATFORM, LoanRecordSource.IMPORTED, "all"):
        source = LoanRecordSource.PLATFORM
    vintages = vintage_default_rates(source=None if source == "all" else source)
    bands = calibration_by_band()
    context = {
        **admin.site.each_context(request),
        "title": "Risk dashboard",
        "summary": summary,
        "drift": summary["drift"],
        "window": window,
        "ranges": [(k, f"Last {v} days") for k, v in RANGES.items()],
        "partners": partners,
        "partner": partner,
        "book": source,
        "books": [(LoanRecordSource.PLATFORM, "Platform loans"), (LoanRecordSource.IMPORTED, "Imported books"),
                  ("all", "All loans")],
        "vintages": vintages,
        "bands": bands,
        "appetite": appetite_curve(),
        "charts": _charts(summary, vintages, bands),
        "backlog": summaries_backlog(),
    }
    return render(request, "risk/dashboard.html", context)


app_name = "risk"
urlpatterns = [path("dashboard/", dashboard, name="dashboard")]
