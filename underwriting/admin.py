"""The audit console's underwriting side (docs/adr/0006-audit-and-monitoring.md).

Everything here is read-only in the admin: decisions, credit records, imports, model and policy
versions are written by services only. The two writes an operator makes here go through services
and their own permissions: promoting a model (`underwriting.add_modelactivation`) and creating a
policy version (`underwriting.add_policyversion`). loans/admin.py extends the decision admin with
what lives in loans (the application's history, reviews, the review queue).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from config import clock
from underwriting.decisions.audit import csv_lines, decision_audit, decision_csv_rows, waterfall_svg
from underwriting.decisions.models import Decision
from underwriting.engine.policy import PolicyError, PolicyParams
from underwriting.history.models import HistorySource, ImportRun, LoanRecord
from underwriting.modeling.models import ModelActivation, ModelVersion
from underwriting.modeling.registry import artifact_path_of
from underwriting.modeling.report import CHARTS, REPORT, SHAP_CHARTS
from underwriting.modeling.services import PromotionError, model_version_promote
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active, policy_version_create

admin.site.site_header = "310 Lending audit console"
admin.site.site_title = "310 Lending audit console"
admin.site.index_title = "Audit console"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: the admin shows them and never edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LoanRecord)
class LoanRecordAdmin(ReadOnlyAdmin):
    list_display = ["loan_id", "business", "partner", "source", "originated_on", "amount", "term_months", "status"]
    list_filter = ["partner", "source", "status"]
    search_fields = ["loan_id", "business__legal_name", "business__external_id"]
    date_hierarchy = "originated_on"
    list_select_related = ["business", "partner"]


class HistorySourceInline(admin.TabularInline):
    """What the batch added to each merchant's history, and the consistency checks of an upload."""

    model = HistorySource
    fields = ["business", "provenance", "transactions", "first_day", "last_day", "tripped_checks"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="consistency checks tripped")
    def tripped_checks(self, obj):
        tripped = [c["code"] for c in obj.checks or [] if c.get("tripped")]
        return ", ".join(tripped) if tripped else ("none" if obj.checks else "not checked")


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "partner", "source", "provenance", "status", "error_count", "finished_at"]
    list_filter = ["partner", "status", "source", "provenance"]
    readonly_fields = [f.name for f in ImportRun._meta.fields]
    inlines = [HistorySourceInline]


# ---- decisions -----------------------------------------------------------------------------------------


class CreatedFilter(admin.SimpleListFilter):
    title = "decided"
    parameter_name = "decided"
    OPTIONS = (("today", "Today", 0), ("7d", "Last 7 days", 6), ("30d", "Last 30 days", 29),
               ("90d", "Last 90 days", 89))

    def lookups(self, request, model_admin):
        return [(key, label) for key, label, _ in self.OPTIONS]

    def queryset(self, request, queryset):
        for key, _, days in self.OPTIONS:
            if self.value() == key:
                start = clock.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
                return queryset.filter(created_at__gte=start)
        return queryset


class CappedCountPaginator(Paginator):
    """Counts at most CAP + 1 rows (a LIMITed subquery on the newest-first index) instead of every
    matching decision: an exact count of a million-row table costs about a second on every page,
    and nobody pages past the newest 10,000; past the cap, the page says so and filters narrow it."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        n = self.object_list[: self.CAP + 1].count()
        self.capped = n > self.CAP
        return min(n, self.CAP)


class ScoreBandFilter(admin.SimpleListFilter):
    """The bands of every policy version (a handful of rows), not SELECT DISTINCT over the decisions."""

    title = "score band"
    parameter_name = "score_band"

    def lookups(self, request, model_admin):
        labels = set()
        for params in PolicyVersion.objects.values_list("params", flat=True):
            labels.update(label for label, _ in params.get("score_bands", []))
        labels = labels or {label for label, _ in PolicyParams().score_bands}
        return [(label, label) for label in sorted(labels)] + [("none", "no score (knock-out)")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(score_band="")
        if self.value():
            return queryset.filter(score_band=self.value())
        return queryset


def export_decisions_csv(modeladmin, request, queryset):
    """Streams the selected decisions as CSV (the changelist's filters apply)."""
    rows = decision_csv_rows(queryset.select_related("partner", "business", "model_version", "policy_version")
                             .order_by("id").iterator(chunk_size=2000))
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="decisions-{clock.now():%Y%m%d-%H%M}.csv"'
    return response


export_decisions_csv.short_description = "Export selected decisions to CSV"
export_decisions_csv.allowed_permissions = ("view",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "decision_link", "business", "outcome_badge", "requested_amount",
                    "offered_amount", "apr", "pd_percent", "score", "score_band", "model_version"]
    list_display_links = None
    list_filter = ["outcome", "decided_by", "partner", "model_version", "policy_version", ScoreBandFilter, CreatedFilter]
    search_fields = ["=public_id", "=application_ref", "business__legal_name", "=business__registration_number",
                     "=business__external_id"]
    # No date_hierarchy: its SELECT DISTINCT over the month of every decision scans the whole table;
    # CreatedFilter's ranges use the created_at index.
    list_select_related = ["business", "partner", "model_version", "policy_version"]
    list_per_page = 50
    paginator = CappedCountPaginator
    # A count of every matching row on each page is a full scan of a large table; the filtered count is enough.
    show_full_result_count = False
    actions = [export_decisions_csv]
    change_form_template = "admin/underwriting/decision/audit.html"
    readonly_fields = [f.name for f in Decision._meta.fields]

    @admin.display(description="decision", ordering="id")
    def decision_link(self, obj):
        url = reverse("admin:underwriting_decision_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.public_id)[:8])

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj):
        return format_html('<span class="badge badge-{}">{}</span>', obj.outcome, obj.get_outcome_display())

    @admin.display(description="PD", ordering="pd")
    def pd_percent(self, obj):
        return "" if obj.pd is None else f"{100 * obj.pd:.2f}%"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "underwriting_decision_changelist":
            # The list never needs the snapshot columns (a few KB a row): defer them.
            return qs.defer("feature_names", "feature_values", "shap_values", "context", "schedule")
        # The audit page shows every column and both versions.
        return qs.select_related("policy_version", "model_version", "business", "partner")

    def get_urls(self):
        urls = super().get_urls()
        own = [
            path("<int:object_id>/waterfall.svg", self.admin_site.admin_view(self.waterfall_view),
                 name="underwriting_decision_waterfall"),
        ]
        return own + urls

    def waterfall_view(self, request, object_id):
        decision = get_object_or_404(Decision.objects.select_related("model_version"), pk=object_id)
        if not self.has_view_permission(request, decision):
            raise PermissionDenied
        svg = waterfall_svg(decision)
        if svg is None:
            raise Http404("A knock-out decision has no model explanation.")
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Cache-Control"] = "private, max-age=86400"  # a decision never changes
        return response

    def audit_context(self, request, decision: Decision) -> dict:
        """The page's context; loans/admin.py adds the application and the reviews."""
        return {"decision": decision, "audit": decision_audit(decision)}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        decision = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if decision is not None and request.method == "GET":
            context.update(self.audit_context(request, decision))
        return super().change_view(request, object_id, form_url, extra_context=context)


# ---- models --------------------------------------------------------------------------------------------

SLICE_ORDER = ["train", "fit", "early_stop", "calibration", "validation", "unused"]
# The artifact files the console serves (the report and the charts it shows); model.txt and the
# manifest are not among them.
ARTIFACT_FILES = {**dict.fromkeys((*CHARTS, *SHAP_CHARTS), "image/png"), REPORT: "text/html; charset=utf-8"}


class PromoteForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=2000,
                             help_text="Why this model should decide from now on (validation results, review, ticket).")


@admin.register(ModelActivation)
class ModelActivationAdmin(ReadOnlyAdmin):
    list_display = ["activated_at", "model_version", "previous_version", "activated_by", "via", "reason"]
    list_select_related = ["model_version", "previous_version", "activated_by"]
    readonly_fields = [f.name for f in ModelActivation._meta.fields]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "scope", "is_active", "created_at", "validation_auc", "validation_gini", "train_rows",
                    "activated_at", "activated_by"]
    list_select_related = ["activated_by", "partner"]
    list_filter = ["is_active", "partner"]

    @admin.display(description="decides for", ordering="partner__slug")
    def scope(self, obj):
        # ADR 0012: a partner's own model, else the platform's fallback
        return obj.partner.slug if obj.partner_id else "platform (every partner without its own)"
    change_form_template = "admin/underwriting/modelversion/detail.html"
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

    @admin.display(description="validation AUC")
    def validation_auc(self, obj):
        value = (obj.metrics.get("validation") or {}).get("auc")
        return "" if value is None else f"{value:.4f}"

    @admin.display(description="validation Gini")
    def validation_gini(self, obj):
        value = (obj.metrics.get("validation") or {}).get("gini")
        return "" if value is None else f"{value:.4f}"

    @admin.display(description="train rows")
    def train_rows(self, obj):
        return (obj.training_window.get("train") or {}).get("rows", "")

    def has_promote_permission(self, request) -> bool:
        return request.user.has_perm("underwriting.add_modelactivation")

    def get_urls(self):
        urls = super().get_urls()
        own = [
            path("<int:object_id>/promote/", self.admin_site.admin_view(self.promote_view),
                 name="underwriting_modelversion_promote"),
            path("<int:object_id>/artifact/<str:name>", self.admin_site.admin_view(self.artifact_view),
                 name="underwriting_modelversion_artifact"),
        ]
        return own + urls

    def artifact_view(self, request, object_id, name):

        mv = get_object_or_404(ModelVersion, pk=object_id)
        if not self.has_view_permission(request, mv) or name not in ARTIFACT_FILES:
            raise Http404
        file = artifact_path_of(mv) / name
        if not file.is_file():
            raise Http404(f"{name} is not in the artifact of {mv.version}")
        return FileResponse(open(file, "rb"), content_type=ARTIFACT_FILES[name])

    def promote_view(self, request, object_id):
        mv = get_object_or_404(ModelVersion, pk=object_id)
        if not self.has_promote_permission(request):
            raise PermissionDenied
        form = PromoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                model_version_promote(model_version=mv, promoted_by=request.user, reason=form.cleaned_data["reason"])
            except PromotionError as exc:
                form.add_error(None, str(exc))
            else:
                whose = (f"{mv.partner.slug}'s new applications" if mv.partner_id
                         else "every new application of a partner without its own model")
                self.message_user(request, f"Model {mv.version} now decides {whose}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:underwriting_modelversion_change", args=[mv.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Promote {mv.version}",
                   "model_version": mv, "form": form,
                   "active": ModelVersion.objects.filter(is_active=True, partner_id=mv.partner_id).first()}
        return TemplateResponse(request, "admin/underwriting/modelversion/promote.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mv = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if mv is not None and request.method == "GET":
            metrics = [(name, mv.metrics.get(name) or {}) for name in ("train", "calibration", "validation")]
            keys = ["n", "defaults", "default_rate", "auc", "gini", "ks", "brier", "calibration_error", "mean_pd",
                    "oracle_auc"]
            context.update({
                "mv": mv,
                "metric_keys": [k for k in keys if any(k in m for _, m in metrics)],
                "metric_rows": metrics,
                "window": sorted(((k, v) for k, v in mv.training_window.items() if isinstance(v, dict)),
                                 key=lambda kv: (SLICE_ORDER.index(kv[0]) if kv[0] in SLICE_ORDER else 99, kv[0])),
                "window_dates": [(k, v) for k, v in mv.training_window.items() if not isinstance(v, dict)],
                "activations": mv.activations.select_related("activated_by", "previous_version")[:20],
                "can_promote": self.has_promote_permission(request) and not mv.is_active,
                "decision_count": mv.decisions.count(),
            })
        return super().change_view(request, object_id, form_url, extra_context=context)


# ---- policy versions ------------------------------------------------------------------------------------


class PolicyVersionForm(forms.Form):
    params = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "cols": 70, "class": "vLargeTextField"}),
                             help_text="Every parameter as JSON (Decimals as strings); missing keys take the defaults.")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}), max_length=2000,
                           help_text="Why this version exists.")
    activate = forms.BooleanField(required=False, initial=True, help_text="Decide with it from now on.")

    def clean_params(self):
        try:
            data = json.loads(self.cleaned_data["params"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise forms.ValidationError("The parameters must be a JSON object.")
        try:
            PolicyParams.from_dict(data)
        except PolicyError as exc:
            raise forms.ValidationError(exc.errors) from exc
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "is_active", "created_at", "created_by", "note"]
    list_select_related = ["created_by"]
    readonly_fields = [f.name for f in PolicyVersion._meta.fields]

    def has_add_permission(self, request):
        return request.user.has_perm("underwriting.add_policyversion")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        _, active = policy_active()
        form = PolicyVersionForm(request.POST or None,
                                 initial={"params": json.dumps(active.to_dict(), indent=2)})
        if request.method == "POST" and form.is_valid():
            created = policy_version_create(params=form.cleaned_data["params"], note=form.cleaned_data["note"],
                                            created_by=request.user, activate=form.cleaned_data["activate"])
            self.log_addition(request, created, [{"added": {}}])
            self.message_user(request, f"Policy version {created.version} recorded"
                              + (" and active." if created.is_active else " (not active)."), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:underwriting_policyversion_change", args=[created.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "New policy version", "add": True}
        return TemplateResponse(request, "admin/underwriting/policyversion/add.html", context)
