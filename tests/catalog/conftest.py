import re
from datetime import datetime

import pytest

from catalog.models import Book
from catalog.services import upsert_book


def content(title: str, **fields) -> dict:
    base = {
        "title": title,
        "subtitle": None,
        "description": None,
        "authors": [],
        "subjects": [],
        "languages": ["eng"],
        "first_publish_year": None,
        "cover_id": None,
        "isbns": [],
        "edition_count": 1,
    }
    base.update(fields)
    return base


def author(name: str, number: int) -> dict:
    """An author entry as Open Library ingestion stores it."""
    return {"name": name, "open_library_key": f"/authors/OL{number}A"}


@pytest.fixture
def make_book():
    counter = {"n": 0}

    def make(tenant, title: str, key: str | None = None, **fields):
        counter["n"] += 1
        book, _ = upsert_book(
            tenant=tenant,
            open_library_key=key or f"/works/OL{1000 + counter['n']}W",
            content=content(title, **fields),
        )
        return book

    return make


@pytest.fixture
def revise_book():
    """A new upstream state of a book through the real upsert: a new version when content changed."""

    def revise(book: Book, **fields) -> Book:
        book.refresh_from_db()
        revised, _ = upsert_book(
            tenant=book.tenant,
            open_library_key=book.open_library_key,
            content={**book.content(), **fields},
        )
        return revised

    return revise


def set_updated_at(book: Book, moment: datetime) -> None:
    """Pin a book's `updated_at` (not indexed for search, so no trigger is bypassed)."""
    Book.objects.filter(pk=book.pk).update(updated_at=moment)
    book.updated_at = moment


_LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')


def link_rels(response) -> dict[str, str]:
    """The RFC 8288 `Link` header as {rel: url}."""
    return {rel: url for url, rel in _LINK.findall(response.get("Link", ""))}


def item_ids(response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def warm(client_a):
    """One request first, so the key's once-per-window `last_used_at` write is not counted."""

    def run(path: str = "/tenants/alexandria/books/") -> None:
        assert client_a.get(path).status_code == 200

    return run
