from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import ApiKey, ApiScope, Business, PartnerBank, User
from accounts.services import api_key_create, api_key_revoke


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


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["partner", "name", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here through the service (the secret is shown once, in the success message)
    and revoked with the action; their other fields never change."""

    list_display = ["prefix", "name", "partner", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["partner", "revoked_at"]
    search_fields = ["prefix", "name", "partner__slug"]
    readonly_fields = [
        "public_id", "partner", "name", "prefix", "scopes", "created_at", "created_by", "expires_at",
        "revoked_at", "last_used_at",
    ]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_exclude(self, request, obj=None):
        return ["key_hash"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["partner", "name", "scopes", "expires_at"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = api_key_create(
            partner=form.cleaned_data["partner"], name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"], expires_at=form.cleaned_data.get("expires_at"),
            created_by=request.user,
        )
        obj.pk = created.api_key.pk
        obj.__dict__.update({k: v for k, v in created.api_key.__dict__.items() if not k.startswith("_")})
        messages.warning(
            request,
            f"The key is {created.raw_key} - copy it now: it is stored only as a hash and cannot be shown again.",
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
