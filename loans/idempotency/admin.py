"""Read-only admin of the stored idempotent answers (imported by loans/admin.py)."""

from django.contrib import admin

from loans.idempotency.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    # Written only by the API; an operator may delete a stuck record, never add or edit one.
    list_display = ["key", "partner", "method", "path", "status", "response_status", "created_at"]
    list_filter = ["status", "partner"]
    search_fields = ["key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
