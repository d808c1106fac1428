from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import Business, PartnerBank, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(PartnerBank)
class PartnerBankAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "currency", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["public_id", "created_at"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "external_id", "partner", "sector", "region", "onboarded_on", "is_blocked"]
    list_filter = ["partner", "sector", "region", "is_blocked"]
    search_fields = ["legal_name", "registration_number", "external_id", "public_id"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    raw_id_fields = ["owner"]
    list_select_related = ["partner"]
