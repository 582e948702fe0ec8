"""Open Library misbehaving, end to end: a job posted to the API, run through the real service
and client against a real local server that hangs, resets, answers 5xx or 429 (Retry-After 1
and 21600), sends malformed JSON, an HTML page, a 50 MB body or a body that trickles in a byte at a time.

For every fault: a bounded number of attempts, waits honoured but capped, a readable error on
the job or its log (never a traceback), never a 500 from the API, never a job left `running`.
The client-level details (backoff steps, Retry-After dates, declared sizes) are pinned in
tests/ingestion/test_openlibrary_retries.py; this module proves the whole path.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from ingestion.openlibrary import MAX_BODY_BYTES
from tests.reliability.upstream import Fault, FaultyOpenLibrary, redirect, status

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_ATTEMPTS = 4  # the production default of OPEN_LIBRARY_MAX_ATTEMPTS
RETRY_AFTER_CAP = 2.0  # OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS here (60 in production)
READ_TIMEOUT = 0.5
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>We'll be back soon</h1></body></html>"

# name: (fault, attempts expected, what the error says)
FAULTS = {
    "read timeout": (Fault("hang", seconds=10), MAX_ATTEMPTS, "failed (ReadTimeout) on all 4 attempts"),
    "connection reset": (Fault("reset"), MAX_ATTEMPTS, "failed (ConnectionError) on all 4 attempts"),
    "closed without an answer": (Fault("close"), MAX_ATTEMPTS, "failed (ConnectionError) on all 4 attempts"),
    "500": (status(500), MAX_ATTEMPTS, "answered 500 on all 4 attempts"),
    "503 HTML page": (
        status(503, HTML_PAGE, **{"Content-Type": "text/html"}),
        MAX_ATTEMPTS,
        "answered 503 on all 4 attempts",
    ),
    "429 Retry-After 1": (status(429, **{"Retry-After": "1"}), MAX_ATTEMPTS, "rate limited"),
    "429 Retry-After 21600": (status(429, **{"Retry-After": "21600"}), MAX_ATTEMPTS, "rate limited"),
    "malformed JSON": (status(200, b'{"key": "/works/OL2W", "title": "Trunc'), 1, "malformed JSON"),
    "HTML with 200": (
        status(200, HTML_PAGE, **{"Content-Type": "text/html"}),
        1,
        "HTML where JSON was expected",
    ),
    "50 MB body": (Fault("stream", megabytes=50), 1, f"over the {MAX_BODY_BYTES} byte limit"),
    # Each read gets a byte in time; the answer as a whole is cut at 3 read timeouts.
    "slow drip": (Fault("drip", seconds=30), MAX_ATTEMPTS, "failed (ReadTimeout) on all 4 attempts"),
}
# The wait between attempts each fault must respect: (at least, at most) seconds.
WAITS = {
    "429 Retry-After 1": (0.95, 1.0 + 3),
    "429 Retry-After 21600": (RETRY_AFTER_CAP - 0.05, RETRY_AFTER_CAP + 3),
}


@pytest.fixture
def open_library(upstream, settings):
    settings.OPEN_LIBRARY_BASE_URL = upstream.url
    settings.OPEN_LIBRARY_MAX_RPS = 1000
    settings.OPEN_LIBRARY_MAX_ATTEMPTS = MAX_ATTEMPTS
    settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = RETRY_AFTER_CAP
    settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS = 0.05
    settings.OPEN_LIBRARY_TIMEOUT_SECONDS = (2, READ_TIMEOUT)
    for n in (1, 2, 3):
        upstream.fake.add_work(f"/works/OL{n}W", f"Work {n}", authors=[("/authors/OL1A", "Ann Author")])
    return upstream


def post_job(client, library, run_on_commit, payload: dict) -> tuple[dict, float]:
    """POST the job (its task runs on commit, here inline) and read it back through the API."""
    started = time.monotonic()
    response, _ = run_on_commit(
        lambda: client.post(f"/tenants/{library.slug}/ingestion/", payload, format="json")
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content
    job = client.get(response["Location"])
    assert job.status_code == 200, job.content
    return job.json(), elapsed


def job_logs(client, library, job_id: str) -> list[dict]:
    response = client.get(f"/tenants/{library.slug}/ingestion/logs/", {"job_id": job_id, "limit": 100})
    assert response.status_code == 200, response.content
    return response.json()["items"]


def gaps(requests) -> list[float]:
    return [round(later.at - earlier.at, 3) for earlier, later in itertools.pairwise(requests)]


def assert_readable(text: str) -> None:
    assert text and "Traceback" not in text and 'File "' not in text and len(text) < 600, text


@pytest.mark.parametrize("name", FAULTS)
def test_a_faulty_work_record_fails_that_item_and_the_job_goes_on(
    name, open_library, client_a, library_a, run_on_commit, figures
):
    fault, attempts, message = FAULTS[name]
    open_library.faults["/works/OL2W.json"] = fault

    job, elapsed = post_job(
        client_a, library_a, run_on_commit, {"open_library_keys": ["OL1W", "OL2W", "OL3W"]}
    )

    assert job["status"] == "completed", job
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (3, 2, 1)
    assert job["finished_at"] is not None
    faulty = open_library.hits("/works/OL2W.json")
    assert len(faulty) == attempts
    assert len(open_library.hits("/works/OL1W.json")) == len(open_library.hits("/works/OL3W.json")) == 1
    (error,) = [entry for entry in job_logs(client_a, library_a, job["id"]) if entry["level"] == "error"]
    assert error["open_library_key"] == "/works/OL2W"
    assert error["message"].startswith("Work /works/OL2W could not be fetched: ")
    assert message in error["message"]
    assert_readable(error["message"])
    waited = gaps(faulty)
    if name in WAITS:
        low, high = WAITS[name]
        assert all(low <= wait <= high for wait in waited), waited
    if name == "50 MB body":
        # The client stopped reading soon after its 10 MB cap; the server never sent all 50 MB.
        assert open_library.streamed_bytes < 30 * 1024 * 1024, open_library.streamed_bytes
    # Once Open Library is well again, retrying the job fetches exactly the failed item.
    del open_library.faults["/works/OL2W.json"]
    retry, _ = run_on_commit(
        lambda: client_a.post(f"/tenants/{library_a.slug}/ingestion/jobs/{job['id']}/retry")
    )
    assert retry.status_code == 202, retry.content
    assert retry.json()["open_library_keys"] == ["/works/OL2W"]
    retried = client_a.get(retry["Location"]).json()
    assert (retried["status"], retried["works_created"]) == ("completed", 1), retried
    figures(
        check="upstream fault on a work record",
        fault=name,
        attempts=len(faulty),
        waits=waited,
        job_seconds=round(elapsed, 2),
        streamed_mb=round(open_library.streamed_bytes / 2**20, 1),
        error=error["message"],
    )


@pytest.mark.parametrize("name", FAULTS)
def test_a_faulty_search_fails_the_job_with_a_reason(
    name, open_library, client_a, library_a, run_on_commit, figures
):
    fault, attempts, message = FAULTS[name]
    open_library.faults["/search.json"] = fault

    job, elapsed = post_job(client_a, library_a, run_on_commit, {"query": "author:Ann"})

    assert job["status"] == "failed", job
    assert job["finished_at"] is not None
    assert job["error"].startswith("Open Library error: ")
    assert message in job["error"]
    assert_readable(job["error"])
    searches = open_library.hits("/search.json")
    assert len(searches) == attempts
    waited = gaps(searches)
    if name in WAITS:
        low, high = WAITS[name]
        assert all(low <= wait <= high for wait in waited), waited
    assert open_library.hits("/works/") == []
    assert client_a.get(f"/tenants/{library_a.slug}/books/").json()["total"] == 0
    listed = client_a.get(f"/tenants/{library_a.slug}/ingestion/jobs/", {"status": "running"})
    assert listed.status_code == 200 and listed.json()["total"] == 0
    figures(
        check="upstream fault on search",
        fault=name,
        attempts=len(searches),
        waits=waited,
        job_seconds=round(elapsed, 2),
        error=job["error"],
    )


def test_long_upstream_waits_end_a_slice_after_the_work_that_overran_it(
    open_library, client_a, library_a, run_on_commit, settings, figures
):
    """A task must stay far below the worker's timeout however slow Open Library is: with every
    work record rate limited, each work costs its capped waits, so the slice deadline has to be
    checked after each work, not only after a batch of 100 (100 x 3 waits of 60 s is 5 hours)."""
    settings.INGESTION_SLICE_SECONDS = 1
    settings.OPEN_LIBRARY_MAX_ATTEMPTS = 3
    settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = 0.6
    open_library.faults["/works/"] = status(429, **{"Retry-After": "21600"})

    started = time.monotonic()
    response, callbacks = run_on_commit(
        lambda: client_a.post(
            f"/tenants/{library_a.slug}/ingestion/",
            {"open_library_keys": ["OL1W", "OL2W", "OL3W"]},
            format="json",
        )
    )
    elapsed = time.monotonic() - started
    job = client_a.get(response["Location"]).json()

    assert job["status"] == "failed", job
    assert (job["works_found"], job["works_failed"]) == (3, 3)
    assert job["error"] == "All 3 items failed; see the job's log."
    # One task per work: each work waited 2 x 0.6 s, past the 1 s slice, and handed over.
    assert len(callbacks) == 3
    assert len(open_library.hits("/works/")) == 9
    figures(check="slice deadline under upstream waits", tasks=len(callbacks), job_seconds=round(elapsed, 2))


@pytest.fixture
def metadata_service() -> Iterator[FaultyOpenLibrary]:
    """Another service on loopback, answering Open Library's paths with records of its own."""
    service = FaultyOpenLibrary()
    service.fake.add_work("/works/OL2W", "Planted by the metadata service")
    service.fake.add_work("/works/OL1W", "Planted by the metadata service")
    yield service
    service.stop()


@pytest.mark.parametrize("where", ["/works/OL2W.json", "/search.json"])
def test_a_redirect_off_open_library_is_never_followed_and_never_becomes_a_book(
    where, open_library, metadata_service, client_a, library_a, run_on_commit, figures
):
    """A work record (or the batched search) answering 302 to another loopback service: that
    request fails at once, the service is never asked, its JSON never becomes a book; a failed
    search falls back to fetching each work, so only a redirected work record is a failed item."""
    open_library.faults[where] = redirect(metadata_service.url + "{target}")

    job, elapsed = post_job(
        client_a, library_a, run_on_commit, {"open_library_keys": ["OL1W", "OL2W", "OL3W"]}
    )

    assert job["status"] == "completed", job
    failed = 1 if where.startswith("/works/") else 0
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (3, 3 - failed, failed)
    assert metadata_service.requests == []
    assert len(open_library.hits(where)) == 1  # refused at once, not retried
    titles = {book["title"] for book in client_a.get(f"/tenants/{library_a.slug}/books/").json()["items"]}
    assert "Planted by the metadata service" not in titles
    messages = [entry["message"] for entry in job_logs(client_a, library_a, job["id"])]
    refused = [message for message in messages if "off Open Library; not followed" in message]
    assert len(refused) == 1, messages
    assert_readable(refused[0])
    figures(check="redirect off Open Library", where=where, job_seconds=round(elapsed, 2), message=refused[0])


def test_a_search_outage_naming_one_key_fails_only_that_work(
    open_library, client_a, library_a, run_on_commit, figures
):
    """Every request naming OL2W answers 503 over real HTTP (the batched search included): the
    other works come from the works and editions endpoints, OL2W is the one failed item, and a
    retry runs only it."""
    open_library.fake.make_unavailable("OL2W")

    job, elapsed = post_job(
        client_a, library_a, run_on_commit, {"open_library_keys": ["OL1W", "OL2W", "OL3W"]}
    )

    assert job["status"] == "completed", job
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (3, 2, 1)
    assert len(open_library.hits("/search.json")) == MAX_ATTEMPTS
    assert len(open_library.hits("/works/OL1W/editions.json")) == 1
    (error,) = [entry for entry in job_logs(client_a, library_a, job["id"]) if entry["level"] == "error"]
    assert error["open_library_key"] == "/works/OL2W"
    open_library.fake.unavailable.clear()
    retry, _ = run_on_commit(
        lambda: client_a.post(f"/tenants/{library_a.slug}/ingestion/jobs/{job['id']}/retry")
    )
    assert retry.json()["open_library_keys"] == ["/works/OL2W"]
    retried = client_a.get(retry["Location"]).json()
    assert (retried["status"], retried["works_created"]) == ("completed", 1), retried
    figures(check="search outage naming one key", job_seconds=round(elapsed, 2), works_created=2, failed=1)
