from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from loans.api.errors import api_route_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("risk/", include("loans.dashboard")),
    path("api/v1/", include("loans.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Any other /api/ path is a problem+json 404, with DEBUG on too (Django's debug 404 page is HTML).
    re_path(r"^api/", api_route_not_found),
    path("", include("accounts.urls")),
    path("", include("loans.urls")),
]

# API routes answer errors as application/problem+json; other pages keep Django's HTML pages.
handler400 = "loans.api.errors.handler400"
handler403 = "loans.api.errors.handler403"
handler404 = "loans.api.errors.handler404"
handler500 = "loans.api.errors.handler500"
