"""The book list's query parameters: parsed into BookFilters and an ordering (a malformed
value is a 400 naming it), and shown by the browsable API as a form (a DRF filter backend)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.template import loader
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from catalog.pagination import DEFAULT_ORDERING, ORDERINGS
from catalog.selectors import BookFilters, BookSelection
from olcs.api import parse_choice_param, parse_int_param

YEAR_MIN, YEAR_MAX = -5000, 3000
FILTER_FIELDS = [
    ("author", "Author (name or key)", "text"),
    ("subject", "Subject", "text"),
    ("language", "Language (e.g. eng)", "text"),
    ("first_publish_year__gte", "First published from (year)", "number"),
    ("first_publish_year__lte", "First published until (year)", "number"),
    ("updated_since", "Updated since (ISO date)", "text"),
]


def text_param(request, name: str) -> str:
    """A free-text query parameter, trimmed; NUL, which no database text may hold, is a 400."""
    value = request.query_params.get(name, "").strip()
    if "\x00" in value:
        raise ValidationError({name: ["Must not contain NUL characters."]})
    return value


def parse_since(value: str) -> datetime:
    try:
        moment = parse_datetime(value.replace(" ", "+"))
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day)
        # In UTC here, so a date at the edge of the calendar fails now and not in the database.
        if moment is not None:
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise ValidationError(
            {"updated_since": ["Must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z."]}
        )
    return moment


def year_param(request, name: str) -> int | None:
    if request.query_params.get(name, "") == "":
        return None
    return parse_int_param(request, name, 0, YEAR_MIN, YEAR_MAX)


def book_filters(request) -> BookFilters:
    """The list filters of API.md from the query string, checked in the order API.md lists them."""
    since = request.query_params.get("updated_since", "").strip()
    return BookFilters(
        author=text_param(request, "author"),
        subject=text_param(request, "subject"),
        language=text_param(request, "language"),
        first_publish_year__gte=year_param(request, "first_publish_year__gte"),
        first_publish_year__lte=year_param(request, "first_publish_year__lte"),
        updated_since=parse_since(since) if since else None,
    )


def ordering_of(request) -> str:
    return parse_choice_param(request, "ordering", ORDERINGS, default=DEFAULT_ORDERING)


class BookFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        return BookSelection(tenant=request.tenant, filters=book_filters(request)).apply(queryset, small=True)

    def to_html(self, request, queryset, view) -> str:
        context = {
            "fields": [
                {"name": name, "label": label, "type": kind, "value": request.query_params.get(name, "")}
                for name, label, kind in FILTER_FIELDS
            ],
            "orderings": list(ORDERINGS),
            "ordering": request.query_params.get("ordering", "title"),
            "limit": request.query_params.get("limit", ""),
        }
        return loader.get_template("catalog/book_filters.html").render(context, request)
