"""Two libraries full of distinctive data, for the checks that attack the API from outside.

Every object of every kind exists in both libraries, several times over, and everything of a
library that could leak (its name and slug, titles, work keys, key names and prefixes, masked
emails) carries a canary word of its own that appears nowhere in the other library's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from catalog.models import Book
from catalog.services import upsert_book
from ingestion.models import IngestionJob, TrackedQuery
from ingestion.services import create_job
from patrons import pii
from patrons.models import Patron, Submission
from patrons.services import BookRequest, record_submission
from tenants.models import ApiKey
from tests.catalog.conftest import content
from tests.conftest import Library, bearer
from tests.factories import ApiKeyFactory
from tests.ingestion.conftest import fast_retries, make_client  # noqa: F401 (fixtures of the upstream checks)
from tests.patrons.conftest import isbn13


@dataclass
class Seeded:
    """One library's objects, by kind, as the API names them (string ids)."""

    library: Library
    word: str  # the canary word in this library's titles and names
    ol_base: int  # its works are /works/OL{ol_base}…W
    books: list[Book] = field(default_factory=list)
    jobs: dict[str, IngestionJob] = field(default_factory=dict)  # by role: pending, failed, completed
    patrons: list[Patron] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    keys: list[ApiKey] = field(default_factory=list)  # besides the library's own all-scope key
    tracked_queries: int = 0

    @property
    def slug(self) -> str:
        return self.library.slug

    def ids(self, kind: str) -> list[str]:
        objects = {
            "books": self.books,
            "jobs": list(self.jobs.values()),
            "patrons": self.patrons,
            "submissions": self.submissions,
            "keys": [*self.keys, self.library.key],
        }[kind]
        return sorted(str(obj.pk) for obj in objects)

    def canaries(self) -> list[str]:
        """Strings of this library that no other library's answer may hold (compared lower-case)."""
        tenant = self.library.tenant
        strings = {self.word, tenant.slug, tenant.name, f"OL{str(self.ol_base)[:4]}"}
        strings |= {book.title for book in self.books}
        strings |= {key.name for key in self.keys} | {key.prefix for key in [*self.keys, self.library.key]}
        strings |= {patron.email_masked for patron in self.patrons}
        return sorted(text.lower() for text in strings)

    def state(self) -> dict:
        """What a request that got past the checks could have changed in this library."""
        tenant = self.library.tenant
        return {
            "keys": sorted(ApiKey.objects.for_tenant(tenant).values_list("pk", "revoked_at")),
            "jobs": sorted(IngestionJob.objects.for_tenant(tenant).values_list("pk", "status")),
            "patrons": sorted(Patron.objects.for_tenant(tenant).values_list("pk", "email_hash")),
            "submissions": sorted(Submission.objects.for_tenant(tenant).values_list("pk", "patron_id")),
            "books": sorted(Book.objects.for_tenant(tenant).values_list("pk", "current_version")),
            "tenant": (tenant.name, tenant.slug),
        }

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(**bearer(self.library.raw_key))
        return client


def seed_library(library: Library, *, word: str, ol_base: int, isbn_base: int) -> Seeded:
    """Three books with two versions each, jobs in every state that has an action, their logs
    and tracked queries, two more keys, two patrons with submissions (one still resolving)."""
    tenant = library.tenant
    seeded = Seeded(library=library, word=word, ol_base=ol_base)
    for n in range(3):
        key = f"/works/OL{ol_base + n}W"
        title = f"The {word.title()} Codex {n}"
        isbns = [isbn13(isbn_base + n)]
        upsert_book(tenant=tenant, open_library_key=key, content=content(title, isbns=isbns))
        book, _ = upsert_book(
            tenant=tenant,
            open_library_key=key,
            content=content(title, isbns=isbns, subjects=[f"{word} studies"], first_publish_year=1900 + n),
        )
        seeded.books.append(book)
    pending = create_job(tenant=tenant, kind="query", query=f"title:{word}", limit=5)
    failed = create_job(tenant=tenant, kind="keys", open_library_keys=[f"/works/OL{ol_base + 50}W"])
    IngestionJob.objects.filter(pk=failed.pk).update(
        status="completed", works_found=1, works_failed=1, failed_items=[f"/works/OL{ol_base + 50}W"]
    )
    completed = create_job(tenant=tenant, kind="query", query=f"author:{word}", limit=3)
    IngestionJob.objects.filter(pk=completed.pk).update(status="completed", works_found=0)
    seeded.jobs = {"pending": pending, "failed": failed, "completed": completed}
    seeded.tracked_queries = TrackedQuery.objects.filter(tenant=tenant).count()
    seeded.keys = [
        ApiKeyFactory(tenant=tenant, name=f"{word} opac", scopes=["catalog:read"]),
        ApiKeyFactory(tenant=tenant, name=f"{word} website", scopes=["submissions:write"]),
    ]
    for n, first in enumerate(("p", "q")):
        email = f"{first}.{word}@canary-{word[0]}.example"
        patron_books = [
            BookRequest(kind="isbn", input=isbn13(isbn_base + n), isbn13=isbn13(isbn_base + n)),
            BookRequest(kind="isbn", input=isbn13(isbn_base + 90 + n), isbn13=isbn13(isbn_base + 90 + n)),
        ]
        for books in (patron_books[:1], patron_books):
            submission = record_submission(
                tenant=tenant,
                email=pii.Personal(email),
                name=pii.Personal(f"{word.title()} Reader {n}"),
                books=books,
            )
            seeded.submissions.append(submission)
    seeded.patrons = list(Patron.objects.for_tenant(tenant).order_by("pk"))
    return seeded


@pytest.fixture
def seeded_a(library_a) -> Seeded:
    return seed_library(library_a, word="alexandrine", ol_base=5550001, isbn_base=5550000)


@pytest.fixture
def seeded_b(library_b) -> Seeded:
    return seed_library(library_b, word="quillfeather", ol_base=7770001, isbn_base=7770000)
