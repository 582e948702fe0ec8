"""Helpers for the patrons tests: valid ISBNs on demand, books in a library's catalog, and
posting submissions the way a library's website does."""

from __future__ import annotations

import pytest

from catalog.models import Book
from catalog.services import upsert_book
from tenants.models import Tenant
from tests.catalog.conftest import content

# Real ISBNs with their works (the fake Open Library serves them where a test adds them).
RINGS_ISBN = "9780618640157"
RINGS_ISBN10 = "0618640150"
HOBBIT_ISBN = "9780547928227"
X_CHECK_ISBN10, X_CHECK_ISBN13 = "080442957X", "9780804429573"
TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")


def isbn13(n: int, prefix: str = "979") -> str:
    """A valid ISBN-13 made from a number: distinct numbers give distinct ISBNs. 979 by default,
    so it never collides with a real 978 ISBN used elsewhere in the tests."""
    first_twelve = f"{prefix}{n:09d}"
    total = sum((3 if position % 2 else 1) * int(digit) for position, digit in enumerate(first_twelve))
    return first_twelve + str((10 - total % 10) % 10)


@pytest.fixture
def catalog_book():
    """A book in a library's catalog, through the real versioned upsert."""

    def make(tenant: Tenant, key: str, title: str, *, isbns=(), merged_keys=()) -> Book:
        book, _ = upsert_book(
            tenant=tenant,
            open_library_key=key,
            content=content(title, isbns=sorted(isbns)),
            merged_keys=merged_keys,
        )
        return book

    return make


def submission_body(books, *, email: str = "reader@example.org", name: str = "Rea Der") -> dict:
    return {"email": email, "name": name, "books": books}


@pytest.fixture
def submit(client_a):
    """POST a submission for library A (or with another client); returns the response."""

    def post(
        books, *, email: str = "reader@example.org", name: str = "Rea Der", client=None, slug="alexandria"
    ):
        return (client or client_a).post(
            f"/tenants/{slug}/submissions/", submission_body(books, email=email, name=name), format="json"
        )

    return post
