"""Pages of books: offset, or an opaque keyset cursor so a deep page costs what page 1 costs."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from olcs.api import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, envelope_response, parse_int_param
from olcs.parsers import loads_bounded

# Ordering parameter → (sort column, descending). `id` breaks ties in the same direction.
ORDERINGS: dict[str, tuple[str, bool]] = {
    "title": ("title_sort", False),
    "-title": ("title_sort", True),
    "first_publish_year": ("year_sort", False),
    "-first_publish_year": ("year_sort", True),
    "updated_at": ("updated_at", False),
    "-updated_at": ("updated_at", True),
}
DEFAULT_ORDERING = "title"

INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link as given."
# The longest cursor a page can hand out: a 200-character title key of characters JSON escapes
# as `\u0001` (6 bytes each), its id and the rest of the payload, base64'd: under 1,750. Longer is
# forged, and refused before it is decoded.
MAX_CURSOR_LENGTH = 2048


def encode_cursor(payload: dict) -> str:
    # UTF-8 rather than \u escapes: four bytes for a character outside the BMP, not twelve.
    raw = json.dumps(payload, separators=(",", ":"), default=str, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> dict:
    if len(value) > MAX_CURSOR_LENGTH:
        raise ValidationError({"cursor": [INVALID_CURSOR]})
    try:
        padded = value + "=" * (-len(value) % 4)
        payload = loads_bounded(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        # JsonTooDeep is a ValueError: a cursor nested past 32 levels is forged too.
        raise ValidationError({"cursor": [INVALID_CURSOR]}) from None
    if (
        not isinstance(payload, dict)
        or payload.get("d") not in ("n", "p")
        or not isinstance(payload.get("k"), list)
    ):
        raise ValidationError({"cursor": [INVALID_CURSOR]})
    return payload


class BookPage:
    """One page of a book queryset, by offset or by cursor, with its links."""

    def __init__(self, request, queryset: QuerySet, ordering: str, *, total: int | None = None):
        """`total`: the size of `queryset` when the caller knows it without counting."""
        self.request = request
        self.ordering = ordering
        self.column, self.descending = ORDERINGS[ordering]
        params = request.query_params
        self.limit = parse_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        self.offset = parse_int_param(request, "offset", 0, 0, MAX_OFFSET)
        cursor = params.get("cursor")
        if cursor and params.get("offset"):
            raise ValidationError({"cursor": ["Give either a cursor or an offset, not both."]})
        self.total = queryset.count() if total is None else total
        if cursor:
            payload = decode_cursor(cursor)
            if payload.get("o") != ordering:
                raise ValidationError({"cursor": ["This cursor belongs to another ordering."]})
            self.items, self.has_before, self.has_after = self._keyset(queryset, payload)
        else:
            rows = list(self._ordered(queryset, reverse=False)[self.offset : self.offset + self.limit + 1])
            self.items = rows[: self.limit]
            self.has_before = self.offset > 0
            self.has_after = len(rows) > self.limit

    def _ordered(self, queryset: QuerySet, *, reverse: bool) -> QuerySet:
        descending = self.descending != reverse
        prefix = "-" if descending else ""
        return queryset.order_by(f"{prefix}{self.column}", f"{prefix}id")

    def _keyset(self, queryset: QuerySet, payload: dict):
        try:
            value, last_id = payload["k"]
            last_id = int(last_id)
            if self.column == "updated_at":
                value = datetime.fromisoformat(value)
                # Links always carry an offset; a naive or out-of-range time is a forged cursor.
                if value.tzinfo is None:
                    raise ValueError
                value = value.astimezone(UTC)
            elif self.column == "year_sort":
                value = int(value)
            elif not isinstance(value, str) or "\x00" in value:
                raise ValueError
        except (ValueError, TypeError, OverflowError):
            raise ValidationError({"cursor": [INVALID_CURSOR]}) from None
        forward = payload["d"] == "n"
        # Walking forward in descending order, or backward in ascending order, goes down the key.
        down = self.descending == forward
        op = "lt" if down else "gt"
        after = Q(**{f"{self.column}__{op}": value}) | Q(**{self.column: value, f"id__{op}": last_id})
        # The redundant bound lets the database start its index range at the key; with the OR
        # alone SQLite walks the library's index from its first entry (27 ms at depth 100,000).
        after &= Q(**{f"{self.column}__{op}e": value})
        rows = list(self._ordered(queryset.filter(after), reverse=not forward)[: self.limit + 1])
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        if forward:
            return rows, True, more
        rows.reverse()
        return rows, more, True

    def _key(self, book) -> list:
        value = getattr(book, self.column)
        return [value.isoformat() if isinstance(value, datetime) else value, book.pk]

    def _url(self, **params) -> str:
        query = {
            key: value for key, value in self.request.query_params.items() if key not in ("cursor", "offset")
        }
        query.update(params)
        base = self.request.build_absolute_uri(self.request.path)
        return f"{base}?{urlencode(sorted(query.items()))}"

    def next_link(self) -> str | None:
        if not self.has_after or not self.items:
            return None
        return self._url(cursor=encode_cursor({"o": self.ordering, "k": self._key(self.items[-1]), "d": "n"}))

    def previous_link(self) -> str | None:
        if not self.has_before:
            return None
        if not self.items:
            return self._url(offset=str(max(self.offset - self.limit, 0))) if self.offset else None
        return self._url(cursor=encode_cursor({"o": self.ordering, "k": self._key(self.items[0]), "d": "p"}))

    def response(self, data: list) -> Response:
        return envelope_response(
            data,
            total=self.total,
            first=self._url(),
            next_url=self.next_link(),
            previous_url=self.previous_link(),
        )


class EnvelopeResults:
    """Where a list response's items are, for the browsable API: it shows a list's filter form
    only when the view's paginator can find them (`get_results`)."""

    display_page_controls = False  # the `next`/`previous` links are in the body

    def get_results(self, data: dict) -> list:
        return data["items"]
