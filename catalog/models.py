"""The catalog: per library, books (Open Library works), their authors, ISBNs and versions.

A book's *content* (see `CONTENT_FIELDS`) is what Open Library says about the work; every
change to it is a new `BookVersion` holding a full snapshot, never an overwrite of history.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata

from django.db import models
from django.utils import timezone

from tenants.models import Tenant, TenantQuerySet

# The fields whose change makes a new version, in the order snapshots list them.
CONTENT_FIELDS: tuple[str, ...] = (
    "title",
    "subtitle",
    "description",
    "authors",
    "subjects",
    "languages",
    "first_publish_year",
    "cover_id",
    "isbns",
    "edition_count",
)
LIST_FIELDS = frozenset({"authors", "subjects", "languages", "isbns"})


def content_hash(content: dict) -> str:
    """A stable hash of a book's content: equal content, equal hash, whatever the key order."""
    canonical = json.dumps(
        {field: content.get(field) for field in CONTENT_FIELDS},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a text: what sorting and exact filters compare."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def title_sort_key(title: str) -> str:
    return fold(title)[:200]


# Keyset pagination needs a non-null key: an unknown year sorts before every known one,
# years before the common era included (so not 0). The smallest 32-bit integer.
UNKNOWN_YEAR_SORT = -(2**31)


def year_sort_key(year: int | None) -> int:
    return year if year is not None else UNKNOWN_YEAR_SORT


def cover_url(cover_id: int | None, size: str = "M") -> str | None:
    if not cover_id or cover_id <= 0:
        return None
    return f"https://covers.openlibrary.org/b/id/{cover_id}-{size}.jpg"


class Author(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    open_library_key = models.CharField(max_length=40)
    name = models.CharField(max_length=500)
    name_folded = models.CharField(max_length=500, db_index=False, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "open_library_key"], name="author_tenant_key_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="author_tenant_id_uniq"),
        ]
        indexes = [models.Index(fields=["tenant", "name_folded"], name="author_tenant_name_idx")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name_folded = fold(self.name)[:500]
        super().save(*args, **kwargs)


class BookQuerySet(TenantQuerySet):
    def with_authors(self) -> BookQuerySet:
        return self.prefetch_related(
            models.Prefetch(
                "book_authors",
                queryset=BookAuthor.objects.select_related("author").order_by("position"),
            )
        )


class Book(models.Model):
    """An Open Library work in one library's catalog."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="books", db_index=False)
    open_library_key = models.CharField(max_length=40, help_text="Canonical /works/OL…W key.")
    title = models.CharField(max_length=1000)
    title_sort = models.CharField(max_length=200, editable=False, default="")
    subtitle = models.CharField(max_length=1000, blank=True)
    description = models.TextField(blank=True)
    subjects = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    first_publish_year = models.IntegerField(null=True, blank=True)
    year_sort = models.IntegerField(default=0, editable=False)
    cover_id = models.BigIntegerField(null=True, blank=True)
    isbns = models.JSONField(default=list, blank=True, help_text="ISBN-13, canonical.")
    edition_count = models.IntegerField(default=0)
    authors_data = models.JSONField(
        default=list, blank=True, help_text="[{name, open_library_key}] in Open Library's order."
    )
    # Upstream keys that were merged into this work, so a later lookup by them finds it.
    merged_keys = models.JSONField(default=list, blank=True)
    upstream_modified = models.BigIntegerField(
        null=True, blank=True, help_text="Open Library's last_modified of the work (epoch seconds)."
    )
    current_version = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    authors = models.ManyToManyField(Author, through="BookAuthor", related_name="books")

    objects = BookQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "open_library_key"], name="book_tenant_key_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="book_tenant_id_uniq"),
        ]
        # One index per ordering (keyset pages read it in order) and the year range filter.
        indexes = [
            models.Index(fields=["tenant", "title_sort", "id"], name="book_tenant_title_idx"),
            models.Index(fields=["tenant", "year_sort", "id"], name="book_tenant_year_idx"),
            models.Index(fields=["tenant", "updated_at", "id"], name="book_tenant_updated_idx"),
            models.Index(fields=["tenant", "first_publish_year"], name="book_tenant_pubyear_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def cover_url(self) -> str | None:
        return cover_url(self.cover_id)

    def content(self) -> dict:
        """The book's content as a snapshot holds it."""
        return {
            "title": self.title,
            "subtitle": self.subtitle or None,
            "description": self.description or None,
            "authors": list(self.authors_data),
            "subjects": list(self.subjects),
            "languages": list(self.languages),
            "first_publish_year": self.first_publish_year,
            "cover_id": self.cover_id,
            "isbns": list(self.isbns),
            "edition_count": self.edition_count,
        }


class BookAuthor(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="book_authors")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="book_authors")
    position = models.PositiveSmallIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [
            # Author first: the same index finds an author's books (the author filter).
            models.UniqueConstraint(fields=["tenant", "author", "book"], name="bookauthor_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="bookauthor_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.author_id} of {self.book_id}"


class BookIsbn(models.Model):
    """One ISBN of a book's editions: the index behind ISBN search and submission lookup."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="isbn_rows")
    isbn13 = models.CharField(max_length=13)
    isbn10 = models.CharField(max_length=10, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # ISBN first: the same index answers ISBN search and submission lookups.
            models.UniqueConstraint(fields=["tenant", "isbn13", "book"], name="bookisbn_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="bookisbn_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return self.isbn13


class BookFacet(models.Model):
    """A subject or language of a book, folded: the index behind the list filters."""

    class Kind(models.TextChoices):
        SUBJECT = "subject", "Subject"
        LANGUAGE = "language", "Language"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="facets")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=200)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # Value first: the same index answers the subject and language filters.
            models.UniqueConstraint(fields=["tenant", "kind", "value", "book"], name="bookfacet_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="bookfacet_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class BookVersion(models.Model):
    class Source(models.TextChoices):
        INGESTION = "ingestion", "Ingestion"
        RESYNC = "resync", "Re-sync"
        SEED = "seed", "Seed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_fields = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.INGESTION)
    job = models.ForeignKey(
        "ingestion.IngestionJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "book", "version"], name="bookversion_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="bookversion_tenant_id_uniq"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="bookversion_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.book_id} v{self.version}"


class CatalogStats(models.Model):
    """Per library: how many books it holds, and a generation number that moves with every
    change to them (an insert, update or delete of a book).

    Kept by database triggers (migration 0005), so every write path agrees, bulk loads
    included. The count answers an unfiltered list's `total` without counting the books; the
    generation keys caches of answers computed from the catalog (search).
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="+")
    books = models.BigIntegerField(default=0)
    generation = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "catalog stats"

    def __str__(self) -> str:
        return f"{self.books} books"

    @classmethod
    def of(cls, tenant: Tenant | int) -> CatalogStats:
        tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
        return cls.objects.filter(tenant_id=tenant_id).first() or cls(tenant_id=tenant_id)
