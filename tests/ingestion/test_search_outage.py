"""An Open Library search outage fails only what it must.

search.json is the part of Open Library that has outages, and one batched search names up to
100 works: its failure must not fail them all. Here every request naming the bad work answers
503 (as an overloaded search node behind a key does); the batched search `key:(good OR bad)`
fails, each work is fetched on its own (work, editions, authors), the good one is ingested as
complete as through search, the bad one is a failed item, and a retry runs only it.
Through the API, with the task run synchronously (Q_SYNC), on the fake Open Library.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.models import Book

pytestmark = pytest.mark.django_db

GOOD, BAD = "/works/OL1W", "/works/OL2W"
VOLATILE = {"id", "created_at", "updated_at", "last_synced_at", "versions"}


@pytest.fixture
def catalog(fake_ol):
    fake_ol.add_work(
        GOOD,
        "The Good Work",
        authors=[("/authors/OL1A", "Ann Author"), ("/authors/OL2A", "Bo Writer")],
        description={"type": "/type/text", "value": "Worth having."},
        subjects=["Outages", "Resilience"],
        covers=[-1, 4242],
        isbns=["9780618640157", "9780547928227", "9780140328721"],
        languages=["eng", "fre"],
        first_publish_year=1954,
        edition_count=3,
    )
    fake_ol.add_work(BAD, "The Bad Work", authors=[("/authors/OL3A", "Cy Author")], isbns=["9780451524935"])
    return fake_ol


def post(client, run_on_commit, slug: str, path: str, payload: dict | None = None) -> dict:
    response, _ = run_on_commit(lambda: client.post(f"/tenants/{slug}/{path}", payload, format="json"))
    assert response.status_code == 202, response.content
    job = client.get(response["Location"])
    assert job.status_code == 200
    return job.json()


def books(client, slug: str) -> dict[str, dict]:
    """Each book's full record as the API shows it, by key, without ids and times."""
    items = client.get(f"/tenants/{slug}/books/", {"limit": 100}).json()["items"]
    details = [client.get(f"/tenants/{slug}/books/{item['id']}").json() for item in items]
    return {
        book["open_library_key"]: {k: v for k, v in book.items() if k not in VOLATILE} for book in details
    }


def searched(fake, key: str) -> int:
    return sum(
        1
        for path in fake.requests
        if path.startswith("/search.json") and key in " ".join(parse_qs(urlsplit(path).query).get("q", []))
    )


def test_a_keys_job_with_a_bad_key_ingests_the_good_work_complete_and_fails_only_the_bad(
    client_a, client_b, library_a, library_b, run_on_commit, catalog
):
    # Library B ingests the good work through search, while it works: the reference content.
    reference = post(client_b, run_on_commit, library_b.slug, "ingestion/", {"open_library_keys": ["OL1W"]})
    assert (reference["status"], reference["works_created"]) == ("completed", 1)
    assert catalog.count(f"{GOOD}/editions.json") == 0  # search gave ISBNs and languages
    catalog.requests.clear()
    catalog.make_unavailable("OL2W")

    job = post(client_a, run_on_commit, library_a.slug, "ingestion/", {"open_library_keys": ["OL1W", "OL2W"]})

    assert job["status"] == "completed", job
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (2, 1, 1)
    assert searched(catalog, "OL2W") >= 1  # the batched search was tried, and failed
    assert catalog.count(f"{GOOD}/editions.json") == 1  # then the good work came on its own
    good = books(client_a, library_a.slug)
    assert set(good) == {GOOD}
    assert good[GOOD] == books(client_b, library_b.slug)[GOOD]
    # The content really is complete (not just equally empty).
    book = Book.objects.for_tenant(library_a.tenant).get(open_library_key=GOOD)
    assert book.isbns == ["9780140328721", "9780547928227", "9780618640157"]
    assert (book.languages, book.edition_count, book.first_publish_year) == (["eng", "fre"], 3, 1954)
    assert [author["name"] for author in book.authors_data] == ["Ann Author", "Bo Writer"]
    assert book.upstream_modified == 1_600_000_000
    logs = client_a.get(f"/tenants/{library_a.slug}/ingestion/logs/", {"job_id": job["id"]}).json()["items"]
    assert any("search failed for 2 works; fetching each on its own" in entry["message"] for entry in logs)
    failed = [entry for entry in logs if entry["level"] == "error"]
    assert [entry["open_library_key"] for entry in failed] == [BAD]
    assert "answered 503" in failed[0]["message"]

    # Retry re-runs only the bad work: still down, it fails again, alone.
    catalog.requests.clear()
    retry = post(client_a, run_on_commit, library_a.slug, f"ingestion/jobs/{job['id']}/retry")
    assert retry["open_library_keys"] == [BAD]
    assert (retry["status"], retry["works_created"], retry["works_failed"]) == ("failed", 0, 1)
    assert not any("OL1W" in path for path in catalog.requests)

    # Once Open Library is well again, retrying that retry ingests it through search.
    catalog.unavailable.clear()
    healed = post(client_a, run_on_commit, library_a.slug, f"ingestion/jobs/{retry['id']}/retry")
    assert (healed["status"], healed["works_created"], healed["works_failed"]) == ("completed", 1, 0)
    assert set(books(client_a, library_a.slug)) == {GOOD, BAD}
    assert not any("OL1W" in path for path in catalog.requests)


def test_an_isbn_job_falls_back_to_the_isbn_endpoint_and_the_works(
    client_a, client_b, library_a, library_b, run_on_commit, catalog
):
    reference = post(client_b, run_on_commit, library_b.slug, "ingestion/", {"isbns": ["9780618640157"]})
    assert reference["status"] == "completed"
    catalog.make_unavailable("OL2W", "9780451524935")

    job = post(
        client_a, run_on_commit, library_a.slug, "ingestion/", {"isbns": ["9780618640157", "9780451524935"]}
    )

    assert job["status"] == "completed", job
    assert (job["works_created"], job["works_failed"]) == (1, 1)
    assert catalog.count("/isbn/9780618640157.json") == 1  # the ISBN search failed: asked on its own
    assert books(client_a, library_a.slug) == books(client_b, library_b.slug)

    catalog.unavailable.clear()
    retry = post(client_a, run_on_commit, library_a.slug, f"ingestion/jobs/{job['id']}/retry")
    assert retry["isbns"] == ["9780451524935"]
    assert (retry["status"], retry["works_created"]) == ("completed", 1)


def test_a_query_job_whose_search_fails_says_so(client_a, library_a, run_on_commit, catalog):
    catalog.make_unavailable("Author")  # the query names it

    job = post(client_a, run_on_commit, library_a.slug, "ingestion/", {"query": "author:Author"})

    assert job["status"] == "failed"
    assert job["error"].startswith("Open Library error: the search 'author:Author' could not be run: ")
    assert "answered 503" in job["error"]


def test_a_query_job_whose_later_slice_cannot_search_fetches_each_work(
    client_a, library_a, run_on_commit, catalog, settings
):
    """A later slice has no search docs of its own (they are not saved): it asks search for the
    batch again, and when that fails, fetches each work on its own."""
    settings.INGESTION_SLICE_SECONDS = 0  # every slice ends after one work

    original = catalog.handle

    def handle(method, path, query):
        if path == "/search.json" and query.get("q", [""])[0].startswith("key:("):
            return 503, {"Content-Type": "text/html"}, "<html>503</html>"
        return original(method, path, query)

    catalog.handle = handle
    job = post(client_a, run_on_commit, library_a.slug, "ingestion/", {"query": "author:Author", "limit": 2})

    assert job["status"] == "completed", job
    assert (job["works_found"], job["works_created"], job["works_failed"]) == (2, 2, 0)
    assert set(books(client_a, library_a.slug)) == {GOOD, BAD}
