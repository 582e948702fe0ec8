"""Generic DRF parts every API view may use: opaque ids, strict fields, bounded lists,
integer query parameters and the one list envelope."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from olcs.http import MAX_LISTED_ERRORS


class OpaqueIdField(serializers.CharField):
    """Ids leave the API as strings: clients must not do arithmetic on them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return str(value)


def no_store(response: Response) -> Response:
    """Keep an answer that holds a raw key out of every cache, the browser's included."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def is_object_id(value: str) -> bool:
    """Whether a path segment can be an id: ASCII digits that fit a 64-bit integer. Anything
    else is answered as "not found" without a query."""
    return value.isascii() and value.isdigit() and len(value) < 19


def get_object(queryset: QuerySet, object_id: str, *, not_found: str, field: str = "pk") -> Model:
    """DRF's `get_object` for a path segment: the object of `queryset` whose `field` is
    `object_id`, or a 404 saying `not_found`.

    A segment that cannot be an id is a 404 without a query; given a tenant-scoped queryset,
    another library's object is a 404 too.
    """
    found = queryset.filter(**{field: object_id}).first() if is_object_id(object_id) else None
    if found is None:
        raise NotFound(not_found)
    return found


def parse_int_param(request, name: str, default: int, minimum: int, maximum: int | None) -> int:
    """An integer query parameter within bounds, or a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
    # ASCII digits only: int() would also read other scripts' digits (Arabic-Indic one is 1).
    digits = raw[1:] if raw[:1] == "-" else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise ValidationError({name: [f"Must be a whole number {bound}."]})
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValidationError({name: [f"Must be a whole number {bound}."]})
    return value


def parse_choice_param(
    request, name: str, choices: Iterable[str], *, default: str | None = None
) -> str | None:
    """A query parameter that must be one of `choices`, `default` when absent or empty, or a
    400 listing the choices."""
    value = request.query_params.get(name)
    if not value:
        return default
    if value not in choices:
        raise ValidationError({name: [f"Must be one of: {', '.join(choices)}."]})
    return value


# Far beyond any catalog, and small enough that OFFSET + LIMIT stays a 64-bit integer.
MAX_OFFSET = 1_000_000_000
# The page size of every list (`limit`), by default and at most.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def envelope_response(
    data: list, *, total: int, first: str, next_url: str | None, previous_url: str | None
) -> Response:
    """A page as every list answers it: the envelope, X-Total-Count and an RFC 8288 Link
    header (first always, next/prev when they exist)."""
    response = Response({"items": data, "total": total, "next": next_url, "previous": previous_url})
    links = [f'<{first}>; rel="first"']
    if next_url:
        links.append(f'<{next_url}>; rel="next"')
    if previous_url:
        links.append(f'<{previous_url}>; rel="prev"')
    response["Link"] = ", ".join(links)
    response["X-Total-Count"] = str(total)
    return response


class EnvelopePagination(BasePagination):
    """limit/offset pages as `{"items", "total", "next", "previous"}` with X-Total-Count and
    an RFC 8288 Link header (first, and next/prev when they exist)."""

    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = parse_int_param(request, "limit", self.default_limit, 1, self.max_limit)
        self.offset = parse_int_param(request, "offset", 0, 0, MAX_OFFSET)
        self.total = queryset.count()
        return list(queryset[self.offset : self.offset + self.limit])

    def _page_url(self, offset: int) -> str:
        params = self.request.query_params.copy()
        params["limit"] = str(self.limit)
        params["offset"] = str(offset)
        base = self.request.build_absolute_uri(self.request.path)
        return f"{base}?{urlencode(sorted(params.items()))}"

    def get_next_link(self) -> str | None:
        if self.offset + self.limit >= self.total:
            return None
        return self._page_url(self.offset + self.limit)

    def get_previous_link(self) -> str | None:
        if self.offset <= 0:
            return None
        return self._page_url(max(self.offset - self.limit, 0))

    def get_paginated_response(self, data) -> Response:
        return envelope_response(
            data,
            total=self.total,
            first=self._page_url(0),
            next_url=self.get_next_link(),
            previous_url=self.get_previous_link(),
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["items", "total", "next", "previous"],
            "properties": {
                "items": schema,
                "total": {"type": "integer", "minimum": 0},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1-{self.max_limit} (default {self.default_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "Items to skip.",
                "schema": {"type": "integer", "minimum": 0},
            },
        ]


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans and objects instead of stringifying them."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that refuses strings, floats and booleans in JSON bodies."""

    default_error_messages = {"not_an_integer": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class BoundedListField(serializers.ListField):
    """The ListField of every request body: its length is checked before its items, and item
    validation stops once more errors than the answer lists (MAX_LISTED_ERRORS) are found.

    DRF's ListField validates every item and only then its length, so a 1 MiB list of `1`
    cost seconds and answered one error per item. `max_length` is required: no list is unbounded.
    """

    def __init__(self, *, max_length: int, **kwargs) -> None:
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list):
            if len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
            if self.min_length is not None and len(data) < self.min_length:
                self.fail("min_length", min_length=self.min_length)
        return super().to_internal_value(data)

    def run_child_validation(self, data) -> list:
        result, errors = [], {}
        for index, item in enumerate(data):
            try:
                result.append(self.child.run_validation(item))
            except ValidationError as exc:
                errors[index] = exc.detail
            except DjangoValidationError as exc:
                errors[index] = get_error_detail(exc)
            else:
                continue
            if len(errors) > MAX_LISTED_ERRORS:
                break  # the handler lists MAX_LISTED_ERRORS and says the rest were left out
        if errors:
            raise ValidationError(errors)
        return result
