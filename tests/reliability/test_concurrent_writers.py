"""A web server and two background writers, in separate processes, writing the same rows at once:
no "database is locked", no lost update, on SQLite (a WAL file, IMMEDIATE transactions, as
olcs/settings.py configures it) and on PostgreSQL.

- web: gunicorn (2 processes x 2 threads), driven by threads here: patron submissions for one
  email (find-or-create then update the patron row), each request also taking a slot of the
  library's API rate limit (count the window, then add a hit) and reading the catalog;
- two writer processes (tests/reliability/writer.py): `upsert_book` on the same few works
  (read the book under a row lock, write it and version n+1), `record_submission` for the
  same patron, and `take_slots` on the same API limit.

Every increment is counted by whoever made it, then compared with what the database holds.
tests/tenants/test_sqlite_concurrency.py proves the SQLite settings with one counter row and
plain processes; tests/patrons/test_concurrency.py races submissions in threads (PostgreSQL).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter

import pytest
import requests
from django.db.models import Sum

from catalog.models import Book, BookVersion
from patrons.models import Patron, Submission
from tenants.models import RateLimitHit, Tenant
from tests.ingestion.stack import free_port
from tests.reliability.conftest import SQLITE, manage, wait_until
from tests.reliability.writer import EMAIL, shared_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BOOKS = 4
WRITERS = 2
WRITER_ITERATIONS = 80
WEB_THREADS = 4
WEB_ITERATIONS = 20
LIMITS = {
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_STRATEGY": "sliding",
    "API_RATE_LIMIT_REQUESTS": "1000000",
    "API_RATE_LIMIT_WINDOW_SECONDS": "3600",
}


def drive_web(base: str, slug: str, api_key: str) -> Counter:
    """WEB_THREADS threads released at once, each posting submissions and reading the catalog."""
    statuses: Counter = Counter()
    bodies: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WEB_THREADS)

    def run(thread: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {api_key}"
        start.wait()
        for iteration in range(WEB_ITERATIONS):
            key = shared_key((thread + iteration) % BOOKS)
            posted = session.post(
                f"{base}/tenants/{slug}/submissions/",
                json={"email": EMAIL, "name": "Rita Reader", "books": [{"open_library_key": key}]},
                timeout=120,
            )
            listed = session.get(f"{base}/tenants/{slug}/books/?limit=5", timeout=120)
            with lock:
                statuses[("POST", posted.status_code)] += 1
                statuses[("GET", listed.status_code)] += 1
                bodies.extend(r.text for r in (posted, listed) if r.status_code >= 400)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(WEB_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not bodies, bodies[:5]
    return statuses


def test_web_and_two_writers_lose_no_update_and_never_see_a_locked_database(
    child_database, children, tmp_path, figures
):
    alias = child_database.alias
    env = child_database.env(**LIMITS)
    created = json.loads(
        manage(env, "create_tenant", "--name", "Shared Library", "--slug", "shared", "--json")
    )
    tenant = Tenant.objects.using(alias).get(slug="shared")
    port = free_port()
    web = children.start(
        "web",
        [
            "-m",
            "gunicorn",
            "olcs.wsgi",
            "--workers=2",
            "--threads=2",
            "--timeout=120",
            f"--bind=127.0.0.1:{port}",
        ],
        env,
    )
    base = f"http://127.0.0.1:{port}"

    def web_up() -> bool:
        try:
            return requests.get(f"{base}/health", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    go = tmp_path / "go"
    writers = [
        children.start(
            f"writer-{number}",
            [
                *["-m", "tests.reliability.writer", "--slug", "shared", "--name", f"w{number}"],
                *["--books", str(BOOKS), "--iterations", str(WRITER_ITERATIONS), "--go", str(go)],
            ],
            env,
        )
        for number in range(WRITERS)
    ]
    wait_until(web_up, timeout=120, what="gunicorn to answer /health")
    for writer in writers:
        wait_until(lambda writer=writer: "ready" in writer.output().split(), timeout=120, what="a writer")

    started = time.monotonic()
    go.touch()
    statuses = drive_web(base, "shared", created["api_key"])
    for writer in writers:
        writer.process.wait(timeout=600)
    elapsed = time.monotonic() - started

    logs = [child.output() for child in (web, *writers)]
    locked = sum(text.count("database is locked") for text in logs)
    assert locked == 0, "\n".join(logs)[-5000:]
    assert [writer.process.returncode for writer in writers] == [0] * WRITERS, "\n".join(logs)[-5000:]
    results = [
        json.loads(next(line for line in reversed(writer.output().splitlines()) if '"slots"' in line))
        for writer in writers
    ]
    assert [result["errors"] for result in results] == [[]] * WRITERS
    web_posts = WEB_THREADS * WEB_ITERATIONS
    assert set(statuses) <= {("POST", 201), ("POST", 202), ("GET", 200)}, statuses
    assert sum(statuses.values()) == 2 * web_posts

    # Books: one per shared work, whoever created it; versions 1..n without a gap or a double,
    # and as many as the writers' successful creates and updates together.
    books = dict(
        Book.objects.using(alias).filter(tenant=tenant).values_list("open_library_key", "current_version")
    )
    assert sorted(books) == sorted(shared_key(number) for number in range(BOOKS))
    for key, current in books.items():
        versions = sorted(
            BookVersion.objects.using(alias)
            .filter(book__open_library_key=key)
            .values_list("version", flat=True)
        )
        assert versions == list(range(1, current + 1)), (key, versions)
    writes = sum(result["created"] + result["updated"] for result in results)
    assert sum(result["created"] for result in results) == BOOKS
    assert writes == WRITERS * WRITER_ITERATIONS
    lost_versions = writes - sum(books.values())
    assert lost_versions == 0

    # One patron for the one email, and every submission of web and writers recorded.
    assert Patron.objects.using(alias).filter(tenant=tenant).count() == 1
    submissions = web_posts + sum(result["submissions"] for result in results)
    recorded = Submission.objects.using(alias).filter(tenant=tenant).count()
    assert recorded == submissions

    # The API limit counted every web request and every slot the writers took.
    hits = (
        RateLimitHit.objects.using(alias).filter(tenant=tenant, bucket="api").aggregate(n=Sum("weight"))["n"]
    )
    taken = 2 * web_posts + sum(result["slots"] for result in results)
    assert hits == taken

    if SQLITE:
        with sqlite3.connect(child_database.url.removeprefix("sqlite:///")) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()
    figures(
        check="web + 2 writers on the same rows",
        seconds=round(elapsed, 1),
        web_requests=2 * web_posts,
        writer_seconds=[result["seconds"] for result in results],
        book_versions=sum(books.values()),
        submissions=recorded,
        rate_limit_hits=hits,
        locked_errors=locked,
        lost_updates={
            "versions": lost_versions,
            "submissions": submissions - recorded,
            "rate_limit_hits": taken - hits,
        },
    )
