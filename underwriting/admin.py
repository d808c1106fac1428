from django.contrib import admin

from .models import ImportRun, LoanRecord


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
