"""RFC 9457 problem details for every error of the API, whatever raised it.

Each problem has a stable `type` (PROBLEM_BASE + slug, listed in docs/api.md), the HTTP `status`, a
short `title`, a `detail` for this occurrence, the request path as `instance` and the request's id as
`request_id` (its `Request-Id` header, config/request_id.py); validation problems add `errors`, one
entry per field (`field` is a path such as `transactions[3].amount`).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from config import request_id
from loans.api.renderers import RequestTooLarge

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://docs.lending310.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


class FieldErrors(exceptions.ValidationError):
    """A validation error whose problems are already flat {field, message, code} entries (the import's
    row-level errors)."""

    def __init__(self, errors: list[dict]):
        super().__init__("invalid")
        self.flat_errors = errors


class ApiProblem(exceptions.APIException):
    """A domain or protocol problem with its own slug (409 conflicts, 422 key reuse, ...)."""

    slug = "problem"
    title = "Problem"

    def __init__(self, detail: str, *, status_code: int, slug: str, title: str, extensions: dict | None = None,
                 retry_after: int | None = None):
        super().__init__(detail)
        self.wait = retry_after  # seconds, sent as Retry-After (as DRF's Throttled does)
        self.status_code = status_code
        self.slug = slug
        self.title = title
        # RFC 9457 extension members (e.g. the id of the application a conflict is about).
        self.extensions = extensions or {}


_BY_CLASS: list[tuple[type, str, str]] = [
    (exceptions.ValidationError, "validation-error", "The request is not valid"),
    (exceptions.ParseError, "malformed-request", "The request body is not valid JSON"),
    (exceptions.NotAuthenticated, "unauthenticated", "Authentication required"),
    (exceptions.AuthenticationFailed, "unauthenticated", "Authentication failed"),
    (exceptions.PermissionDenied, "forbidden", "Not allowed"),
    (exceptions.NotFound, "not-found", "Not found"),
    (exceptions.MethodNotAllowed, "method-not-allowed", "Method not allowed"),
    (exceptions.NotAcceptable, "not-acceptable", "Cannot produce the requested media type"),
    (exceptions.UnsupportedMediaType, "unsupported-media-type", "Unsupported media type"),
    (exceptions.Throttled, "rate-limited", "Too many requests"),
    (RequestTooLarge, "request-too-large", "The request body is too large"),
]


def flatten_errors(detail, prefix: str = "") -> list[dict]:
    """DRF's nested error structure as a flat list of {field, message, code}."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's item
                out.extend(flatten_errors(value, f"{prefix}[{key}]"))
                continue
            name = "" if key in ("non_field_errors", "__all__") else key
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.extend(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(isinstance(d, (str, exceptions.ErrorDetail)) for d in detail):
            for d in detail:
                out.append({"field": prefix or None, "message": str(d), "code": getattr(d, "code", "invalid")})
        else:
            for i, value in enumerate(detail):
                if value:  # DRF puts {} for the valid items of a list
                    out.extend(flatten_errors(value, f"{prefix}[{i}]"))
    else:
        out.append({"field": prefix or None, "message": str(detail), "code": getattr(detail, "code", "invalid")})
    return out


def problem_body(*, status_code: int, slug: str, title: str, detail: str, instance: str | None,
                 errors: list[dict] | None = None, extensions: dict | None = None) -> dict:
    body = {"type": problem_type(slug), "title": title, "status": status_code, "detail": detail}
    if instance:
        body["instance"] = instance
    current = request_id.current()
    if current is not None:  # the response's Request-Id: what to quote when asking us about a failure
        body["request_id"] = current
    if errors is not None:
        body["errors"] = errors
    body.update(extensions or {})
    return body


def problem_response(*, status_code: int, slug: str, title: str, detail: str, request=None,
                     errors: list[dict] | None = None, headers: dict | None = None,
                     extensions: dict | None = None) -> Response:
    instance = request.path if request is not None else None
    return Response(
        problem_body(status_code=status_code, slug=slug, title=title, detail=detail, instance=instance,
                     errors=errors, extensions=extensions),
        status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE,
    )


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception from an API view becomes a problem (never a trace)."""
    from rest_framework.views import set_rollback  # not at import time: DRF's views import this module

    request = context.get("request")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    if not isinstance(exc, exceptions.APIException):
        logger.exception("unhandled error in API view", exc_info=exc)
        set_rollback()
        return problem_response(
            status_code=500, slug="internal-error", title="Internal error",
            detail="The server failed to handle the request; nothing was changed. Retry later.",
            request=request,
        )
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(-(-exc.wait // 1)))
    set_rollback()
    if isinstance(exc, ApiProblem):
        return problem_response(status_code=exc.status_code, slug=exc.slug, title=exc.title,
                                detail=str(exc.detail), request=request, headers=headers,
                                extensions=exc.extensions)
    slug, title = "error", "Error"
    for cls, s, t in _BY_CLASS:
        if isinstance(exc, cls):
            slug, title = s, t
            break
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.flat_errors if isinstance(exc, FieldErrors) else flatten_errors(exc.detail)
        return problem_response(
            status_code=exc.status_code, slug=slug, title=title,
            detail=f"{len(errors)} field(s) failed validation; see errors.", request=request,
            errors=errors, headers=headers,
        )
    if isinstance(exc, exceptions.Throttled):
        detail = f"Rate limit exceeded for this key; retry after {headers.get('Retry-After', '1')} s."
    else:
        detail = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else title
    return problem_response(status_code=exc.status_code, slug=slug, title=title, detail=detail,
                            request=request, headers=headers)


# --- Django-level handlers: URLs no view matched, and errors outside DRF ---------------------------
def is_api_request(request) -> bool:
    return request.path.startswith("/api/")


def django_problem(request, status_code: int, slug: str, title: str, detail: str) -> JsonResponse:
    """A problem+json answer for errors Django raises outside DRF (config/errors.py)."""
    return JsonResponse(
        problem_body(status_code=status_code, slug=slug, title=title, detail=detail, instance=request.path),
        status=status_code, content_type=PROBLEM_CONTENT_TYPE,
    )


@csrf_exempt  # no cookie auth on the API: an unknown route is a 404 for every method, not a CSRF 403
def api_route_not_found(request, *args, **kwargs):
    return django_problem(request, 404, "not-found", "Not found", "No such resource or route.")
