"""The admin site librarians log in to: it opens on their library's dashboard.

A librarian of one library lands on its dashboard. A librarian of several libraries, or a
superuser, first picks one; the choice is kept in the session and can be changed at any time
(`library/`). The app list and the other admin pages keep showing every library the user
may see; the dashboard is always one library's.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from tenants.dashboard import library_dashboard
from tenants.models import Membership, Tenant

SESSION_KEY = "olcs_library"


def visible_libraries(request: HttpRequest):
    """The libraries the user may open in the admin: all for a superuser, else their memberships."""
    user = request.user
    if user.is_superuser:
        return Tenant.objects.order_by("name", "slug")
    return Tenant.objects.filter(pk__in=Membership.objects.filter(user=user).values("tenant_id")).order_by(
        "name", "slug"
    )


def current_library(request: HttpRequest) -> Tenant | None:
    """The library the user is working in: their choice, or their only library; None to pick."""
    cached = getattr(request, "_olcs_current_library", False)
    if cached is not False:
        return cached
    libraries = visible_libraries(request)
    chosen = request.session.get(SESSION_KEY)
    library = None
    if request.user.is_superuser:
        request._olcs_can_pick = True
    else:
        # One query answers both questions for most librarians: which library, and whether
        # they have another to pick.
        first_two = list(libraries[:2])
        request._olcs_can_pick = len(first_two) > 1
        library = next((each for each in first_two if each.slug == chosen), None)
        if library is None and len(first_two) == 1:
            library = first_two[0]
    if library is None and chosen:
        library = libraries.filter(slug=chosen).first()
    request._olcs_current_library = library
    return library


def can_pick_library(request: HttpRequest) -> bool:
    """Whether the user has more than one library to work in (superusers always may pick)."""
    current_library(request)
    return request._olcs_can_pick


class OlcsAdminSite(admin.AdminSite):
    site_header = "OLCS — library catalog"
    site_title = "OLCS"
    index_title = "Your library"
    index_template = "admin/olcs/dashboard.html"

    def get_urls(self):
        return [
            path("library/", self.admin_view(self.library_picker), name="olcs_library_picker"),
            path("library/<slug:slug>/", self.admin_view(self.choose_library), name="olcs_choose_library"),
            *super().get_urls(),
        ]

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        if request.user.is_active and request.user.is_staff:
            context["olcs_library"] = current_library(request)
            context["olcs_can_pick"] = can_pick_library(request)
        return context

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        library = current_library(request)
        if library is None:
            return self.library_picker(request)
        extra = {
            **(extra_context or {}),
            "title": library.name,
            "subtitle": None,
            "dashboard": library_dashboard(tenant=library),
        }
        return super().index(request, extra)

    def library_picker(self, request: HttpRequest) -> HttpResponse:
        libraries = list(visible_libraries(request))
        context = {
            **self.each_context(request),
            "title": "Choose a library",
            "libraries": libraries,
            "current": current_library(request),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/olcs/library_picker.html", context)

    def choose_library(self, request: HttpRequest, slug: str) -> HttpResponse:
        """Work in `slug`'s library from now on (a POST, so a link cannot switch it)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        library = visible_libraries(request).filter(slug=slug).first()
        if library is None:
            raise Http404("Library not found")
        request.session[SESSION_KEY] = library.slug
        return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
