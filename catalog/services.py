"""Catalog workflows: the versioned upsert every ingestion path uses, and version diffs."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.identifiers import isbn13_to_10
from catalog.models import (
    CONTENT_FIELDS,
    LIST_FIELDS,
    Author,
    Book,
    BookAuthor,
    BookFacet,
    BookIsbn,
    BookVersion,
    content_hash,
    fold,
    title_sort_key,
    year_sort_key,
)
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class UpsertOutcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def changed_fields(old: dict | None, new: dict) -> list[str]:
    """The content fields whose values differ, in CONTENT_FIELDS order."""
    if old is None:
        return [field for field in CONTENT_FIELDS if new.get(field) not in (None, "", [], 0)]
    return [field for field in CONTENT_FIELDS if old.get(field) != new.get(field)]


def upsert_book(
    *,
    tenant: Tenant,
    open_library_key: str,
    content: dict,
    merged_keys: Iterable[str] = (),
    upstream_modified: int | None = None,
    job=None,
    source: str = BookVersion.Source.INGESTION,
) -> tuple[Book, UpsertOutcome]:
    """Create or update one library's book for a work, writing a version only on real change.

    `merged_keys` are upstream keys that redirect to `open_library_key`: a book stored under one
    of them is moved to the final key instead of a duplicate being created.
    Safe to call twice with the same input (the second call is "unchanged"), and safe when two
    workers upsert the same work at once (the unique constraint decides, the loser updates).
    """
    merged = [key for key in merged_keys if key != open_library_key]
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert_locked(
                    tenant=tenant,
                    key=open_library_key,
                    content=content,
                    merged=merged,
                    upstream_modified=upstream_modified,
                    job=job,
                    source=source,
                )
        except IntegrityError:
            # Another worker created the same book between our read and our insert.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _upsert_locked(*, tenant, key, content, merged, upstream_modified, job, source):
    now = timezone.now()
    books = Book.objects.for_tenant(tenant).select_for_update()
    book = books.filter(open_library_key=key).first()
    if merged:
        stale = list(books.filter(open_library_key__in=merged).order_by("id"))
        if book is None and stale:
            # The work was merged upstream: keep its history, move it to the surviving key.
            book, stale = stale[0], stale[1:]
            logger.info(
                "book re-keyed after upstream merge", extra={"from_key": book.open_library_key, "to_key": key}
            )
            book.merged_keys = sorted({*book.merged_keys, book.open_library_key})
            book.open_library_key = key
        for duplicate in stale:
            # Two local books for works that upstream merged into one: keep the survivor only.
            logger.info(
                "duplicate book removed after upstream merge",
                extra={"removed_key": duplicate.open_library_key, "to_key": key},
            )
            book.merged_keys = sorted({*book.merged_keys, duplicate.open_library_key, *duplicate.merged_keys})
            duplicate.delete()
    new_hash = content_hash(content)
    if book is not None and book.content_hash == new_hash:
        updates = {"last_synced_at": now}
        if upstream_modified is not None:
            updates["upstream_modified"] = upstream_modified
        if merged and book.pk:
            updates["merged_keys"] = sorted({*book.merged_keys, *merged})
            updates["open_library_key"] = key
        Book.objects.filter(pk=book.pk).update(**updates)
        for field, value in updates.items():
            setattr(book, field, value)
        return book, UpsertOutcome.UNCHANGED

    created = book is None
    old_content = None if created else book.content()
    if created:
        book = Book(tenant=tenant, open_library_key=key, created_at=now)
    book.merged_keys = sorted({*book.merged_keys, *merged})
    _apply_content(book, content)
    book.content_hash = new_hash
    book.current_version += 1
    book.updated_at = now
    book.last_synced_at = now
    if upstream_modified is not None:
        book.upstream_modified = upstream_modified
    book.save()
    BookVersion.objects.create(
        tenant=tenant,
        book=book,
        version=book.current_version,
        snapshot={field: content.get(field) for field in CONTENT_FIELDS},
        changed_fields=changed_fields(old_content, content),
        content_hash=new_hash,
        source=source,
        job=job,
        created_at=now,
    )
    _sync_authors(book, content.get("authors") or [], replace=not created)
    _sync_isbns(book, content.get("isbns") or [], replace=not created)
    _sync_facets(book, replace=not created)
    return book, (UpsertOutcome.CREATED if created else UpsertOutcome.UPDATED)


def _apply_content(book: Book, content: dict) -> None:
    book.title = (content.get("title") or "")[:1000] or "(untitled)"
    book.title_sort = title_sort_key(book.title)
    book.subtitle = (content.get("subtitle") or "")[:1000]
    book.description = content.get("description") or ""
    book.authors_data = list(content.get("authors") or [])
    book.subjects = list(content.get("subjects") or [])
    book.languages = list(content.get("languages") or [])
    book.first_publish_year = content.get("first_publish_year")
    book.year_sort = year_sort_key(book.first_publish_year)
    book.cover_id = content.get("cover_id")
    book.isbns = list(content.get("isbns") or [])
    book.edition_count = content.get("edition_count") or 0


def _sync_authors(book: Book, authors: list[dict], *, replace: bool) -> None:
    if replace:
        BookAuthor.objects.filter(book=book).delete()
    rows = []
    seen: set[str] = set()
    for position, entry in enumerate(authors):
        key = entry.get("open_library_key")
        if not key or key in seen:
            continue
        seen.add(key)
        name = (entry.get("name") or "")[:500]
        author, created = Author.objects.get_or_create(
            tenant_id=book.tenant_id, open_library_key=key, defaults={"name": name}
        )
        if not created and name and author.name != name:
            Author.objects.filter(pk=author.pk).update(name=name, name_folded=fold(name)[:500])
        rows.append(BookAuthor(tenant_id=book.tenant_id, book=book, author=author, position=position))
    BookAuthor.objects.bulk_create(rows)


def _sync_isbns(book: Book, isbns: list[str], *, replace: bool) -> None:
    if replace:
        BookIsbn.objects.filter(book=book).delete()
    BookIsbn.objects.bulk_create(
        [
            BookIsbn(tenant_id=book.tenant_id, book=book, isbn13=isbn, isbn10=isbn13_to_10(isbn) or "")
            for isbn in dict.fromkeys(isbns)
        ]
    )


def facet_rows(book: Book) -> list[BookFacet]:
    values = {(BookFacet.Kind.SUBJECT, fold(subject)[:200]) for subject in book.subjects if fold(subject)} | {
        (BookFacet.Kind.LANGUAGE, fold(language)[:200]) for language in book.languages if fold(language)
    }
    return [
        BookFacet(tenant_id=book.tenant_id, book=book, kind=kind, value=value)
        for kind, value in sorted(values)
    ]


def _sync_facets(book: Book, *, replace: bool) -> None:
    if replace:
        BookFacet.objects.filter(book=book).delete()
    BookFacet.objects.bulk_create(facet_rows(book))


def diff_snapshots(old: dict, new: dict) -> dict[str, dict]:
    """Field-level changes between two snapshots: old/new, plus added/removed for list fields."""
    changes: dict[str, dict] = {}
    for field in CONTENT_FIELDS:
        before, after = old.get(field), new.get(field)
        if before == after:
            continue
        change: dict[str, object] = {"old": before, "new": after}
        if field in LIST_FIELDS:
            before_list, after_list = before or [], after or []
            change["added"] = [item for item in after_list if item not in before_list]
            change["removed"] = [item for item in before_list if item not in after_list]
        changes[field] = change
    return changes
