"""`manage.py ingest` and `manage.py resync`: what an operator types, what they read back.

Open Library is the fake of tests/fake_openlibrary.py. Jobs run in the command's process
(`--in-process`) or, with `--wait`, on the synchronous test worker once the command's
transaction commits (hence the transactional tests there).
"""

from __future__ import annotations

import io
import sys
import time
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Book
from ingestion.management import progress
from ingestion.models import IngestionJob, TrackedQuery
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

Status = IngestionJob.Status
Kind = IngestionJob.Kind

TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")
RINGS_ISBN = "9780618640157"
HOBBIT_ISBN = "9780547928227"


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True)
    return out.getvalue()


@pytest.fixture
def catalog(fake_ol):
    fake_ol.add_work("/works/OL27448W", "The Lord of the Rings", authors=[TOLKIEN], isbns=[RINGS_ISBN])
    fake_ol.add_work("/works/OL262758W", "The Hobbit", authors=[TOLKIEN], isbns=[HOBBIT_ISBN])
    return fake_ol


@pytest.fixture
def bounded_polling(monkeypatch):
    """`follow` polls until the job finishes: fail after a few polls instead of hanging."""
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) > 20:
            raise AssertionError("the job never finished")

    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    return polls


def titles(library) -> set[str]:
    return set(Book.objects.for_tenant(library.tenant).values_list("title", flat=True))


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_a_query_in_process_prints_progress_and_completes(library_a, catalog):
    out = run("ingest", "--tenant", "alexandria", "--query", "author:Tolkien", "--in-process")

    job = IngestionJob.objects.get()
    assert (job.tenant, job.kind, job.query, job.status) == (
        library_a.tenant,
        Kind.QUERY,
        "author:Tolkien",
        Status.COMPLETED,
    )
    full_bar = "#" * progress.BAR_WIDTH
    assert out.splitlines() == [
        f"Job {job.pk} created for alexandria (Search query).",
        f"[{full_bar}] 2/2 works  created 2  updated 0  unchanged 0  failed 0  (completed)",
        f"Job {job.pk} completed.",
    ]
    assert titles(library_a) == {"The Lord of the Rings", "The Hobbit"}
    assert TrackedQuery.objects.filter(tenant=library_a.tenant, query="author:Tolkien").exists()


def test_ingest_keys_in_process(library_a, library_b, catalog):
    out = run("ingest", "--tenant", "alexandria", "--keys", "OL27448W", "/works/OL262758W", "--in-process")

    job = IngestionJob.objects.get()
    assert job.kind == Kind.KEYS
    assert job.open_library_keys == ["/works/OL27448W", "/works/OL262758W"]
    assert out.splitlines()[-1] == f"Job {job.pk} completed."
    assert titles(library_a) == {"The Lord of the Rings", "The Hobbit"}
    assert titles(library_b) == set()


def test_ingest_isbns_in_process_with_a_limit(library_a, catalog):
    out = run(
        "ingest", "--tenant", "alexandria", "--isbns", "978-0-618-64015-7", "--limit", "5", "--in-process"
    )

    job = IngestionJob.objects.get()
    assert (job.kind, job.isbns, job.limit) == (Kind.ISBNS, [RINGS_ISBN], 5)
    assert "1/1 works  created 1" in out
    assert titles(library_a) == {"The Lord of the Rings"}


def test_ingest_without_wait_leaves_the_job_to_the_worker(library_a, catalog, run_on_commit):
    out, callbacks = run_on_commit(lambda: run("ingest", "--tenant", "alexandria", "--query", "title:hobbit"))

    job = IngestionJob.objects.get()
    assert out == f"Job {job.pk} created for alexandria (Search query).\n"
    assert len(callbacks) == 1  # enqueued on commit; here the synchronous worker ran it
    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert titles(library_a) == {"The Hobbit"}


@pytest.mark.django_db(transaction=True)
def test_ingest_wait_follows_the_worker_until_the_job_completes(library_a, catalog, bounded_polling):
    out = run("ingest", "--tenant", "alexandria", "--isbns", RINGS_ISBN, HOBBIT_ISBN, "--wait")

    job = IngestionJob.objects.get()
    assert job.status == Status.COMPLETED
    assert "2/2 works  created 2" in out
    assert out.splitlines()[-1] == f"Job {job.pk} completed."
    assert titles(library_a) == {"The Lord of the Rings", "The Hobbit"}


@pytest.mark.django_db(transaction=True)
def test_ingest_wait_on_a_failing_job_raises(library_a, fake_ol, bounded_polling):
    for _ in range(20):
        fake_ol.fail_next("/", 503)

    with pytest.raises(CommandError) as raised:
        run("ingest", "--tenant", "alexandria", "--query", "author:Tolkien", "--wait")

    job = IngestionJob.objects.get()
    assert job.status == Status.FAILED
    assert str(raised.value).startswith(f"Job {job.pk} failed: Open Library error")


def test_ingest_in_process_raises_naming_the_failed_job(library_a, fake_ol):
    for _ in range(20):
        fake_ol.fail_next("/", 503)
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command(
            "ingest",
            "--tenant",
            "alexandria",
            "--query",
            "author:Tolkien",
            "--in-process",
            stdout=out,
            no_color=True,
        )

    job = IngestionJob.objects.get()
    assert job.status == Status.FAILED
    assert "503" in job.error
    assert str(raised.value) == f"Job {job.pk} failed: {job.error}"
    assert "(failed)" in out.getvalue()
    assert Book.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_progress_is_plain_lines_when_the_output_is_not_a_terminal(
    library_a, catalog, bounded_polling, monkeypatch
):
    # The process's stdout is a terminal, but this command's output goes elsewhere.
    monkeypatch.setattr(sys, "stdout", SimpleNamespace(isatty=lambda: True, write=lambda text: None))

    out = run("ingest", "--tenant", "alexandria", "--keys", "OL27448W", "--wait")

    assert "\r" not in out
    assert "1/1 works  created 1" in out.splitlines()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nowhere", "--query", "author:Tolkien"], "No library with the slug 'nowhere'."),
        (
            ["--tenant", "alexandria", "--isbns", "9780618640158"],
            "Invalid request: isbns.0: the check digit of ISBN-13 '9780618640158' should be 7",
        ),
        (
            ["--tenant", "alexandria", "--query", "author:"],
            "Invalid request: query: 'author:' needs something to search for.",
        ),
        (
            ["--tenant", "alexandria", "--query", "author:Tolkien", "--limit", "0"],
            "Invalid request: limit: Ensure this value is greater than or equal to 1.",
        ),
        (["--tenant", "alexandria", "--keys", "OL1A"], "Invalid request: open_library_keys.0: Only work"),
    ],
)
def test_ingest_rejects_bad_input_and_creates_no_job(library_a, fake_ol, run_on_commit, args, message):
    with pytest.raises(CommandError) as raised:
        run_on_commit(lambda: run("ingest", *args, "--in-process"))

    assert str(raised.value).startswith(message)
    assert not IngestionJob.objects.exists()
    assert not TrackedQuery.objects.exists()
    assert fake_ol.requests == []


def test_ingest_needs_exactly_one_kind_of_request(library_a):
    with pytest.raises(CommandError, match="one of the arguments --query --keys --isbns is required"):
        run("ingest", "--tenant", "alexandria")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("ingest", "--tenant", "alexandria", "--query", "dune", "--isbns", RINGS_ISBN)

    assert not IngestionJob.objects.exists()


# --- resync ----------------------------------------------------------------------------------


def test_resync_one_library_creates_one_resync_job(library_a, library_b):
    out = run("resync", "--tenant", "bodleian")

    job = IngestionJob.objects.get()
    assert (job.tenant, job.kind, job.status) == (library_b.tenant, Kind.RESYNC, Status.PENDING)
    assert out == f"Re-sync job {job.pk} created for bodleian.\n"


def test_resync_without_a_library_starts_every_enabled_library(library_a, library_b):
    TenantFactory(name="Closed Stacks", slug="closed", resync_enabled=False)

    out = run("resync")

    jobs = IngestionJob.objects.order_by("tenant__slug")
    assert [(job.tenant.slug, job.kind) for job in jobs] == [
        ("alexandria", Kind.RESYNC),
        ("bodleian", Kind.RESYNC),
    ]
    assert out.splitlines() == [f"Re-sync job {job.pk} created for {job.tenant.slug}." for job in jobs]


def test_resync_with_no_enabled_library_says_so(db):
    TenantFactory(name="Closed Stacks", slug="closed", resync_enabled=False)

    out = run("resync")

    assert out == "No library has re-sync enabled.\n"
    assert not IngestionJob.objects.exists()


def test_resync_of_an_unknown_library_is_an_error(library_a):
    with pytest.raises(CommandError) as raised:
        run("resync", "--tenant", "nowhere")

    assert str(raised.value) == "No library with the slug 'nowhere'."

    assert not IngestionJob.objects.exists()


def test_resync_runs_the_tracked_queries_and_books_again(library_a, catalog, run_on_commit):
    run("ingest", "--tenant", "alexandria", "--query", "title:hobbit", "--in-process")
    catalog.works["/works/OL262758W"].title = "The Hobbit, or There and Back Again"
    catalog.works["/works/OL262758W"].last_modified += 1

    run_on_commit(lambda: run("resync", "--tenant", "alexandria"))

    job = IngestionJob.objects.get(kind=Kind.RESYNC)
    assert job.status == Status.COMPLETED, job.error
    assert job.works_updated == 1
    book = Book.objects.get(tenant=library_a.tenant)
    assert (book.title, book.current_version) == ("The Hobbit, or There and Back Again", 2)


def test_resync_does_not_start_a_second_one_while_one_is_active(library_a):
    IngestionJob.objects.create(tenant=library_a.tenant, kind="resync", status="running")

    output = run("resync", "--tenant", library_a.slug)

    assert "already running" in output
    assert IngestionJob.objects.filter(tenant=library_a.tenant, kind="resync").count() == 1


def test_resync_wait_fails_when_a_job_fails(library_a, monkeypatch):
    def finished_as_failed(job, write, *, interactive, poll_seconds=0.5):
        IngestionJob.objects.filter(pk=job.pk).update(status="failed", error="Open Library error: 503")
        job.refresh_from_db()
        return job

    monkeypatch.setattr("ingestion.management.commands.resync.follow", finished_as_failed)

    with pytest.raises(CommandError, match="failed: Open Library error: 503"):
        run("resync", "--tenant", library_a.slug, "--wait")
