"""What every admin of the project needs, whatever its app: lists filter by what their admin
declares, nothing else (`DeclaredFiltersOnly`, mixed in by the librarians' site at
registration, and by the apps' own base admins)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


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


class ReadOnlyRows:
    """Rows that are shown in the admin but never added or changed there (versions, logs,
    patrons, submissions): the services that write them are the only way in."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
