"""`Authorization: Bearer p310_...`: the caller is a partner, through one of its API keys."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.selectors import api_key_authenticate
from accounts.services import api_key_touch
from config import clock
from loans.api.errors import ApiProblem
from loans.api.throttling import auth_failure_wait


class PartnerPrincipal:
    """request.user for API calls: the partner behind the key. Not a Django user; no session, no admin."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.partner = api_key.partner

    def __str__(self) -> str:
        return f"partner {self.partner.slug} (key {self.api_key.prefix})"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            _failed(request, "Use 'Authorization: Bearer <API key>'.")
        now = clock.now()
        api_key = api_key_authenticate(raw_key=raw.strip(), now=now)
        if api_key is None:
            _failed(request, "The API key is invalid, revoked or expired.")
        api_key_touch(api_key=api_key, now=now)
        return PartnerPrincipal(api_key), api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when no key was sent.
        return 'Bearer realm="api"'


def _failed(request, detail: str):
    """401, or 429 once the client's address has failed API_AUTH_FAILURE_RATE times in the window. A valid
    key is never refused for its address's failures (the key is checked first): the limit slows down
    key guessing and floods of stale keys, not a partner sharing an address with one."""
    wait = auth_failure_wait(request)
    if wait is not None:
        raise ApiProblem(
            f"Too many failed authentications from this address; retry after {int(-(-wait // 1))} s.",
            status_code=429, slug="rate-limited", title="Too many requests", retry_after=wait,
        )
    raise exceptions.AuthenticationFailed(detail)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "loans.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "p310_<prefix>_<secret>",
            "description": "A partner API key (manage.py create_api_key or the admin). Scopes: read, write, admin.",
        }
