"""Scopes: `read` for GET, `write` for data changes, `admin` for webhook endpoints (docs/domain.md)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiScope


class HasScope(BasePermission):
    """A view names the scope of its writes in `write_scope` (default `write`); reads need `read_scope`
    (default `read`)."""

    message = "The API key lacks the scope this operation needs."

    def has_permission(self, request, view):
        api_key = getattr(request, "auth", None)
        if api_key is None:
            return False
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_scope", ApiScope.READ)
        else:
            needed = getattr(view, "write_scope", ApiScope.WRITE)
        self.message = f"The API key lacks the '{needed}' scope this operation needs."
        return needed in api_key.effective_scopes
