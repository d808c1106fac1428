"""Read-only admin of webhook endpoints, events, deliveries and their attempts (imported by loans/admin.py)."""

from django.contrib import admin

from loans.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ["url", "partner", "is_enabled", "failing_since", "disabled_at", "created_at"]
    list_filter = ["partner", "is_enabled"]
    search_fields = ["url", "public_id"]
    exclude = ["secret", "previous_secret"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "duration_ms", "error", "response_body"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ["event", "endpoint", "status", "attempt_count", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event__event_type"]
    list_select_related = ["event", "endpoint"]
    inlines = [WebhookAttemptInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(_ReadOnly):
    list_display = ["event_id", "event_type", "partner", "created_at"]
    list_filter = ["event_type", "partner"]
    search_fields = ["event_id"]
