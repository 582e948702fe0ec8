from django.urls import re_path

from tenants import views


def route(pattern: str, view, name: str):
    """A path that answers with and without its trailing slash, for every method."""
    return re_path(rf"^{pattern}/?$", view, name=name)


SLUG = r"(?P<slug>[^/]+)"

urlpatterns = [
    route(r"tenants", views.TenantListView.as_view(), "tenant-list"),
    route(rf"tenants/{SLUG}", views.TenantDetailView.as_view(), "tenant-detail"),
    route(rf"tenants/{SLUG}/api-keys", views.ApiKeyListView.as_view(), "api-key-list"),
    route(rf"tenants/{SLUG}/api-keys/(?P<key_id>[^/]+)", views.ApiKeyDetailView.as_view(), "api-key-detail"),
    route(rf"tenants/{SLUG}/rate-limits", views.RateLimitsView.as_view(), "rate-limits"),
]
