"""The admin site librarians log in to: it opens on their library's dashboard.

A librarian of one library lands on its dashboard. A librarian of several libraries, or a
superuser, first picks one; the choice is kept in the session and can be changed at any time
(`library/`). The app list and the other admin pages keep showing every library the user
may see; the dashboard is always one library's.

Every admin registered on the site filters its lists by what it declares only
(`DeclaredFiltersOnly`, olcs/admin.py), and the login page refuses cheaply once an account or
an address has failed too often (`OlcsAdminSite.login`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from olcs.admin import DeclaredFiltersOnly
from olcs.console.dashboard import library_dashboard
from tenants.access import SESSION_KEY, can_pick_library, current_library, visible_libraries

logger = logging.getLogger(__name__)


# --- sign-in: failed attempts are limited per username and per client address ------------------


@dataclass(frozen=True)
class LoginThrottle:
    """Failed admin sign-ins in the last window, per username and per client address.

    Counted with django-ratelimit in the default cache: shared by every process through Redis
    when REDIS_URL is set, per process with the local-memory cache (so N processes allow about
    N times the limit). Windows are fixed, as django-ratelimit's are: approximate by design.
    When the cache fails, sign-in is allowed and a warning logged (fail open, as ADR 0019).
    """

    username: str
    address: str

    @classmethod
    def for_request(cls, request: HttpRequest, username: str | None) -> LoginThrottle:
        header = settings.ADMIN_LOGIN_CLIENT_IP_HEADER
        address = (request.META.get(header) if header else None) or request.META.get("REMOTE_ADDR", "")
        # Usernames are compared as typed by the backend; counting them folded stops a
        # guesser from getting five more tries per spelling.
        return cls(username=(username or "").strip().casefold()[:150], address=address.strip()[:64])

    def counts(self, *, increment: bool) -> list[dict]:
        window = settings.ADMIN_LOGIN_WINDOW_SECONDS
        limits = [
            ("olcs.admin-login.username", self.username, settings.ADMIN_LOGIN_FAILURES_PER_USERNAME),
            ("olcs.admin-login.address", self.address, settings.ADMIN_LOGIN_FAILURES_PER_IP),
        ]
        usages = []
        for group, value, limit in limits:
            if not value or limit <= 0:
                continue
            usage = get_usage(
                None,
                group=group,
                key=lambda _group, _request, value=value: value,
                rate=f"{limit}/{window}s",
                increment=increment,
            )
            if usage is not None:
                usages.append(usage)
        return usages

    def seconds_refused(self) -> int:
        """0 when a sign-in may be tried; else how long until the fullest count starts over."""
        try:
            full = [usage for usage in self.counts(increment=False) if usage["count"] >= usage["limit"]]
        except RedisError:
            logger.warning("admin sign-in throttle unavailable (fail open)", exc_info=True)
            return 0
        return max((max(usage["time_left"], 1) for usage in full), default=0)

    def record_failure(self) -> None:
        try:
            self.counts(increment=True)
        except RedisError:
            logger.warning("admin sign-in throttle unavailable (fail open)", exc_info=True)


class ThrottledAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form: once too many attempts failed, it refuses before the password
    is hashed (about a third of a second of CPU each), so refusing costs next to nothing."""

    def clean(self) -> dict:
        throttle = LoginThrottle.for_request(self.request, self.cleaned_data.get("username"))
        wait = throttle.seconds_refused()
        if wait:
            self.request._olcs_login_retry_after = wait
            minutes = max(1, -(-wait // 60))
            raise ValidationError(
                "Too many failed sign-in attempts for this account or from your network. "
                f"Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again, or ask "
                "the platform's operator to reset your password.",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            throttle.record_failure()
            raise


class OlcsAdminSite(admin.AdminSite):
    site_header = "OLCS — library catalog"
    site_title = "OLCS"
    index_title = "Your library"
    index_template = "admin/olcs/dashboard.html"
    login_form = ThrottledAuthenticationForm

    def register(self, model_or_iterable, admin_class: type | None = None, **options) -> None:
        """Register as Django does, with `DeclaredFiltersOnly` mixed into any admin that lacks it,
        so an admin added later (or by another app) cannot filter by what it did not declare."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, DeclaredFiltersOnly):
            admin_class = type(
                admin_class.__name__,
                (DeclaredFiltersOnly, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        wait = getattr(request, "_olcs_login_retry_after", 0)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

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
