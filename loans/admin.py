"""The audit console's loans side (docs/adr/0006-audit-and-monitoring.md): applications with their state
history, the platform's loans, officer reviews and the review queue.

Everything is read-only in the admin except recording a review, which goes through
`review_services.review_record` and its own permission (`loans.add_review`). The decision admin of
underwriting/admin.py is extended here (re-registered) with what only loans knows: the application's
history, the reviews, the review form and the "reviewed" and "in the review queue" filters.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config import clock
from loans.applications import booking as applications_booking
from loans.applications import transitions as applications_transitions
from loans.applications.models import Application, ApplicationTransition, Loan, LoanInstalment, LoanStatus
from loans.reviews.models import Review, ReviewVerdict
from loans.reviews.selectors import (
    decision_reviews,
    queue_reasons,
    queue_settings,
    review_csv_rows,
    review_queue,
    review_queue_count,
    reviewed_q,
)
from loans.reviews.selectors import near_threshold_q as _near_q
from loans.reviews.selectors import sampled_q as _sampled_q
from loans.reviews.services import ReviewError, review_record
from underwriting.admin import DecisionAdmin, ReadOnlyAdmin
from underwriting.decisions.audit import csv_lines
from underwriting.decisions.models import Decision


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransitionInline(ReadOnlyInline):
    model = ApplicationTransition
    fields = ["at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    ordering = ["at", "id"]


class ReviewInline(ReadOnlyInline):
    model = Review
    fk_name = "application"
    fields = ["created_at", "reviewer", "verdict", "note"]
    readonly_fields = fields


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "public_id", "business", "partner", "channel", "amount", "term_months", "status",
                    "decision_link"]
    list_filter = ["status", "channel", "partner", "purpose", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=public_id", "business__legal_name", "=business__registration_number",
                     "=business__external_id"]
    list_select_related = ["business", "partner", "decision"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Application._meta.fields]
    inlines = [TransitionInline, ReviewInline]

    @admin.display(description="decision")
    def decision_link(self, obj):
        if obj.decision_id is None:
            return ""
        url = reverse("admin:underwriting_decision_change", args=[obj.decision_id])
        return format_html('<a href="{}">{}</a>', url, obj.decision.get_outcome_display())


class InstalmentInline(ReadOnlyInline):
    model = LoanInstalment
    fields = ["number", "due_on", "amount", "principal", "interest", "balance_after"]
    readonly_fields = fields


@admin.action(description="Confirm the selected loans were paid out", permissions=["confirm_disbursement"])
def confirm_disbursement(modeladmin, request, queryset):
    """The partner's confirmation, for the platform's own channel: loans waiting for a person (an owner's
    own uploaded history) are paid out now (docs/provenance.md)."""
    done, refused = 0, []
    for loan in queryset.filter(status=LoanStatus.AWAITING_DISBURSEMENT):
        try:
            applications_booking.loan_disburse(loan=loan, actor=f"staff:{request.user.email}")
        except (applications_transitions.IllegalTransition, ValidationError) as exc:
            refused.append(f"{loan.public_id}: {exc}")
        else:
            done += 1
    skipped = queryset.exclude(status=LoanStatus.AWAITING_DISBURSEMENT).count()
    modeladmin.message_user(request, f"{done} loan(s) paid out." + (f" {skipped} were not waiting for a payout."
                                                                     if skipped else ""))
    for message in refused:
        modeladmin.message_user(request, message, level=messages.ERROR)


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "public_id", "business", "partner", "principal", "apr", "term_months", "status"]
    list_filter = ["status", "partner"]
    search_fields = ["=public_id", "business__legal_name", "=business__registration_number"]
    list_select_related = ["business", "partner"]
    readonly_fields = [f.name for f in Loan._meta.fields]
    inlines = [InstalmentInline]
    actions = [confirm_disbursement]

    def has_confirm_disbursement_permission(self, request):
        return request.user.has_perm("loans.confirm_disbursement")


# ---- reviews --------------------------------------------------------------------------------------------

def export_reviews_csv(modeladmin, request, queryset):
    rows = review_csv_rows(queryset.select_related("reviewer", "application", "decision__business",
                                                   "decision__partner").order_by("id").iterator(chunk_size=2000))
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reviews-{clock.now():%Y%m%d-%H%M}.csv"'
    return response


export_reviews_csv.short_description = "Export selected reviews to CSV"
export_reviews_csv.allowed_permissions = ("view",)


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Reviews are recorded on the decision page; here they are listed, filtered and exported."""

    list_display = ["created_at", "verdict_badge", "reviewer", "decision_link", "business", "note"]
    list_filter = ["verdict", ("created_at", admin.DateFieldListFilter), "reviewer"]
    search_fields = ["=decision__public_id", "decision__business__legal_name", "note"]
    list_select_related = ["reviewer", "decision__business"]
    readonly_fields = [f.name for f in Review._meta.fields]
    actions = [export_reviews_csv]

    @admin.display(description="verdict", ordering="verdict")
    def verdict_badge(self, obj):
        return format_html('<span class="badge badge-{}">{}</span>', obj.verdict, obj.get_verdict_display())

    @admin.display(description="decision")
    def decision_link(self, obj):
        url = reverse("admin:underwriting_decision_change", args=[obj.decision_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.decision.public_id)[:8])

    @admin.display(description="business")
    def business(self, obj):
        return obj.decision.business.legal_name


class ReviewForm(forms.Form):
    verdict = forms.ChoiceField(choices=ReviewVerdict.choices, widget=forms.RadioSelect)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000,
                           help_text="Required unless you agree.")


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("yes", "Reviewed"), ("no", "Not reviewed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(reviewed_q())
        if self.value() == "no":
            return queryset.exclude(reviewed_q())
        return queryset


class QueueFilter(admin.SimpleListFilter):
    title = "review queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("queue", "In the review queue"), ("sample", "Random sample"), ("threshold", "Near the cut-off")]

    def queryset(self, request, queryset):
        rate, points = queue_settings()
        if self.value() == "queue":
            return queryset.filter(pk__in=review_queue().values("pk"))
        if self.value() == "sample":
            return queryset.filter(_sampled_q(rate))
        if self.value() == "threshold":
            return queryset.filter(_near_q(points))
        return queryset


admin.site.unregister(Decision)


@admin.register(Decision)
class DecisionAuditAdmin(DecisionAdmin):
    change_form_template = "admin/loans/decision_audit.html"
    list_filter = [*DecisionAdmin.list_filter, ReviewedFilter, QueueFilter]
    search_fields = [*DecisionAdmin.search_fields, "=application__public_id"]

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("loans.add_review")

    def get_urls(self):
        own = [
            path("<int:object_id>/review/", self.admin_site.admin_view(self.review_view),
                 name="underwriting_decision_review"),
            path("review-queue/", self.admin_site.admin_view(self.queue_view), name="underwriting_decision_queue"),
        ]
        return own + super().get_urls()

    def audit_context(self, request, decision, form=None):
        context = super().audit_context(request, decision)
        application = (Application.objects.filter(decision=decision).first()
                       or (Application.objects.filter(public_id=decision.application_ref).first()
                           if decision.application_ref else None))
        context.update({
            "application": application,
            "transitions": list(application.transitions.select_related("actor_user")) if application else [],
            "reviews": list(decision_reviews(decision)),
            "queue_reasons": queue_reasons(decision),
            "can_review": self.has_review_permission(request),
            "review_form": form or ReviewForm(),
        })
        return context

    def review_view(self, request, object_id):
        decision = get_object_or_404(Decision.objects.select_related("policy_version", "model_version",
                                                                     "business", "partner"), pk=object_id)
        if not self.has_review_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:underwriting_decision_change", args=[decision.pk]))
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                review_record(decision=decision, reviewer=request.user, verdict=form.cleaned_data["verdict"],
                              note=form.cleaned_data["note"])
            except ReviewError as exc:
                form.add_error("note", str(exc))
            else:
                self.message_user(request, "Your review is recorded.", messages.SUCCESS)
                if request.POST.get("next") == "queue":
                    nxt = review_queue().exclude(pk=decision.pk).values_list("pk", flat=True).first()
                    if nxt:
                        return HttpResponseRedirect(reverse("admin:underwriting_decision_change", args=[nxt]))
                return HttpResponseRedirect(reverse("admin:underwriting_decision_change", args=[decision.pk]))
        # Show the page again with the errors; nothing was written.
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"Decision {decision.public_id}", **self.audit_context(request, decision, form=form)}
        return TemplateResponse(request, self.change_form_template, context, status=400)

    def queue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        rate, points = queue_settings()
        queue = review_queue().select_related("business", "partner", "policy_version", "model_version")
        page = list(queue[:200])
        rows = [{"decision": d, "reasons": queue_reasons(d)} for d in page]
        total, capped = review_queue_count()
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Review queue",
                   "rows": rows, "total": f"{total}+" if capped else total, "shown": len(rows), "rate": rate,
                   "points": points}
        return TemplateResponse(request, "admin/loans/review_queue.html", context)


# The partner API's records (webhook endpoints, events, deliveries, idempotency keys) register there.
from loans.idempotency import admin as idempotency_admin  # noqa: E402, F401 - registers its admin
from loans.webhooks import admin as webhooks_admin  # noqa: E402, F401 - registers its admin
