"""The site's error handlers (config/urls.py): the API's paths answer application/problem+json, every
other page the site's own templates (templates/400.html, 403.html, 404.html, 500.html)."""

from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from loans.api.errors import django_problem, is_api_request


def handler404(request, exception=None):
    if is_api_request(request):
        return django_problem(request, 404, "not-found", "Not found", "No such resource or route.")
    return page_not_found(request, exception)


def handler500(request):
    if is_api_request(request):
        return django_problem(
            request, 500, "internal-error", "Internal error",
            "The server failed to handle the request; nothing was changed. Retry later.",
        )
    return server_error(request)


def handler400(request, exception=None):
    if is_api_request(request):
        return django_problem(request, 400, "bad-request", "Bad request", "The request could not be read.")
    return bad_request(request, exception)


def handler403(request, exception=None):
    if is_api_request(request):
        return django_problem(request, 403, "forbidden", "Not allowed", "Not allowed.")
    return permission_denied(request, exception)

