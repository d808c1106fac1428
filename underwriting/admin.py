from django.contrib import admin

from .models import Decision, ImportRun, LoanRecord, ModelVersion, PolicyVersion


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


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "partner", "source", "status", "error_count", "finished_at"]
    list_filter = ["partner", "status", "source"]
    readonly_fields = [f.name for f in ImportRun._meta.fields]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "business", "outcome", "requested_amount", "offered_amount", "apr", "score",
                    "model_version", "policy_version"]
    list_filter = ["outcome", "decided_by", "partner", "model_version", "policy_version", "score_band"]
    search_fields = ["public_id", "application_ref", "business__legal_name", "business__registration_number"]
    date_hierarchy = "created_at"
    list_select_related = ["business", "model_version", "policy_version"]
    readonly_fields = [f.name for f in Decision._meta.fields]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "is_active", "created_at", "activated_at"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "is_active", "created_at", "note"]
    readonly_fields = [f.name for f in PolicyVersion._meta.fields]
