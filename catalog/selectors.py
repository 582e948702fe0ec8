"""Reads of a library's catalog: the book list's selection with its cheapest count, search
results in rank order, and a book's versions. Writes are in catalog/services.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from catalog import search
from catalog.identifiers import InvalidKey, normalize_author_key
from catalog.models import Author, Book, BookAuthor, BookFacet, BookVersion, CatalogStats, fold
from tenants.models import Tenant

# The columns a book summary shows (BookSummarySerializer) and its page's sort keys.
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
VERSION_SUMMARY_FIELDS = ("version", "created_at", "changed_fields", "source")


@dataclass(frozen=True)
class BookFilters:
    """The list filters of API.md, parsed (catalog.filters.book_filters): "" or None is no filter."""

    author: str = ""  # a name, or an author key in any form parse_open_library_key accepts
    subject: str = ""
    language: str = ""
    first_publish_year__gte: int | None = None
    first_publish_year__lte: int | None = None
    updated_since: datetime | None = None


def book_summaries(*, tenant: Tenant) -> QuerySet:
    """A library's books with only the columns a summary shows."""
    return Book.objects.for_tenant(tenant).only(*SUMMARY_FIELDS)


class BookSelection:
    """The list filters of API.md on a library's books, with the cheapest exact count.

    Author, subject and language are met through link rows (BookAuthor, BookFacet). One such
    filter alone is counted on its own index; none at all reads the library's kept count
    (CatalogStats). A page of a small selection is read from its ids; a large one walks the
    ordering's index and checks each book (EXISTS), which stops after a page.
    """

    # Up to this many books, a page is read from the selection's ids (then sorted).
    SMALL = 2000

    def __init__(self, *, tenant: Tenant, filters: BookFilters) -> None:
        self.tenant = tenant
        self.columns: list[tuple[str, str, object]] = []  # (book column, lookup, value)
        self.links: list[tuple[QuerySet, bool]] = []  # (matching link rows, a book may repeat)
        if author := filters.author:
            try:
                key = normalize_author_key(author)
            except InvalidKey:
                key = None
            # A key matches exactly; a name matches any part of the name, ignoring case and accents.
            if key:
                rows = BookAuthor.objects.for_tenant(tenant).filter(
                    author__tenant=tenant, author__open_library_key=key
                )
                self.links.append((rows, False))
            else:
                authors = Author.objects.for_tenant(tenant).filter(name_folded__contains=fold(author))
                self.links.append((BookAuthor.objects.for_tenant(tenant).filter(author__in=authors), True))
        for kind, value in (
            (BookFacet.Kind.SUBJECT, filters.subject),
            (BookFacet.Kind.LANGUAGE, filters.language),
        ):
            if value:
                # Facets hold the first 200 characters of a value (catalog.services.facet_rows).
                facets = BookFacet.objects.for_tenant(tenant).filter(kind=kind, value=fold(value)[:200])
                self.links.append((facets, False))
        for lookup, year in (
            ("gte", filters.first_publish_year__gte),
            ("lte", filters.first_publish_year__lte),
        ):
            if year is not None:
                self.columns.append(("first_publish_year", lookup, year))
        if filters.updated_since is not None:
            self.columns.append(("updated_at", "gte", filters.updated_since))

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


def select_books(*, tenant: Tenant, filters: BookFilters) -> tuple[QuerySet, int]:
    """The library's books that pass `filters` (summary columns, unordered) and how many they are.

    The count comes first: it decides how the selection is read (BookSelection.SMALL).
    """
    selection = BookSelection(tenant=tenant, filters=filters)
    total = selection.count()
    return selection.apply(book_summaries(tenant=tenant), small=total <= BookSelection.SMALL), total


def search_books(*, tenant: Tenant, q: str, limit: int, offset: int) -> tuple[list[Book], int]:
    """One page of the library's books matching `q`, best first, and how many match in all."""
    ids, total = search.search_book_ids(tenant=tenant, q=q, limit=limit, offset=offset)
    books = {book.pk: book for book in book_summaries(tenant=tenant).filter(pk__in=ids)}
    return [books[book_id] for book_id in ids if book_id in books], total


def book_versions(book: Book) -> QuerySet:
    """A book's versions, newest first, with the columns a version summary shows."""
    return BookVersion.objects.filter(book=book).order_by("-version").only(*VERSION_SUMMARY_FIELDS)


def versions_by_number(*, book: Book, numbers: Iterable[int]) -> dict[int, BookVersion]:
    """Those of a book's versions that exist among `numbers`, with their snapshots, by number."""
    found = BookVersion.objects.filter(book=book, version__in=set(numbers)).only("version", "snapshot")
    return {version.version: version for version in found}
