"""The book list's filters as a DRF filter backend, so the browsable API shows them as a form."""

from __future__ import annotations

from django.template import loader
from rest_framework.filters import BaseFilterBackend

from catalog.pagination import ORDERINGS

FILTER_FIELDS = [
    ("author", "Author (name or key)", "text"),
    ("subject", "Subject", "text"),
    ("language", "Language (e.g. eng)", "text"),
    ("first_publish_year__gte", "First published from (year)", "number"),
    ("first_publish_year__lte", "First published until (year)", "number"),
    ("updated_since", "Updated since (ISO date)", "text"),
]


class BookFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        from catalog.views import filter_books

        return filter_books(request, queryset)

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
