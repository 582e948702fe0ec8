"""Catalog API: list with filters and keyset pages, search, detail, versions and diffs.

Each view parses its request (catalog.filters for the list), reads through catalog.selectors
and serializes; the reads' plans are the selectors'."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.filters import BookFilterBackend, book_filters, ordering_of
from catalog.models import Book, BookVersion
from catalog.pagination import MAX_OFFSET, ORDERINGS, BookPage, EnvelopeResults
from catalog.selectors import book_summaries, book_versions, search_books, select_books, versions_by_number
from catalog.serializers import (
    BookSerializer,
    BookSummarySerializer,
    DiffSerializer,
    VersionDetailSerializer,
    VersionSummarySerializer,
)
from catalog.services import diff_snapshots
from olcs.api import EnvelopePagination, get_object, is_object_id, parse_int_param
from tenants.api import TenantScopedMixin
from tenants.models import Scope

BOOK_NOT_FOUND = "Book not found"
VERSION_NOT_FOUND = "Version not found"


def book_for(request, book_id: str) -> Book:
    return get_object(Book.objects.for_tenant(request.tenant), book_id, not_found=BOOK_NOT_FOUND)


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
        return book_summaries(tenant=self.request.tenant)

    @extend_schema(parameters=LIST_PARAMETERS, responses=BookSummarySerializer(many=True), tags=["catalog"])
    def get(self, request, slug: str):
        ordering = ordering_of(request)
        books, total = select_books(tenant=request.tenant, filters=book_filters(request))
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
        ranked, paginator.total = search_books(
            tenant=request.tenant, q=q, limit=paginator.limit, offset=paginator.offset
        )
        return paginator.get_paginated_response(BookSummarySerializer(ranked, many=True).data)


class BookDetailView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(responses=BookSerializer, tags=["catalog"])
    def get(self, request, slug: str, book_id: str):
        book = book_for(request, book_id)
        book.version_list = list(book_versions(book))
        return Response(BookSerializer(book).data)


class VersionListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = VersionSummarySerializer
    pagination_class = EnvelopePagination

    @extend_schema(responses=VersionSummarySerializer(many=True), tags=["catalog"])
    def get(self, request, slug: str, book_id: str):
        book = book_for(request, book_id)
        page = self.paginate_queryset(book_versions(book))
        return self.get_paginated_response(VersionSummarySerializer(page, many=True).data)


def version_of(book: Book, number: str) -> BookVersion:
    return get_object(
        BookVersion.objects.filter(book=book), number, not_found=VERSION_NOT_FOUND, field="version"
    )


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
        versions = versions_by_number(book=book, numbers=(first, second))
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
