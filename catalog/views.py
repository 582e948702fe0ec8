"""Catalog API: list with filters and keyset pages, search, detail, versions and diffs."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import search
from catalog.filters import BookFilterBackend
from catalog.identifiers import InvalidKey, normalize_author_key
from catalog.models import Author, Book, BookAuthor, BookFacet, BookVersion, CatalogStats, fold
from catalog.pagination import DEFAULT_ORDERING, MAX_OFFSET, ORDERINGS, BookPage, EnvelopeResults
from catalog.serializers import (
    BookSerializer,
    BookSummarySerializer,
    DiffSerializer,
    VersionDetailSerializer,
    VersionSummarySerializer,
)
from catalog.services import diff_snapshots
from olcs.api import EnvelopePagination, is_object_id, parse_int_param
from tenants.api import TenantScopedMixin
from tenants.models import Scope

BOOK_NOT_FOUND = "Book not found"
VERSION_NOT_FOUND = "Version not found"
YEAR_MIN, YEAR_MAX = -5000, 3000
SUMMARY_FIELDS = [
    "id",
    "tenant_id",
    "open_library_key",
    "title",
    "authors_data",
    "first_publish_year",
    "cover_id",
    "current_version",
    "updated_at",
    "title_sort",
    "year_sort",
]


def book_for(request, book_id: str) -> Book:
    book = (
        Book.objects.for_tenant(request.tenant).filter(pk=book_id).first() if is_object_id(book_id) else None
    )
    if book is None:
        raise NotFound(BOOK_NOT_FOUND)
    return book


class BookSelection:
    """The list filters of API.md on a library's books, with the cheapest exact count.

    Author, subject and language are met through link rows (BookAuthor, BookFacet). One such
    filter alone is counted on its own index; none at all reads the library's kept count
    (CatalogStats). A page of a small selection is read from its ids; a large one walks the
    ordering's index and checks each book (EXISTS), which stops after a page.
    """

    # Up to this many books, a page is read from the selection's ids (then sorted).
    SMALL = 2000

    def __init__(self, request):
        params = request.query_params
        self.tenant = request.tenant
        self.columns: list[tuple[str, str, object]] = []  # (book column, lookup, value)
        self.links: list[tuple[QuerySet, bool]] = []  # (matching link rows, a book may repeat)
        if author := text_param(request, "author"):
            try:
                key = normalize_author_key(author)
            except InvalidKey:
                key = None
            # A key matches exactly; a name matches any part of the name, ignoring case and accents.
            if key:
                rows = BookAuthor.objects.for_tenant(self.tenant).filter(
                    author__tenant=self.tenant, author__open_library_key=key
                )
                self.links.append((rows, False))
            else:
                authors = Author.objects.for_tenant(self.tenant).filter(name_folded__contains=fold(author))
                self.links.append(
                    (BookAuthor.objects.for_tenant(self.tenant).filter(author__in=authors), True)
                )
        for kind in (BookFacet.Kind.SUBJECT, BookFacet.Kind.LANGUAGE):
            if value := text_param(request, kind):
                # Facets hold the first 200 characters of a value (catalog.services.facet_rows).
                facets = BookFacet.objects.for_tenant(self.tenant).filter(kind=kind, value=fold(value)[:200])
                self.links.append((facets, False))
        for name, lookup in (("first_publish_year__gte", "gte"), ("first_publish_year__lte", "lte")):
            if params.get(name, "") != "":
                year = parse_int_param(request, name, 0, YEAR_MIN, YEAR_MAX)
                self.columns.append(("first_publish_year", lookup, year))
        if since := params.get("updated_since", "").strip():
            self.columns.append(("updated_at", "gte", parse_since(since)))

    def count(self) -> int:
        if not (self.columns or self.links):
            return CatalogStats.of(self.tenant).books
        if not self.columns and len(self.links) == 1:
            rows, repeats = self.links[0]
            book_ids = rows.values("book_id")
            return (book_ids.distinct() if repeats else book_ids).count()
        return self.apply(Book.objects.for_tenant(self.tenant), small=True).count()

    def apply(self, books: QuerySet, *, small: bool) -> QuerySet:
        for column, lookup, value in self.columns:
            if small:
                books = books.filter(**{f"{column}__{lookup}": value})
            else:
                # As an expression, so no index on the column is used: a large selection is read
                # by walking the ordering's index (it fills a page quickly), not by collecting
                # thousands of matches through the column's index and sorting them.
                alias = f"_{column}"
                books = books.alias(**{alias: Coalesce(column, column)}).filter(
                    **{f"{alias}__{lookup}": value}
                )
        for rows, repeats in self.links:
            # A name matches many authors: checking a book against all of them (EXISTS) costs
            # one probe per author, while their books' ids make one list, probed once.
            if small or repeats:
                books = books.filter(id__in=rows.values("book_id"))
            else:
                books = books.filter(Exists(rows.filter(book_id=OuterRef("pk"))))
        return books


def filter_books(request, books: QuerySet) -> QuerySet:
    """The list filters of API.md; a malformed value is a 400 naming it."""
    return BookSelection(request).apply(books, small=True)


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


def ordering_of(request) -> str:
    ordering = request.query_params.get("ordering") or DEFAULT_ORDERING
    if ordering not in ORDERINGS:
        raise ValidationError({"ordering": [f"Must be one of: {', '.join(ORDERINGS)}."]})
    return ordering


LIST_PARAMETERS = [
    OpenApiParameter("limit", int, description="1-100, default 20"),
    OpenApiParameter("offset", int),
    OpenApiParameter("cursor", str, description="Opaque: from `next` or `previous`."),
    OpenApiParameter("ordering", str, enum=list(ORDERINGS)),
    OpenApiParameter("author", str, description="An author's name (any case or accents) or key (OL26320A)."),
    OpenApiParameter("subject", str),
    OpenApiParameter("language", str, description="MARC code, e.g. eng"),
    OpenApiParameter("first_publish_year__gte", int),
    OpenApiParameter("first_publish_year__lte", int),
    OpenApiParameter("updated_since", str, description="ISO 8601 date or date-time"),
]


class BookListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = BookSummarySerializer
    filter_backends = [BookFilterBackend]
    # BookPage does the paging; this only lets the browsable API find the items and show the filters.
    paginator = EnvelopeResults()
    # Never instantiated (`paginator` above wins): it gives the OpenAPI schema the envelope and the 400.
    pagination_class = EnvelopePagination

    def get_queryset(self):
        return Book.objects.for_tenant(self.request.tenant).only(*SUMMARY_FIELDS)

    @extend_schema(parameters=LIST_PARAMETERS, responses=BookSummarySerializer(many=True), tags=["catalog"])
    def get(self, request, slug: str):
        ordering = ordering_of(request)
        selection = BookSelection(request)
        total = selection.count()
        books = selection.apply(self.get_queryset(), small=total <= BookSelection.SMALL)
        page = BookPage(request, books, ordering, total=total)
        return page.response(BookSummarySerializer(page.items, many=True).data)


class BookSearchView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = BookSummarySerializer
    pagination_class = EnvelopePagination

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="At least 2 non-space characters.")
        ],
        responses=BookSummarySerializer(many=True),
        tags=["catalog"],
    )
    def get(self, request, slug: str):
        q = request.query_params.get("q", "")
        if len("".join(q.split())) < 2:
            raise ValidationError({"q": ["Search needs at least 2 non-space characters."]})
        if len(q) > 500:
            raise ValidationError({"q": ["Search text is limited to 500 characters."]})
        paginator = self.paginator
        paginator.request = request
        paginator.limit = parse_int_param(request, "limit", paginator.default_limit, 1, paginator.max_limit)
        paginator.offset = parse_int_param(request, "offset", 0, 0, MAX_OFFSET)
        ids, paginator.total = search.search_book_ids(
            tenant=request.tenant, q=q, limit=paginator.limit, offset=paginator.offset
        )
        books = {
            book.pk: book
            for book in Book.objects.for_tenant(request.tenant).filter(pk__in=ids).only(*SUMMARY_FIELDS)
        }
        ranked = [books[book_id] for book_id in ids if book_id in books]
        return paginator.get_paginated_response(BookSummarySerializer(ranked, many=True).data)


class BookDetailView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(responses=BookSerializer, tags=["catalog"])
    def get(self, request, slug: str, book_id: str):
        book = book_for(request, book_id)
        book.version_list = list(
            BookVersion.objects.filter(book=book)
            .order_by("-version")
            .only("version", "created_at", "changed_fields", "source")
        )
        return Response(BookSerializer(book).data)


class VersionListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = VersionSummarySerializer
    pagination_class = EnvelopePagination

    @extend_schema(responses=VersionSummarySerializer(many=True), tags=["catalog"])
    def get(self, request, slug: str, book_id: str):
        book = book_for(request, book_id)
        versions = (
            BookVersion.objects.filter(book=book)
            .order_by("-version")
            .only("version", "created_at", "changed_fields", "source")
        )
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(VersionSummarySerializer(page, many=True).data)


def version_of(book: Book, number: str) -> BookVersion:
    version = BookVersion.objects.filter(book=book, version=number).first() if is_object_id(number) else None
    if version is None:
        raise NotFound(VERSION_NOT_FOUND)
    return version


class VersionDetailView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(responses=VersionDetailSerializer, tags=["catalog"])
    def get(self, request, slug: str, book_id: str, number: str):
        return Response(VersionDetailSerializer(version_of(book_for(request, book_id), number)).data)


class VersionDiffView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(responses=DiffSerializer, tags=["catalog"])
    def get(self, request, slug: str, book_id: str, a: str, b: str):
        book = book_for(request, book_id)
        if not (is_object_id(a) and is_object_id(b)):
            raise NotFound(VERSION_NOT_FOUND)
        first, second = int(a), int(b)
        versions = {
            v.version: v
            for v in BookVersion.objects.filter(book=book, version__in={first, second}).only(
                "version", "snapshot"
            )
        }
        if first not in versions or second not in versions:
            raise NotFound(VERSION_NOT_FOUND)
        return Response(
            {
                "book_id": str(book.pk),
                "from_version": first,
                "to_version": second,
                "changes": diff_snapshots(versions[first].snapshot, versions[second].snapshot),
            }
        )
