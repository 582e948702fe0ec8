"""A real headless Chromium, driven by Playwright, against the admin on pytest-django's live server.

One browser serves the whole package; each test gets fresh browser contexts (one per person,
so cookies never leak between librarians). The server runs in a thread of this process, so
what a test sets up (rows, `settings`, the fake Open Library mounted on `responses`) is what
the pages see. Without /usr/bin/chromium the tests skip, except in CI (`CI` set), where a
missing browser is a failure: CI installs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.test import Client

from catalog.models import Book
from ingestion.models import IngestionJob, TrackedQuery
from patrons.models import Patron, Submission
from tenants.models import Membership, Tenant
from tests.conftest import Library
from tests.factories import MembershipFactory, UserFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser, Page, Response

CHROMIUM = Path(os.environ.get("OLCS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The machine is shared and loaded: pages may take a while, and that is not what we test.
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
Role = Membership.Role


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_missing(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)", pytrace=False)
    pytest.skip(f"{reason}; install Debian's chromium to run the browser tests")


@pytest.fixture(scope="package")
def browser(django_db_setup) -> Iterator[Browser]:
    """One Chromium for the package, closed when its tests are done.

    Package-scoped, not session-scoped: while Playwright's sync API is open it keeps an
    event loop running in this thread, and Django refuses ORM calls from a thread with a
    running loop. So the test database is created first (`django_db_setup`), the refusal is
    lifted only while the browser is open, and the tests after this package never see either.
    """
    if not CHROMIUM.exists():
        browser_missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        browser_missing("Playwright is not installed")
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(autouse=True)
def _browser_test_setup(browser, live_server, transactional_db) -> None:
    """Every test here: the browser, the live server, and a database the server thread sees."""


@dataclass
class Staff:
    """A person at the admin: their account and a logged-in browser page."""

    user: User
    page: Page
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Response | None:
        """Open `path`; returns the response (its `.status` is the page's HTTP status)."""
        return self.page.goto(self.url(path))

    def html(self) -> str:
        return self.page.content()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """A page in a fresh browser context (its own cookies), closed after the test."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def logged_in(new_page, live_server) -> Callable[..., Staff]:
    """A browser already logged in as `user` (session cookie made server-side: no login form)."""

    def login(user: User) -> Staff:
        client = Client()
        client.force_login(user)
        page = new_page()
        page.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        return Staff(user=user, page=page, base_url=live_server.url)

    return login


def member(tenant: Tenant, role: str, username: str, **extra) -> User:
    """A staff account that is a member of `tenant` with `role` (password: PASSWORD)."""
    user = UserFactory(username=username, password=PASSWORD, **extra)
    MembershipFactory(tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def admin_a(library_a):
    """Ada, library admin of library A."""
    return member(library_a.tenant, Role.ADMIN, "ada")


@pytest.fixture
def librarian_a(library_a):
    """Alan, plain librarian of library A."""
    return member(library_a.tenant, Role.LIBRARIAN, "alan")


@pytest.fixture
def admin_b(library_b):
    """Bea, library admin of library B."""
    return member(library_b.tenant, Role.ADMIN, "bea")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", password=PASSWORD, is_superuser=True)


@dataclass
class Holdings:
    """One library's rows, as its librarians would find them: books (one with two versions),
    a job, a key, a tracked query, a patron with a submission."""

    library: Library
    books: list[Book]
    revised: Book  # books[0], at version 2
    job: IngestionJob
    tracked_query: TrackedQuery
    patron: Patron
    submission: Submission
    email: str

    @property
    def tenant(self) -> Tenant:
        return self.library.tenant


def stock(library: Library, *, word: str, isbn_base: int) -> Holdings:
    """Fill `library` with rows whose titles carry `word`, through the real services and API.

    Jobs stay pending (the fixture using this must use `no_worker`).
    """
    from rest_framework.test import APIClient

    from catalog.services import upsert_book
    from ingestion import services as ingestion
    from tests.catalog.conftest import author, content
    from tests.patrons.conftest import isbn13

    tenant = library.tenant
    books = []
    for n, title in enumerate([f"{word} Rising", f"The {word} Atlas", f"Songs of {word}"]):
        book, _ = upsert_book(
            tenant=tenant,
            open_library_key=f"/works/OL{isbn_base + n}W",
            content=content(
                title,
                authors=[author(f"{word} Author", isbn_base + n)],
                isbns=[isbn13(isbn_base + n)],
                description=f"A book about {word.lower()} things.",
                first_publish_year=1990 + n,
            ),
        )
        books.append(book)
    revised, _ = upsert_book(
        tenant=tenant,
        open_library_key=books[0].open_library_key,
        content={
            **books[0].content(),
            "title": f"{word} Rising, Revised",
            "description": f"A new edition about {word.lower()} things.",
            "subjects": ["Fiction"],
        },
    )
    books[0] = revised
    job = ingestion.create_job(tenant=tenant, kind=IngestionJob.Kind.QUERY, query=f"title:{word.lower()}")
    tracked_query = TrackedQuery.objects.create(tenant=tenant, query=f"subject:{word.lower()}", limit=5)
    email = f"{word.lower()}.reader@example.org"
    client = APIClient()
    answer = client.post(
        f"/tenants/{library.slug}/submissions/",
        {
            "email": email,
            "name": f"{word} Reader",
            "books": [{"isbn": isbn13(isbn_base)}, {"isbn": isbn13(isbn_base + 1)}],
        },
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {library.raw_key}",
    )
    assert answer.status_code == 201, answer.content
    submission = Submission.objects.get(pk=answer.json()["id"])
    return Holdings(
        library=library,
        books=books,
        revised=revised,
        job=job,
        tracked_query=tracked_query,
        patron=Patron.objects.get(pk=submission.patron_id),
        submission=submission,
        email=email,
    )


@pytest.fixture
def holdings_a(library_a, no_worker) -> Holdings:
    return stock(library_a, word="Alpha", isbn_base=100)


@pytest.fixture
def holdings_b(library_b, no_worker) -> Holdings:
    return stock(library_b, word="Bravo", isbn_base=200)


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save a full-page PNG: into docs/screenshots with OLCS_SCREENSHOTS=1, else tmp_path.

    So a normal test run never dirties the repository.
    """
    folder = SCREENSHOTS if os.environ.get("OLCS_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / name
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    return take


@pytest.fixture
def no_worker(monkeypatch) -> None:
    """Jobs stay pending: nothing runs them (in tests the worker otherwise runs them inline)."""
    from ingestion import services

    monkeypatch.setattr(services, "enqueue_job", lambda job_id: None)
