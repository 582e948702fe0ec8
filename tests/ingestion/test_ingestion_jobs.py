"""Ingestion end to end in-process: API → job → worker (synchronous) → catalog with versions.

Open Library is the fake of tests/fake_openlibrary.py mounted on `responses`.
"""

from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.models import Book, BookIsbn, BookVersion
from ingestion.models import IngestionJob, IngestionLog, TrackedQuery

pytestmark = pytest.mark.django_db

TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")


@pytest.fixture
def catalog(fake_ol):
    fake_ol.add_work(
        "/works/OL27448W",
        "The Lord of the Rings",
        authors=[TOLKIEN],
        description={"type": "/type/text", "value": "One ring to rule them all."},
        subjects=["Fantasy", "Middle Earth"],
        covers=[-1, 14625765],
        isbns=["9780618640157"],
        first_publish_year=1954,
        edition_count=120,
    )
    fake_ol.add_work(
        "/works/OL262758W",
        "The Hobbit",
        authors=[TOLKIEN],
        description="There and back again.",
        subjects=["Fantasy", "Dragons"],
        covers=[6979861],
        isbns=["9780547928227"],
        first_publish_year=1937,
        edition_count=80,
    )
    fake_ol.add_work(
        "/works/OL45883W",
        "Fantastic Mr Fox",
        authors=[("/authors/OL34184A", "Roald Dahl")],
        subjects=["Foxes"],
        isbns=["9780140328721"],
        first_publish_year=1970,
    )
    return fake_ol


def ingest(client, run_on_commit, payload, slug="alexandria"):
    response, _ = run_on_commit(lambda: client.post(f"/tenants/{slug}/ingestion/", payload, format="json"))
    return response


def job_of(response) -> IngestionJob:
    return IngestionJob.objects.get(pk=response.json()["id"])


def searches(fake) -> list[dict]:
    return [parse_qs(urlsplit(p).query) for p in fake.requests if p.startswith("/search.json")]


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("author:Tolkien", {"The Lord of the Rings", "The Hobbit"}),
        ("subject:foxes", {"Fantastic Mr Fox"}),
        ("title:hobbit", {"The Hobbit"}),
        ("ring", {"The Lord of the Rings"}),
    ],
)
def test_every_query_form_ingests_the_matching_works(client_a, run_on_commit, catalog, query, titles):
    response = ingest(client_a, run_on_commit, {"query": query})

    assert response.status_code == 202
    assert response["Location"].endswith(f"/tenants/alexandria/ingestion/jobs/{response.json()['id']}")
    job = job_of(response)
    assert job.status == "completed", job.error
    assert set(Book.objects.for_tenant(job.tenant).values_list("title", flat=True)) == titles
    assert job.works_found == job.works_created == len(titles)
    assert TrackedQuery.objects.filter(tenant=job.tenant, query=query).exists()


def test_query_ingestion_stores_the_whole_book(client_a, run_on_commit, catalog, library_a):
    ingest(client_a, run_on_commit, {"query": "title:lord of the rings"})

    book = Book.objects.get(tenant=library_a.tenant, open_library_key="/works/OL27448W")
    assert book.title == "The Lord of the Rings"
    assert book.description == "One ring to rule them all."  # the /type/text form
    assert book.authors_data == [{"name": "J.R.R. Tolkien", "open_library_key": "/authors/OL26320A"}]
    assert book.subjects == ["Fantasy", "Middle Earth"]
    assert book.languages == ["eng"]
    assert book.first_publish_year == 1954
    assert book.cover_id == 14625765  # -1 skipped
    assert book.isbns == ["9780618640157"]
    assert BookIsbn.objects.get(book=book).isbn10 == "0618640150"
    assert book.edition_count == 120
    assert book.current_version == 1
    assert book.last_synced_at is not None
    version = book.versions.get()
    assert version.version == 1
    assert version.snapshot["title"] == "The Lord of the Rings"
    assert "title" in version.changed_fields and "description" in version.changed_fields
    assert version.job_id is not None


def test_plain_string_description(client_a, run_on_commit, catalog, library_a):
    ingest(client_a, run_on_commit, {"open_library_keys": ["OL262758W"]})

    assert Book.objects.get(tenant=library_a.tenant).description == "There and back again."


def test_search_asks_for_fields_and_costs_about_one_request_per_work(client_a, run_on_commit, catalog):
    for n in range(30):
        catalog.add_work(f"/works/OL{900 + n}W", f"Tolkien study {n}", authors=[TOLKIEN])
    catalog.requests.clear()

    job = job_of(ingest(client_a, run_on_commit, {"query": "author:Tolkien", "limit": 100}))

    assert job.works_created == 32
    first = searches(catalog)[0]
    assert "isbn" in first["fields"][0] and "key" in first["fields"][0]
    # One search page, one key lookup batch at most, one work record each.
    assert len(catalog.requests) <= 1.5 * 32


def test_keys_in_every_form_and_edition_keys_ingest_their_work(client_a, run_on_commit, catalog, library_a):
    catalog.add_edition("/books/OL7353617M", "/works/OL45883W", isbn_10=["0140328726"])

    response = ingest(
        client_a,
        run_on_commit,
        {"open_library_keys": ["OL27448W", "/works/OL262758W", "/books/OL7353617M", "OL27448W"]},
    )

    job = job_of(response)
    assert job.status == "completed"
    assert job.open_library_keys == ["/works/OL27448W", "/works/OL262758W", "/books/OL7353617M"]
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("open_library_key", flat=True)) == {
        "/works/OL27448W",
        "/works/OL262758W",
        "/works/OL45883W",
    }


def test_isbns_ingest_their_works(client_a, run_on_commit, catalog, library_a):
    response = ingest(client_a, run_on_commit, {"isbns": ["978-0-618-64015-7", "0140328726"]})

    job = job_of(response)
    assert job.status == "completed"
    assert job.isbns == ["9780618640157", "9780140328721"]
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("title", flat=True)) == {
        "The Lord of the Rings",
        "Fantastic Mr Fox",
    }


def test_unknown_isbn_and_key_fail_as_items_and_are_logged(client_a, run_on_commit, catalog, library_a):
    response = ingest(client_a, run_on_commit, {"isbns": ["9780618640157", "9781234567897"]})

    job = job_of(response)
    assert job.status == "completed"
    assert job.works_created == 1 and job.works_failed == 1
    assert job.failed_items == ["9781234567897"]
    assert IngestionLog.objects.filter(job=job, level="error", message__contains="9781234567897").exists()


def test_two_step_redirect_chain_creates_no_duplicate(client_a, run_on_commit, catalog, library_a):
    catalog.redirect("/works/OL1W", "/works/OL2W")
    catalog.redirect("/works/OL2W", "/works/OL27448W")

    ingest(client_a, run_on_commit, {"open_library_keys": ["OL27448W"]})
    job = job_of(ingest(client_a, run_on_commit, {"open_library_keys": ["OL1W"]}))

    assert job.status == "completed"
    books = Book.objects.for_tenant(library_a.tenant)
    assert books.count() == 1
    book = books.get()
    assert book.open_library_key == "/works/OL27448W"
    assert {"/works/OL1W", "/works/OL2W"} <= set(book.merged_keys)
    assert book.current_version == 1  # same content: no new version
    assert job.works_unchanged == 1


def test_book_stored_under_a_key_later_merged_upstream_is_moved_not_duplicated(
    client_a, run_on_commit, catalog, library_a
):
    catalog.add_work("/works/OL5W", "Old record of The Hobbit", authors=[TOLKIEN])
    ingest(client_a, run_on_commit, {"open_library_keys": ["OL5W"]})
    catalog.redirect("/works/OL5W", "/works/OL262758W")

    ingest(client_a, run_on_commit, {"open_library_keys": ["OL5W"]})

    book = Book.objects.get(tenant=library_a.tenant)
    assert book.open_library_key == "/works/OL262758W"
    assert "/works/OL5W" in book.merged_keys
    assert book.current_version == 2  # history kept, content moved on


def test_deleted_work_is_logged_and_skipped(client_a, run_on_commit, catalog, library_a):
    catalog.delete("/works/OL45883W")

    job = job_of(ingest(client_a, run_on_commit, {"open_library_keys": ["OL45883W", "OL27448W"]}))

    assert job.status == "completed"
    assert job.works_created == 1
    assert not Book.objects.filter(open_library_key="/works/OL45883W").exists()
    assert IngestionLog.objects.filter(job=job, level="warning", message__contains="deleted").exists()


def test_unknown_work_404_is_a_failed_item(client_a, run_on_commit, catalog):
    job = job_of(ingest(client_a, run_on_commit, {"open_library_keys": ["OL999999W"]}))

    assert job.status == "failed"
    assert job.works_failed == 1
    assert job.failed_items == ["/works/OL999999W"]
    assert "failed" in job.error


def test_reingesting_unchanged_data_creates_no_version(client_a, run_on_commit, catalog, library_a):
    ingest(client_a, run_on_commit, {"query": "author:Tolkien"})
    again = job_of(ingest(client_a, run_on_commit, {"query": "author:Tolkien"}))

    assert again.works_unchanged == 2 and again.works_created == again.works_updated == 0
    assert BookVersion.objects.for_tenant(library_a.tenant).count() == 2
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("current_version", flat=True)) == {1}


def test_changed_upstream_makes_version_2_with_the_changed_fields(
    client_a, run_on_commit, catalog, library_a
):
    ingest(client_a, run_on_commit, {"open_library_keys": ["OL262758W"]})
    work = catalog.works["/works/OL262758W"]
    work.description = "A new blurb."
    work.subjects = ["Fantasy", "Dragons", "Quests"]
    work.last_modified += 100

    job = job_of(ingest(client_a, run_on_commit, {"open_library_keys": ["OL262758W"]}))

    assert job.works_updated == 1
    book = Book.objects.get(tenant=library_a.tenant)
    assert book.current_version == 2
    latest = book.versions.get(version=2)
    assert latest.changed_fields == ["description", "subjects"]
    assert latest.snapshot["description"] == "A new blurb."
    assert book.versions.get(version=1).snapshot["description"] == "There and back again."


def test_two_tenants_ingesting_the_same_work_stay_apart(
    client_a, client_b, run_on_commit, catalog, library_a, library_b
):
    ingest(client_a, run_on_commit, {"open_library_keys": ["OL262758W"]})
    catalog.works["/works/OL262758W"].description = "Changed before B ingests."
    catalog.works["/works/OL262758W"].last_modified += 1
    ingest(client_b, run_on_commit, {"open_library_keys": ["OL262758W"]}, slug="bodleian")

    book_a = Book.objects.get(tenant=library_a.tenant)
    book_b = Book.objects.get(tenant=library_b.tenant)
    assert book_a.pk != book_b.pk
    assert book_a.description == "There and back again."
    assert book_b.description == "Changed before B ingests."
    assert book_a.current_version == book_b.current_version == 1


def test_upstream_outage_fails_the_job_cleanly(client_a, run_on_commit, catalog):
    for _ in range(10):
        catalog.fail_next("/search.json", 503, body="unavailable")

    response = ingest(client_a, run_on_commit, {"query": "author:Tolkien"})

    assert response.status_code == 202
    job = job_of(response)
    assert job.status == "failed"
    assert "Open Library" in job.error
    assert job.finished_at is not None


def test_rate_limited_then_success(client_a, run_on_commit, catalog):
    catalog.fail_next("/search.json", 429, {"Retry-After": "0"})
    catalog.fail_next("/works/", 429)

    job = job_of(ingest(client_a, run_on_commit, {"query": "title:hobbit"}))

    assert job.status == "completed"
    assert job.works_created == 1


def test_malformed_json_from_upstream_fails_the_item_not_the_service(client_a, run_on_commit, catalog):
    for _ in range(5):
        catalog.fail_next("/works/OL262758W", 200, body="{not json")

    job = job_of(ingest(client_a, run_on_commit, {"open_library_keys": ["OL262758W", "OL27448W"]}))

    assert job.status == "completed"
    assert job.works_failed == 1 and job.works_created == 1
    assert job.failed_items == ["/works/OL262758W"]


def test_retry_of_an_isbn_job_retries_failed_isbns_and_works_in_one_job(
    client_a, run_on_commit, catalog, library_a
):
    for _ in range(10):
        catalog.fail_next("/works/OL27448W", 503)
    first = job_of(ingest(client_a, run_on_commit, {"isbns": ["9780618640157", "9781234567897"]}))
    assert sorted(first.failed_items) == ["/works/OL27448W", "9781234567897"]
    catalog.failures.clear()

    response, _ = run_on_commit(lambda: client_a.post(f"/tenants/alexandria/ingestion/jobs/{first.pk}/retry"))

    retry = job_of(response)
    assert IngestionJob.objects.filter(retry_of=first).count() == 1
    assert retry.kind == "isbns"
    assert retry.isbns == ["9781234567897"] and retry.open_library_keys == ["/works/OL27448W"]
    assert retry.status == "completed"
    assert retry.works_created == 1 and retry.failed_items == ["9781234567897"]
    assert Book.objects.filter(tenant=library_a.tenant, open_library_key="/works/OL27448W").exists()
