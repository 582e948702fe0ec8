"""HTTP redirects from Open Library are followed only within Open Library itself.

A real loopback server plays Open Library (the fake catalog) and answers with redirects; a
second one plays a "metadata service" elsewhere, serving the same catalog, so a redirect that was
followed would come back as a perfectly good record. Every client method that sends requests is
checked: a redirect to another port, another host name, another scheme, a `file:` or `ftp:` URL,
or a loop is a failure of that request (one request, no retries), never a record; a redirect on
the same scheme, host and port is followed as before (Open Library sends /isbn/ to /books/).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from ingestion.openlibrary import (
    MAX_HTTP_REDIRECTS,
    OpenLibraryClient,
    OpenLibraryError,
    OpenLibraryNotFound,
)
from tests.fake_openlibrary import FakeOpenLibrary
from tests.ingestion.conftest import CountingThrottle, RecordingSleep
from tests.processes import PROJECT_ROOT, child_env
from tests.reliability.upstream import FaultyOpenLibrary, redirect

ISBN = "9780618640157"

# Every public client method that sends a request, called on the fake catalog below.
METHODS: dict[str, Callable[[OpenLibraryClient, FakeOpenLibrary], Any]] = {
    "search": lambda client, fake: client.search(field="author", value="Ann"),
    "search_works_by_keys": lambda client, fake: client.search_works_by_keys(["OL1W"]),
    "search_works_by_isbns": lambda client, fake: client.search_works_by_isbns([ISBN]),
    "get_work": lambda client, fake: client.get_work("OL1W"),
    "get_edition": lambda client, fake: client.get_edition(next(iter(fake.editions))),
    "get_author": lambda client, fake: client.get_author("OL1A"),
    "get_work_editions": lambda client, fake: client.get_work_editions("OL1W"),
    "work_editions": lambda client, fake: client.work_editions("OL1W"),
    "edition_for_isbn": lambda client, fake: client.edition_for_isbn(ISBN),
    "books_by_isbns": lambda client, fake: client.books_by_isbns([ISBN]),
}
NOT_REQUESTS = {"close"}


def test_every_method_that_sends_requests_is_checked():
    """A method added to the client must be added to METHODS, so none escapes the checks."""
    public = {
        name
        for name, member in inspect.getmembers(OpenLibraryClient, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public - NOT_REQUESTS == set(METHODS)


@pytest.fixture
def fake() -> FakeOpenLibrary:
    fake = FakeOpenLibrary()
    fake.add_work("/works/OL1W", "Work 1", authors=[("/authors/OL1A", "Ann Author")], isbns=[ISBN])
    return fake


@pytest.fixture
def servers(fake) -> Iterator[tuple[FaultyOpenLibrary, FaultyOpenLibrary]]:
    """(Open Library, a metadata service elsewhere on loopback), both serving the catalog."""
    upstream, elsewhere = FaultyOpenLibrary(fake), FaultyOpenLibrary(fake)
    yield upstream, elsewhere
    upstream.stop()
    elsewhere.stop()


@pytest.fixture
def client(fast_retries, servers) -> OpenLibraryClient:
    upstream, _ = servers
    return OpenLibraryClient(upstream.url, throttle=CountingThrottle(), sleep=RecordingSleep(real=False))


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# name: a function of (Open Library's URL, the other server's URL) giving the Location.
OFF_SITE: dict[str, Callable[[str, str], str]] = {
    "another port on 127.0.0.1": lambda ours, theirs: theirs + "{target}",
    "another host name, same port": lambda ours, theirs: f"http://localhost:{port_of(ours)}{{target}}",
    "another host name and port": lambda ours, theirs: f"http://localhost:{port_of(theirs)}{{target}}",
    "another scheme, same host and port": lambda ours, theirs: ours.replace("http:", "https:") + "{target}",
    "a file: URL": lambda ours, theirs: "file:///etc/passwd",
    "an ftp: URL": lambda ours, theirs: f"ftp://127.0.0.1:{port_of(theirs)}/works/OL1W.json",
    "a scheme-relative URL to another host": lambda ours, theirs: f"//localhost:{port_of(theirs)}{{target}}",
    "a userinfo trick": lambda ours, theirs: (
        f"http://127.0.0.1:{port_of(ours)}@localhost:{port_of(theirs)}{{target}}"
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", OFF_SITE)
def test_a_redirect_off_open_library_is_refused_by_every_method(client, servers, fake, method, where):
    upstream, elsewhere = servers
    upstream.faults["/"] = redirect(OFF_SITE[where](upstream.url, elsewhere.url))

    with pytest.raises(OpenLibraryError, match=r"redirected .* off Open Library; not followed") as caught:
        METHODS[method](client, fake)

    assert not isinstance(caught.value, OpenLibraryNotFound)
    assert caught.value.retryable is False
    assert len(upstream.requests) == 1  # refused at once: no retries, no second hop
    assert elsewhere.requests == []
    assert client.retry_count == 0


@pytest.mark.parametrize("method", METHODS)
def test_a_redirect_loop_is_refused_by_every_method(client, servers, fake, method):
    upstream, _ = servers
    upstream.faults["/"] = redirect("{target}")  # to itself

    with pytest.raises(OpenLibraryError, match="redirect loop") as caught:
        METHODS[method](client, fake)

    assert caught.value.retryable is False
    assert len(upstream.requests) == 1


def moved(target: str) -> str:
    """The same path and query, marked so that the next request is not redirected again."""
    return target + ("&" if "?" in target else "?") + "moved=1"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("form", ["relative", "absolute", "absolute, host in capitals"])
def test_a_redirect_within_open_library_is_followed_by_every_method(client, servers, fake, method, form):
    upstream, elsewhere = servers
    expected = METHODS[method](client, fake)
    upstream.requests.clear()
    origin = {"relative": "", "absolute": upstream.url, "absolute, host in capitals": upstream.url.upper()}[
        form
    ]
    # Each path's first request is redirected (two hops: a chain, not a loop); the rest are answered.
    upstream.faults["/"] = redirect(lambda target: origin + moved(target), times=2)

    assert METHODS[method](client, fake) == expected
    assert len(upstream.requests) >= 3
    assert elsewhere.requests == []


def test_a_chain_longer_than_the_bound_is_refused(client, servers, fake):
    upstream, _ = servers
    upstream.faults["/"] = redirect(lambda target: moved(target))

    with pytest.raises(OpenLibraryError, match=f"more than {MAX_HTTP_REDIRECTS} HTTP redirects"):
        client.get_work("OL1W")
    assert len(upstream.requests) == MAX_HTTP_REDIRECTS + 1


def test_a_redirect_without_a_location_is_an_error_not_a_crash(client, servers):
    upstream, _ = servers
    upstream.faults["/"] = redirect("")

    with pytest.raises(OpenLibraryError, match="redirect without a location"):
        client.get_work("OL1W")
    assert len(upstream.requests) == 1


@responses.activate
def test_https_open_library_never_follows_a_redirect_to_plain_http(make_client):
    """The deployment's Open Library is https: a downgrade to http on the same host is refused."""
    responses.get(
        "https://openlibrary.org/works/OL1W.json",
        status=301,
        headers={"Location": "http://openlibrary.org/works/OL1W.json"},
    )
    followed = responses.get(
        "http://openlibrary.org/works/OL1W.json", json={"key": "/works/OL1W", "title": "x"}
    )
    client = make_client()

    with pytest.raises(OpenLibraryError, match="off Open Library; not followed"):
        client.get_work("OL1W")
    assert followed.call_count == 0


@responses.activate
def test_https_open_library_follows_its_own_redirects_on_the_default_port(make_client):
    responses.get(
        "https://openlibrary.org/isbn/9780618640157.json",
        status=302,
        headers={"Location": "https://openlibrary.org:443/books/OL7353617M.json"},
    )
    responses.get(
        "https://openlibrary.org:443/books/OL7353617M.json",
        json={"key": "/books/OL7353617M", "title": "The Fellowship", "works": [{"key": "/works/OL27448W"}]},
    )

    edition = make_client().edition_for_isbn(ISBN)

    assert (edition.key, edition.work_keys) == ("/books/OL7353617M", ("/works/OL27448W",))


# --- The base URL itself ------------------------------------------------------------------------


def start_with(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """A production-like child (DEBUG false, real keys, `env` on top) that loads the settings
    and prints the Open Library it would use."""
    child = child_env(f"sqlite:///{tmp_path / 'check.sqlite3'}")
    child.update({"SECRET_KEY": "s" * 64, "HMAC_SECRET_KEY": "h" * 40, "DEBUG": "false", **env})
    code = "from django.conf import settings; print(settings.OPEN_LIBRARY_BASE_URL)"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=PROJECT_ROOT,
        env=child,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://openlibrary.org",
        "http://10.0.0.5:8080",
        "http://127.0.0.1.example.org",
        "http://localhost.example.org:8001",
        "ftp://openlibrary.org",
        "openlibrary.org",
    ],
)
def test_production_refuses_an_open_library_that_is_not_https(tmp_path, url):
    result = start_with(tmp_path, OPEN_LIBRARY_BASE_URL=url)

    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: OPEN_LIBRARY_BASE_URL must be an https:// URL in production" in result.stderr
    )


@pytest.mark.parametrize(
    ("url", "debug"),
    [
        ("https://openlibrary.org", "false"),
        # Loopback: a local fake or caching proxy, which nobody on the network can come between.
        ("http://127.0.0.1:8001", "false"),
        ("http://localhost:8001", "false"),
        ("http://[::1]:8001", "false"),
        ("http://openlibrary.test", "true"),  # development
    ],
)
def test_production_accepts_https_or_loopback_and_development_any_fake(tmp_path, url, debug):
    started = start_with(tmp_path, OPEN_LIBRARY_BASE_URL=url, DEBUG=debug)

    assert (started.returncode, started.stdout) == (0, url + "\n"), started.stderr[-2000:]
