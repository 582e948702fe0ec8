"""A re-sync resolves its tracked queries page by page, within the slice, and resumes.

Open Library is slow here (every request takes LATENCY), the tracked queries need nine search
pages in all, and a slice is SLICE seconds: resolving alone would take several slices. Each
slice must end after the page in flight, save which queries and pages are done and the keys
found so far, and the next slice must go on from there: no search page is asked twice, and
the catalog at the end is the one an uninterrupted re-sync gives. Through the API, with the
tasks run synchronously one after the other.
"""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest

from ingestion import services
from ingestion.models import IngestionJob, TrackedQuery

pytestmark = pytest.mark.django_db

LATENCY = 0.2
SLICE = 0.3
# (query, limit): with search pages of 2, 3 + 3 + 3 pages.
TRACKED = [("author:Ann", 5), ("author:Bo", 6), ("subject:even", 10)]


@pytest.fixture
def catalog(fake_ol, monkeypatch):
    monkeypatch.setattr(services, "SEARCH_PAGE_SIZE", 2)
    for n in range(1, 13):
        author = ("/authors/OL1A", "Ann Author") if n <= 6 else ("/authors/OL2A", "Bo Writer")
        fake_ol.add_work(
            f"/works/OL{n}W",
            f"Work {n}",
            authors=[author],
            subjects=["even" if n % 2 == 0 else "odd"],
        )
    return fake_ol


def track(library) -> None:
    for query, limit in TRACKED:
        TrackedQuery.objects.create(tenant=library.tenant, query=query, limit=limit)


def query_pages(fake) -> Counter:
    """How often each (tracked query, page) was asked for; the ingest phase's key searches aside."""
    pages = Counter()
    for path in fake.requests:
        if not path.startswith("/search.json"):
            continue
        params = {name: values[-1] for name, values in parse_qs(urlsplit(path).query).items()}
        for field in ("author", "subject"):
            if field in params:
                pages[(f"{field}:{params[field]}", int(params["page"]))] += 1
    return pages


def books(client, slug: str) -> dict[str, dict]:
    items = client.get(f"/tenants/{slug}/books/", {"limit": 100}).json()["items"]
    details = [client.get(f"/tenants/{slug}/books/{item['id']}").json() for item in items]
    volatile = {"id", "created_at", "updated_at", "last_synced_at", "versions"}
    return {
        book["open_library_key"]: {k: v for k, v in book.items() if k not in volatile} for book in details
    }


def test_a_resync_resolves_within_the_slice_and_resumes_where_it_stopped(
    client_a, client_b, library_a, library_b, run_on_commit, catalog, settings, monkeypatch
):
    # The reference: library B's re-sync in one uninterrupted slice, on a fast Open Library.
    track(library_b)
    reference, _ = run_on_commit(lambda: client_b.post(f"/tenants/{library_b.slug}/ingestion/resync"))
    assert client_b.get(reference["Location"]).json()["status"] == "completed"
    expected = books(client_b, library_b.slug)
    assert len(expected) == 12

    catalog.requests.clear()
    catalog.latency = LATENCY
    settings.INGESTION_SLICE_SECONDS = SLICE
    track(library_a)
    slices: list[tuple[float, str, dict]] = []  # (seconds, outcome, the job's saved cursor)
    run_job = services.run_job

    def timed(*, job_id, client=None):
        started = time.monotonic()
        outcome = run_job(job_id=job_id, client=client)
        cursor = IngestionJob.objects.get(pk=job_id).cursor
        slices.append((time.monotonic() - started, outcome, cursor))
        return outcome

    monkeypatch.setattr(services, "run_job", timed)
    response, _ = run_on_commit(lambda: client_a.post(f"/tenants/{library_a.slug}/ingestion/resync"))
    job = client_a.get(response["Location"]).json()

    assert job["status"] == "completed", job
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (12, 12, 0)
    # Resolving took several slices, each saving where it was.
    resolving = [cursor["resolving"] for _, outcome, cursor in slices if "resolving" in cursor]
    assert len(resolving) >= 3, slices
    assert all(outcome == "continued" for _, outcome, cursor in slices if "resolving" in cursor)
    assert [len(state["queries"]) for state in resolving] == sorted(
        (len(state["queries"]) for state in resolving), reverse=True
    )
    assert any(state.get("current", {}).get("page", 1) > 1 for state in resolving)  # mid-query
    # Each slice ended after the page (or work) in flight: never more than the slice and two
    # requests, whatever the tracked queries need in all.
    longest = max(seconds for seconds, _, _ in slices)
    assert longest < SLICE + 2 * LATENCY + 0.3, [round(seconds, 2) for seconds, _, _ in slices]
    # No search page was asked twice, and every one was asked.
    pages = query_pages(catalog)
    assert set(pages.values()) == {1}, pages
    assert len(pages) == 9
    assert books(client_a, library_a.slug) == expected
    assert TrackedQuery.objects.for_tenant(library_a.tenant).filter(last_run_at__isnull=True).count() == 0


def test_a_tracked_query_that_fails_is_skipped_and_the_resync_goes_on(
    client_a, library_a, run_on_commit, catalog, settings
):
    settings.INGESTION_SLICE_SECONDS = 0  # every slice ends after one page
    track(library_a)
    catalog.make_unavailable("Bo")

    response, _ = run_on_commit(lambda: client_a.post(f"/tenants/{library_a.slug}/ingestion/resync"))
    job = client_a.get(response["Location"]).json()

    assert job["status"] == "completed", job
    # Ann's 5 and the even ones (2, 4, 6, 8, 10, 12): 1-6, 8, 10, 12.
    assert job["works_found"] == 9
    logs = client_a.get(f"/tenants/{library_a.slug}/ingestion/logs/", {"job_id": job["id"]}).json()["items"]
    assert any("Tracked query 'author:Bo' skipped" in entry["message"] for entry in logs)
    skipped = TrackedQuery.objects.get(tenant=library_a.tenant, query="author:Bo")
    assert skipped.last_run_at is None
