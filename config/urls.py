from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from loans.api.errors import api_route_not_found


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links; the site's icon is an SVG (base.html)."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("risk/", include("loans.reviews.dashboard")),
    path("api/v1/", include("loans.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Any other /api/ path is a problem+json 404, with DEBUG on too (Django's debug 404 page is HTML).
    re_path(r"^api/", api_route_not_found),
    path("", include("accounts.urls")),
    path("", include("loans.urls")),
]

# API routes answer errors as application/problem+json; other pages get the site's own templates
# (templates/400.html, 403.html, 404.html, 500.html; 403_csrf.html for a refused form).
handler400 = "config.errors.handler400"
handler403 = "config.errors.handler403"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
