"""Canary personal data and API keys go through every endpoint that takes them, including crashes,
with every logger at DEBUG and SQL logged with its parameters; afterwards none of them is found in
clear anywhere it must not be.

Canaries: a patron's email and name (sent to submissions, valid and invalid, in two libraries,
then read back through the submissions and patrons endpoints, and erased), and raw API keys (a
library's key, a key issued through POST /api-keys/, a library's first key from POST /tenants/,
a key issued in a request that then crashed, and keys sent where they do not belong: another
library's URL, a query string, an X-Request-ID header).

Where they are looked for:

- every log record of every logger at DEBUG (the plain message with its arguments and traceback,
  and the production JSON line with its extras), with SQL logged with its parameters (a debug
  cursor, as DEBUG=True gives): the parameters hold the keyed hashes, never the plaintext;
  and whatever reached stdout/stderr;
- every answer (a new key is shown once, in the answer that created it, and nowhere else), errors
  and the forced 500s first, and every answer of the other library;
- every character, text and JSON column of every table (tests/patrons/test_privacy.py's scan);
- on SQLite, the raw bytes of the database file and its -wal and -shm files, before and after a
  checkpoint (in a child pytest on a file database, since the test database is in memory).

tests/patrons/test_privacy.py holds the patron-only rules (unsalted hashes, the keyed hashes'
columns, the admin pages, exception reports); this module adds keys, crashes and SQL logging.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.test import APIClient

from olcs.logs import JsonFormatter, RequestIdFilter
from patrons import services as patron_services
from tenants import services as tenant_services
from tenants import views as tenant_views
from tests.conftest import bearer
from tests.patrons.conftest import RINGS_ISBN, TOLKIEN, isbn13, submission_body
from tests.patrons.test_privacy import find, text_values

CANARY_EMAIL = "  Sec.Canary+Wren@Canary-Mail.example "
CANARY_NAME = "Wrenfield Canaryquist"
LOGGERS = ["", "django", "django.request", "django.db.backends", "django-q", "olcs.request", "tenants"]
LOGGERS += ["patrons", "ingestion", "catalog"]
FILE_SCAN_ENV = "OLCS_CANARY_SQLITE_FILE"


def personal_needles() -> list[str]:
    """Every plaintext form of the canary patron (compared lower-case). The masked email
    (s***@canary-mail.example) is allowed: the domain is what people see."""
    email = CANARY_EMAIL.strip().lower()
    return sorted({email, email.split("@")[0], CANARY_NAME.lower(), "wrenfield", "canaryquist"})


@dataclass
class Traffic:
    """The answers of a canary run, and the raw keys it saw."""

    errors: list = field(default_factory=list)  # 4xx and 5xx answers
    answers: list = field(default_factory=list)  # every other answer, but those that show a new key
    key_reveals: list = field(default_factory=list)  # (answer, the key it shows once)
    other_library: list = field(default_factory=list)  # library B's answers
    raw_keys: list[str] = field(default_factory=list)

    def record(self, response) -> None:
        (self.errors if response.status_code >= 400 else self.answers).append(response)

    def key_needles(self) -> list[str]:
        """Each raw key and its secret part (the prefix, olcs_<8 hex>, is public)."""
        return sorted({k.lower() for raw in self.raw_keys for k in (raw, raw.split("_", 2)[2])})


@pytest.fixture
def debug_logs() -> Iterator[list[io.StringIO]]:
    """Every logger at DEBUG into two streams (plain text with tracebacks, and the production
    JSON lines), with SQL and its parameters logged for the default connection."""
    plain, structured = io.StringIO(), io.StringIO()
    text_handler = logging.StreamHandler(plain)
    text_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    json_handler = logging.StreamHandler(structured)
    json_handler.setFormatter(JsonFormatter())
    json_handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.addHandler(text_handler)
        logger.addHandler(json_handler)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # what DEBUG=True does: every query logged with its params
    yield [plain, structured]
    connection.force_debug_cursor = debug_cursor
    for logger, (level, disabled) in zip(loggers, saved, strict=True):
        logger.removeHandler(text_handler)
        logger.removeHandler(json_handler)
        logger.setLevel(level)
        logger.disabled = disabled


def canary_traffic(*, library_a, library_b, platform_key, fake_ol, run_on_commit, monkeypatch) -> Traffic:
    """Send the canaries through every endpoint that takes them."""
    traffic = Traffic(raw_keys=[library_a.raw_key, library_b.raw_key, platform_key.raw])
    a, b, platform = APIClient(), APIClient(), APIClient()
    a.credentials(**bearer(library_a.raw_key))
    b.credentials(**bearer(library_b.raw_key))
    platform.credentials(**bearer(platform_key.raw))
    crashing = APIClient(raise_request_exception=False)
    crashing.credentials(**bearer(library_a.raw_key))
    fake_ol.add_work("/works/OL27448W", "The Lord of the Rings", authors=[TOLKIEN], isbns=[RINGS_ISBN])
    books = [{"isbn": RINGS_ISBN}, {"isbn": isbn13(404)}, {"open_library_key": "OL27448W"}]
    body = submission_body(books, email=CANARY_EMAIL, name=CANARY_NAME)

    # Submissions in both libraries, resolved in the background (the worker's logs count too).
    for client, slug, record in ((a, library_a.slug, traffic.record), (b, library_b.slug, None)):
        response, _ = run_on_commit(
            lambda client=client, slug=slug: client.post(f"/tenants/{slug}/submissions/", body, format="json")
        )
        assert response.status_code == 202, response.content
        (record or traffic.other_library.append)(response)
    again = a.post(
        f"/tenants/{library_a.slug}/submissions/",
        submission_body(books[:1], email=CANARY_EMAIL.upper(), name=CANARY_NAME),
        format="json",
    )
    assert again.status_code == 201
    traffic.record(again)
    # Invalid submissions: the canary in every field, and as a field name.
    for invalid in (
        submission_body(books, email=CANARY_EMAIL.strip() + "@", name=CANARY_NAME),
        submission_body(books, email=CANARY_EMAIL, name=CANARY_NAME * 20),
        submission_body([{"isbn": CANARY_EMAIL}], email=CANARY_EMAIL, name=CANARY_NAME),
        submission_body([{"open_library_key": CANARY_NAME}], email=CANARY_EMAIL, name=CANARY_NAME),
        submission_body([{CANARY_EMAIL: CANARY_NAME}], email=CANARY_EMAIL, name=CANARY_NAME),
        {**body, CANARY_EMAIL: CANARY_NAME},
        {**body, "email": [CANARY_EMAIL]},
    ):
        response = a.post(f"/tenants/{library_a.slug}/submissions/", invalid, format="json")
        assert response.status_code == 400, (invalid, response.content)
        traffic.record(response)
    malformed = a.post(
        f"/tenants/{library_a.slug}/submissions/", json.dumps(body)[:-3], content_type="application/json"
    )
    assert malformed.status_code == 400
    traffic.record(malformed)

    # Read back through submissions and patrons, in both libraries; then erase the patron in A.
    for client, slug, record in (
        (a, library_a.slug, traffic.record),
        (b, library_b.slug, traffic.other_library.append),
    ):
        for path in ("submissions/", "patrons/"):
            listing = client.get(f"/tenants/{slug}/{path}")
            record(listing)
            for item in listing.json()["items"]:
                record(client.get(f"/tenants/{slug}/{path}{item['id']}"))
    patron_id = again.json()["patron"]["id"]
    erased = a.delete(f"/tenants/{library_a.slug}/patrons/{patron_id}")
    assert erased.status_code == 204
    traffic.record(erased)
    traffic.record(a.get(f"/tenants/{library_a.slug}/patrons/{patron_id}"))

    # Keys: issued through the API (shown once), used, and sent where they do not belong.
    issued = a.post(
        f"/tenants/{library_a.slug}/api-keys/", {"name": "opac", "scopes": ["catalog:read"]}, format="json"
    )
    assert issued.status_code == 201
    traffic.raw_keys.append(issued.json()["api_key"])
    traffic.key_reveals.append((issued, issued.json()["api_key"]))
    created = platform.post("/tenants/", {"name": "Canary Annex", "slug": "canary-annex"}, format="json")
    assert created.status_code == 201
    traffic.raw_keys.append(created.json()["api_key"])
    traffic.key_reveals.append((created, created.json()["api_key"]))
    for raw in traffic.raw_keys[-2:]:
        user = APIClient()
        user.credentials(**bearer(raw))
        traffic.record(user.get(f"/tenants/{library_a.slug}/books/"))
        traffic.record(user.get("/tenants/canary-annex/books/"))
        traffic.record(user.get(f"/tenants/{library_b.slug}/api-keys/"))
    stray = library_a.raw_key
    # In an unknown query parameter and as a request id: neither is logged nor echoed. (Not in a
    # list's query: its `Link` header hands the caller's own query back, by design.)
    book_id = a.get(f"/tenants/{library_a.slug}/books/").json()["items"][0]["id"]
    traffic.record(
        a.get(f"/tenants/{library_a.slug}/books/{book_id}?api_key={stray}", HTTP_X_REQUEST_ID=stray)
    )
    traffic.record(
        APIClient().get(f"/tenants/{library_a.slug}/books/", HTTP_AUTHORIZATION=f"Bearer {stray}x")
    )
    traffic.record(APIClient().get(f"/tenants/{library_a.slug}/books/", HTTP_AUTHORIZATION=f"Token {stray}"))
    revoked_id = issued.json()["id"]
    traffic.record(a.delete(f"/tenants/{library_a.slug}/api-keys/{revoked_id}"))
    revoked = APIClient()
    revoked.credentials(**bearer(traffic.raw_keys[3]))
    traffic.record(revoked.get(f"/tenants/{library_a.slug}/books/"))

    # Forced 500s, in production form (DEBUG is false under pytest): a submission that crashes
    # after the patron's data was read, and a key issued in a request that then crashes.
    def catalog_on_fire(**kwargs):
        raise RuntimeError("the catalog is on fire")

    monkeypatch.setattr(patron_services, "link_catalog_books", catalog_on_fire)
    crash = crashing.post(f"/tenants/{library_a.slug}/submissions/", body, format="json")
    assert crash.status_code == 500
    traffic.record(crash)
    monkeypatch.undo()

    real_issue = tenant_services.issue_api_key

    def issue_then_crash(**kwargs):
        _, raw = real_issue(**kwargs)
        traffic.raw_keys.append(raw)
        raise RuntimeError("the key printer jammed")

    monkeypatch.setattr(tenant_views.services, "issue_api_key", issue_then_crash)
    crash = crashing.post(
        f"/tenants/{library_a.slug}/api-keys/", {"name": "jam", "scopes": ["catalog:read"]}, format="json"
    )
    assert crash.status_code == 500
    traffic.record(crash)
    monkeypatch.undo()
    assert len(traffic.raw_keys) == 6
    return traffic


@pytest.fixture
def traffic(library_a, library_b, platform_key, fake_ol, run_on_commit, monkeypatch) -> Traffic:
    return canary_traffic(
        library_a=library_a,
        library_b=library_b,
        platform_key=platform_key,
        fake_ol=fake_ol,
        run_on_commit=run_on_commit,
        monkeypatch=monkeypatch,
    )


def shown(responses, needles: list[str]) -> list[tuple[str, int, str]]:
    return [
        (response.request["PATH_INFO"], response.status_code, needle)
        for response in responses
        for needle in needles
        if needle in response.content.decode("utf-8").lower() or needle in str(response.headers).lower()
    ]


@pytest.mark.django_db
def test_no_log_line_holds_a_canary_even_with_sql_logged(debug_logs, traffic, capfd):
    plain, structured = (stream.getvalue() for stream in debug_logs)
    needles = personal_needles() + traffic.key_needles()
    streams = {"plain": plain, "json": structured, "stdio": "".join(capfd.readouterr())}

    assert [(name, n) for name, text in streams.items() for n in needles if n in text.lower()] == []
    # The logs are real and complete: SQL with its parameters, both crashes with their tracebacks,
    # the submissions and their background resolution.
    assert "django.db.backends DEBUG" in plain and "args=" in plain
    assert "the catalog is on fire" in plain and "the key printer jammed" in plain
    assert "Traceback" in plain
    messages = {json.loads(line)["message"] for line in structured.splitlines()}
    assert {"submission recorded", "submission resolved", "patron erased"} <= messages


@pytest.mark.django_db
def test_no_answer_holds_a_canary_and_a_key_is_shown_only_once(traffic):
    needles = personal_needles() + traffic.key_needles()

    assert len(traffic.errors) >= 15 and {500, 400, 401, 404} <= {r.status_code for r in traffic.errors}
    assert shown(traffic.errors, needles) == []
    assert shown(traffic.answers, needles) == []
    assert shown(traffic.other_library, needles) == []
    for response, raw in traffic.key_reveals:
        others = [
            needle
            for needle in traffic.key_needles()
            if raw.lower() not in needle and needle not in raw.lower()
        ]
        assert shown([response], personal_needles() + others) == []
    assert any(b"s***@canary-mail.example" in r.content for r in traffic.answers)


@pytest.mark.django_db
def test_no_table_holds_a_canary(traffic):
    scanned = [pair for model in apps.get_models(include_auto_created=True) for pair in text_values(model)]

    assert find(personal_needles() + traffic.key_needles(), iter(scanned)) == []
    assert ("patrons_patron.email_masked", "s***@canary-mail.example") in find(
        ["s***@canary-mail.example"], iter(scanned)
    )


# --- SQLite: the database file's raw bytes ----------------------------------------------------------


def sqlite_files(name: str) -> dict[str, bytes]:
    return {
        suffix or "db": Path(name + suffix).read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(name + suffix).exists()
    }


@pytest.mark.skipif(not os.environ.get(FILE_SCAN_ENV), reason="run by test_the_sqlite_files_hold_no_canary")
@pytest.mark.django_db(transaction=True)
def test_canaries_on_a_file_database(
    debug_logs, library_a, library_b, platform_key, fake_ol, run_on_commit, monkeypatch
):
    """The child run: the canary traffic committed to a file database, whose bytes are then read."""
    assert connection.vendor == "sqlite"
    name = connection.settings_dict["NAME"]
    assert name == os.environ[FILE_SCAN_ENV], name
    traffic = canary_traffic(
        library_a=library_a,
        library_b=library_b,
        platform_key=platform_key,
        fake_ol=fake_ol,
        run_on_commit=run_on_commit,
        monkeypatch=monkeypatch,
    )
    needles = [n.encode() for n in personal_needles() + traffic.key_needles()]

    before = sqlite_files(name)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = sqlite_files(name)

    found = [
        (f"{when}:{part}", needle)
        for when, files in (("before", before), ("after", after))
        for part, data in files.items()
        for needle in needles
        if needle in data.lower()
    ]
    assert found == []
    # The scan reads the real data: the masked email is there, in the file or its write-ahead log.
    assert b"s***@canary-mail.example" in before["db"] + before.get("wal", b"")
    assert b"s***@canary-mail.example" in after["db"] and len(after["db"]) > 100_000


def test_the_sqlite_files_hold_no_canary(tmp_path):
    """Runs the canary traffic in a child pytest whose test database is a file (SQLITE_TEST_NAME)."""
    if os.environ.get("DATABASE_URL", "").split(":", 1)[0] not in ("", "sqlite"):
        pytest.skip("the PostgreSQL server's files are not ours to read; its tables are scanned above")
    name = tmp_path / "canary.sqlite3"
    env = {**os.environ, "SQLITE_TEST_NAME": str(name), FILE_SCAN_ENV: str(name)}
    env.pop("DATABASE_URL", None)

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            f"{__file__}::test_canaries_on_a_file_database",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert child.returncode == 0 and "1 passed" in child.stdout, child.stdout[-5000:] + child.stderr[-3000:]
