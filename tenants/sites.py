"""The admin site librarians log in to: it opens on their library's dashboard.

A librarian of one library lands on its dashboard. A librarian of several libraries, or a
superuser, first picks one; the choice is kept in the session and can be changed at any time
(`library/`). The app list and the other admin pages keep showing every library the user
may see; the dashboard is always one library's.

Every admin registered on the site filters its lists by what it declares only
(`DeclaredFiltersOnly`), and the login page refuses cheaply once an account or an address
has failed too often (`OlcsAdminSite.login`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from tenants.dashboard import library_dashboard
from tenants.models import Membership, Tenant

SESSION_KEY = "olcs_library"

logger = logging.getLogger(__name__)


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


# --- lists filter by what their admin declares, nothing else ----------------------------------


class UndeclaredLookup(DisallowedModelAdminLookup):
    """A list was asked to filter by a parameter none of its declared filters reads."""

    def __init__(self, parameter: str) -> None:
        super().__init__(f"Filtering by {parameter} not allowed")
        self.parameter = parameter


class DeclaredFiltersChangeList(ChangeList):
    """A change list that applies only its declared filters (list_filter, the library filter,
    date_hierarchy) besides search, ordering and paging.

    Django applies any other query parameter naming a field of the model as a lookup
    (`?email_hash__gte=8`, `?title__regex=...`): enough to read a hash a character at a time
    or to run a catastrophic regular expression. Whatever the declared filters did not take
    is refused here, before anything reaches the queryset.
    """

    def get_filters(self, request: HttpRequest) -> tuple:
        asked = self.get_filters_params()
        filter_specs, has_filters, remaining, may_have_duplicates, has_active = super().get_filters(request)
        hierarchy = self.date_hierarchy
        for parameter in remaining:
            # The date hierarchy turns its year/month/day into these two bounds itself.
            if (
                hierarchy
                and f"{hierarchy}__year" in asked
                and parameter in {f"{hierarchy}__gte", f"{hierarchy}__lt"}
            ):
                continue
            if self.is_popup_choice_limit(parameter, asked.get(parameter, [])):
                continue
            raise UndeclaredLookup(parameter)
        return filter_specs, has_filters, remaining, may_have_duplicates, has_active

    def is_popup_choice_limit(self, parameter: str, values: list[str]) -> bool:
        """Whether `parameter=value` is a foreign key's `limit_choices_to`, which a raw id
        widget's popup sends: fixed by code, not chosen by the requester."""
        for limit in self.model._meta.related_fkey_lookups:
            if callable(limit):
                limit = limit()
            allowed = url_params_from_lookup_dict(limit)
            if parameter in allowed and all(value == allowed[parameter] for value in values):
                return True
        return False


class DeclaredFiltersOnly:
    """Mixed into every admin registered on the site (`OlcsAdminSite.register`), Django's and
    django-q2's included: a list refuses an undeclared filter with a 400 page."""

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return DeclaredFiltersChangeList

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Django refuses an undeclared lookup through a relation (`tenant__slug`) here, before
        # the change list's own check; both answer with the same page.
        if not super().lookup_allowed(lookup, value, request):
            raise UndeclaredLookup(lookup)
        return True

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        # Django filters the selection by the ids as sent: "²" or a forty-digit number is a
        # 500 there. An id that no row can have selects nothing.
        primary_key = self.opts.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                primary_key.run_validators(primary_key.to_python(value))
        except ValidationError:
            self.message_user(request, "None of the selected items exist any more.", messages.WARNING)
            return None
        return super().response_action(request, queryset)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except UndeclaredLookup as refused:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "This list cannot be filtered that way",
                "parameter": refused.parameter[:80],
                "changelist_url": request.path,
                # A refusal is cheap to answer: no sidebar of every list.
                "is_nav_sidebar_enabled": False,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/olcs/undeclared_filter.html", context, status=400)


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
