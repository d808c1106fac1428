"""The site's URLs plus one view that fails: how the tests reach the 500 page through the real handler
(Django's test client and the browser tests' server)."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


class Boom(Exception):
    """Raised on purpose: the page a server error shows."""


def boom(request):
    raise Boom("a fault on purpose, with a detail that must not reach the page: SECRET-DETAIL-310")


urlpatterns = [path("__test__/500/", boom), *urlpatterns]
