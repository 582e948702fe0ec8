"""URL wiring. Every API path answers with and without a trailing slash (tenants.urls.route)."""

from django.contrib import admin
from django.urls import include, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularSwaggerView

import olcs
from olcs.console import views as service_views
from olcs.http import page_not_found
from olcs.openapi import CachedSchemaView
from tenants.urls import route

urlpatterns = [
    route(r"", service_views.RootView.as_view(), "root"),
    route(r"health", service_views.HealthView.as_view(), "health"),
    route(
        r"openapi\.json",
        CachedSchemaView.as_view(custom_settings={"VERSION": olcs.__version__}),
        "openapi",
    ),
    route(r"docs", SpectacularSwaggerView.as_view(url_name="openapi"), "docs"),
    re_path(r"^admin$", RedirectView.as_view(url="/admin/", permanent=False)),
    re_path(r"^admin/", admin.site.urls),
    re_path(r"", include("tenants.urls")),
    re_path(r"", include("ingestion.urls")),
    re_path(r"", include("catalog.urls")),
    re_path(r"", include("patrons.urls")),
    # Last: anything unmatched is the contract's JSON 404, in development (DEBUG) too.
    re_path(r"", page_not_found),
]

handler400 = "olcs.http.bad_request"
handler403 = "olcs.http.permission_denied"
handler404 = "olcs.http.page_not_found"
handler500 = "olcs.http.server_error"
