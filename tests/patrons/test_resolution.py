"""Background resolution against the fake Open Library: a constant number of upstream calls,
books added to the catalog with versions, not_found, merges, and failures that never leave a
submission resolving for ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Book, BookIsbn, BookVersion
from ingestion import services as ingestion
from patrons import services
from patrons.models import Submission, SubmissionItem
from tests.patrons.conftest import RINGS_ISBN, TOLKIEN, isbn13

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(fake_ol):
    """Open Library knows 50 works, each with one ISBN, and The Lord of the Rings."""
    for n in range(1, 51):
        fake_ol.add_work(
            f"/works/OL{n}W",
            f"Shelf volume {n}",
            authors=[(f"/authors/OL{n}A", f"Author {n}")],
            description=f"The blurb of volume {n}.",
            subjects=["Shelves"],
            covers=[n],
            isbns=[isbn13(n)],
            first_publish_year=1900 + n,
            last_modified=1_700_000_000 + n,
        )
    fake_ol.add_work(
        "/works/OL27448W",
        "The Lord of the Rings",
        authors=[TOLKIEN],
        description="One ring.",
        isbns=[RINGS_ISBN],
        first_publish_year=1954,
    )
    return fake_ol


def submitted(submit, run_on_commit, books, **kwargs):
    """POST a submission and run what it enqueued (the worker is synchronous in tests)."""
    response, _ = run_on_commit(lambda: submit(books, **kwargs))
    assert response.status_code in (201, 202), response.content
    return response


def detail(client_a, submission_id) -> dict:
    response = client_a.get(f"/tenants/alexandria/submissions/{submission_id}")
    assert response.status_code == 200
    return response.json()


def test_fifty_unknown_isbns_resolve_with_two_open_library_requests(submit, run_on_commit, client_a, shelf):
    response = submitted(submit, run_on_commit, [{"isbn": isbn13(n)} for n in range(1, 51)])

    assert response.status_code == 202
    body = detail(client_a, response.json()["id"])
    assert body["status"] == "complete"
    assert [item["status"] for item in body["books"]] == ["resolved"] * 50
    assert [item["title"] for item in body["books"]] == [f"Shelf volume {n}" for n in range(1, 51)]
    assert [item["open_library_key"] for item in body["books"]] == [f"/works/OL{n}W" for n in range(1, 51)]
    # One Books API request for all the ISBNs, one search for all the works: never one per book.
    assert shelf.count("/api/books") == 1
    assert shelf.count("/search.json") == 1
    assert len(shelf.requests) == 2


def test_books_found_upstream_join_the_catalog_with_a_version(
    submit, run_on_commit, client_a, library_a, shelf
):
    submitted(submit, run_on_commit, [{"isbn": RINGS_ISBN}])

    book = Book.objects.for_tenant(library_a.tenant).get(open_library_key="/works/OL27448W")
    assert book.title == "The Lord of the Rings"
    assert book.authors_data == [{"name": "J.R.R. Tolkien", "open_library_key": "/authors/OL26320A"}]
    assert book.first_publish_year == 1954
    assert book.current_version == 1
    assert BookVersion.objects.filter(book=book, version=1, source="ingestion").exists()
    assert BookIsbn.objects.filter(book=book, isbn13=RINGS_ISBN).exists()
    # Created from the search answer alone: the work record (description) comes with the next re-sync.
    assert book.description == ""
    assert book.upstream_modified is None
    # The next submission of that ISBN needs no Open Library at all.
    shelf.requests.clear()
    again = submit([{"isbn": "0-618-64015-0"}])
    assert again.status_code == 201
    assert shelf.requests == []


def test_the_next_resync_fills_in_the_full_work_record(submit, run_on_commit, library_a, shelf):
    submitted(submit, run_on_commit, [{"isbn": RINGS_ISBN}])
    job = ingestion.start_resync(tenant=library_a.tenant)

    assert ingestion.run_job(job_id=job.pk) == "completed"

    book = Book.objects.for_tenant(library_a.tenant).get(open_library_key="/works/OL27448W")
    assert book.description == "One ring."
    assert book.current_version == 2
    assert book.upstream_modified is not None


def test_isbns_open_library_does_not_know_end_not_found(submit, run_on_commit, client_a, shelf):
    unknown = isbn13(999_999)

    response = submitted(submit, run_on_commit, [{"isbn": isbn13(1)}, {"isbn": unknown}, {"isbn": unknown}])

    body = detail(client_a, response.json()["id"])
    assert body["status"] == "complete"
    assert [item["status"] for item in body["books"]] == ["resolved", "not_found", "not_found"]
    assert body["books"][1]["book_id"] is None and body["books"][1]["title"] is None
    item = SubmissionItem.objects.get(position=1)
    assert item.error == "Open Library has no edition with this ISBN."
    assert shelf.count("/api/books") == 1


def test_a_book_upstream_already_in_the_catalog_is_linked_not_created(
    submit, run_on_commit, client_a, library_a, catalog_book, shelf
):
    # In the catalog under its work key, but without this ISBN: only Open Library knows the link.
    existing = catalog_book(library_a.tenant, "/works/OL7W", "Shelf volume 7 (as ingested)")

    response = submitted(submit, run_on_commit, [{"isbn": isbn13(7)}])

    [item] = detail(client_a, response.json()["id"])["books"]
    assert item["book_id"] == str(existing.pk)
    assert item["title"] == "Shelf volume 7 (as ingested)"
    assert Book.objects.for_tenant(library_a.tenant).count() == 1
    assert existing.versions.count() == 1  # an existing book is never overwritten from a search answer
    assert shelf.count("/search.json") == 0


def test_unknown_work_keys_are_batched_in_one_search(submit, run_on_commit, client_a, shelf):
    books = [{"open_library_key": f"OL{n}W"} for n in range(1, 21)] + [
        {"open_library_key": "/works/OL424242W"}
    ]

    response = submitted(submit, run_on_commit, books)

    statuses = [item["status"] for item in detail(client_a, response.json()["id"])["books"]]
    assert statuses == ["resolved"] * 20 + ["not_found"]
    # The one search, then the missing work's record: it might have been merged upstream.
    assert shelf.count("/search.json") == 1
    assert shelf.count("/works/OL424242W.json") == 1
    assert len(shelf.requests) == 2


def test_an_edition_key_resolves_to_its_work(submit, run_on_commit, client_a, shelf):
    shelf.add_edition("/books/OL7353617M", "/works/OL27448W")

    response = submitted(
        submit, run_on_commit, [{"open_library_key": "/books/OL7353617M"}, {"open_library_key": "OL1M"}]
    )

    first, second = detail(client_a, response.json()["id"])["books"]
    assert first["status"] == "resolved"
    assert first["open_library_key"] == "/works/OL27448W"
    assert second["status"] == "not_found"


def test_a_work_merged_upstream_is_stored_under_its_surviving_key(
    submit, run_on_commit, client_a, library_a, shelf
):
    shelf.redirect("/works/OL100W", "/works/OL27448W")

    response = submitted(submit, run_on_commit, [{"open_library_key": "OL100W"}])

    [item] = detail(client_a, response.json()["id"])["books"]
    assert item["status"] == "resolved"
    assert item["open_library_key"] == "/works/OL27448W"
    book = Book.objects.for_tenant(library_a.tenant).get()
    assert book.open_library_key == "/works/OL27448W"
    assert book.merged_keys == ["/works/OL100W"]
    assert book.description == "One ring."  # the work record was fetched anyway, so it is used
    # The old key now resolves from the catalog, without Open Library.
    shelf.requests.clear()
    assert submit([{"open_library_key": "/works/OL100W"}]).status_code == 201
    assert shelf.requests == []


def test_a_deleted_work_is_not_found(submit, run_on_commit, client_a, shelf):
    shelf.delete("/works/OL1W")

    response = submitted(submit, run_on_commit, [{"open_library_key": "OL1W"}])

    [item] = detail(client_a, response.json()["id"])["books"]
    assert item["status"] == "not_found"


def test_each_library_gets_its_own_copy_of_a_book(
    submit, run_on_commit, client_b, library_a, library_b, shelf
):
    submitted(submit, run_on_commit, [{"isbn": RINGS_ISBN}])
    submitted(submit, run_on_commit, [{"isbn": RINGS_ISBN}], client=client_b, slug="bodleian")

    assert Book.objects.for_tenant(library_a.tenant).count() == 1
    assert Book.objects.for_tenant(library_b.tenant).count() == 1


# --- Failures ----------------------------------------------------------------------------------


def fail_books_api(fake, times: int) -> None:
    for _ in range(times):
        fake.fail_next("/api/books", 503)


def test_open_library_down_leaves_books_pending_and_schedules_a_retry(
    submit, run_on_commit, client_a, shelf, settings
):
    fail_books_api(shelf, settings.OPEN_LIBRARY_MAX_ATTEMPTS)  # every attempt of the client's retries

    response = submitted(submit, run_on_commit, [{"isbn": isbn13(1)}, {"isbn": isbn13(2)}])

    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.status == "resolving"
    assert submission.attempts == 1
    assert "503" in submission.error
    assert (
        timezone.now() + timedelta(seconds=50)
        < submission.next_attempt_at
        < timezone.now() + timedelta(seconds=70)
    )
    body = detail(client_a, submission.pk)
    assert body["status"] == "resolving"
    assert [item["status"] for item in body["books"]] == ["pending", "pending"]

    # Not due yet: the watchdog leaves it alone, and a duplicate task cannot take it early.
    assert services.recover_stalled_submissions() == {"requeued": 0, "gave_up": 0}
    assert services.resolve_submission(submission_id=submission.pk) == "skipped"
    Submission.objects.filter(pk=submission.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.recover_stalled_submissions() == {"requeued": 1, "gave_up": 0}

    body = detail(client_a, submission.pk)
    assert body["status"] == "complete"
    assert [item["status"] for item in body["books"]] == ["resolved", "resolved"]
    submission.refresh_from_db()
    assert submission.error == "" and submission.attempts == 2


def test_backoff_doubles_between_attempts(submit, shelf, settings):
    response = submit([{"isbn": isbn13(1)}])  # not run on commit: the test drives the attempts
    submission_id = response.json()["id"]
    delays = []
    for _ in range(3):
        fail_books_api(shelf, settings.OPEN_LIBRARY_MAX_ATTEMPTS)
        before = timezone.now()
        assert services.resolve_submission(submission_id=submission_id) == "retry"
        due = Submission.objects.get(pk=submission_id).next_attempt_at
        delays.append(round((due - before).total_seconds() / 60))
        # Time passes until it is due again.
        Submission.objects.filter(pk=submission_id).update(next_attempt_at=before)
    assert delays == [1, 2, 4]


def test_after_the_last_attempt_pending_books_end_not_found(submit, client_a, shelf, settings):
    response = submit([{"isbn": isbn13(1)}, {"isbn": RINGS_ISBN}])
    submission_id = response.json()["id"]
    Submission.objects.filter(pk=submission_id).update(attempts=services.MAX_RESOLVE_ATTEMPTS - 1)
    fail_books_api(shelf, settings.OPEN_LIBRARY_MAX_ATTEMPTS)

    assert services.resolve_submission(submission_id=submission_id) == "gave_up"

    submission = Submission.objects.get(pk=submission_id)
    assert submission.status == "complete"
    assert submission.next_attempt_at is None
    assert "Gave up after 8 attempts" in submission.error
    body = detail(client_a, submission_id)
    assert body["status"] == "complete"
    assert [item["status"] for item in body["books"]] == ["not_found", "not_found"]
    assert "could not be asked" in SubmissionItem.objects.filter(submission_id=submission_id).first().error


def test_what_was_decided_before_a_failure_stays_decided(submit, shelf, settings):
    # The Books API answers; the search for the works fails on every attempt.
    for _ in range(settings.OPEN_LIBRARY_MAX_ATTEMPTS):
        shelf.fail_next("/search.json", 500)
    response = submit([{"isbn": isbn13(1)}, {"isbn": isbn13(999_999)}])

    assert services.resolve_submission(submission_id=response.json()["id"]) == "retry"

    statuses = list(SubmissionItem.objects.order_by("position").values_list("status", flat=True))
    assert statuses == ["pending", "not_found"]


def test_a_task_that_was_lost_is_sent_again_by_the_watchdog(submit, client_a, shelf):
    response = submit([{"isbn": isbn13(3)}])  # committed, but its task never ran
    submission_id = response.json()["id"]
    assert services.recover_stalled_submissions() == {"requeued": 0, "gave_up": 0}  # within its grace

    Submission.objects.filter(pk=submission_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.recover_stalled_submissions() == {"requeued": 1, "gave_up": 0}

    assert detail(client_a, submission_id)["status"] == "complete"


def test_a_submission_held_by_a_live_worker_is_not_taken_twice(submit, shelf):
    response = submit([{"isbn": isbn13(3)}])
    submission_id = response.json()["id"]
    now = timezone.now()
    Submission.objects.filter(pk=submission_id).update(
        claimed_at=now, next_attempt_at=now + timedelta(minutes=10)
    )

    assert services.resolve_submission(submission_id=submission_id) == "skipped"
    assert services.recover_stalled_submissions() == {"requeued": 0, "gave_up": 0}
    assert shelf.requests == []


def test_the_submission_of_a_dead_worker_is_resumed(submit, client_a, shelf):
    response = submit([{"isbn": isbn13(3)}])
    submission_id = response.json()["id"]
    # Claimed by a worker that was killed: its lease ran out.
    past = timezone.now() - timedelta(hours=1)
    Submission.objects.filter(pk=submission_id).update(claimed_at=past, next_attempt_at=past, attempts=1)

    assert services.recover_stalled_submissions() == {"requeued": 1, "gave_up": 0}

    submission = Submission.objects.get(pk=submission_id)
    assert submission.status == "complete"
    assert submission.attempts == 2


def test_a_submission_whose_workers_keep_dying_ends(submit, client_a, shelf):
    response = submit([{"isbn": isbn13(3)}, {"isbn": isbn13(4)}])
    submission_id = response.json()["id"]
    past = timezone.now() - timedelta(hours=1)
    Submission.objects.filter(pk=submission_id).update(
        claimed_at=past, next_attempt_at=past, attempts=services.MAX_RESOLVE_ATTEMPTS
    )

    assert services.recover_stalled_submissions() == {"requeued": 0, "gave_up": 1}

    body = detail(client_a, submission_id)
    assert body["status"] == "complete"
    assert [item["status"] for item in body["books"]] == ["not_found", "not_found"]
    assert shelf.requests == []


def test_a_redelivered_task_after_the_attempts_are_used_up_finishes_the_submission(submit, shelf):
    response = submit([{"isbn": isbn13(3)}])
    submission_id = response.json()["id"]
    past = timezone.now() - timedelta(hours=1)
    Submission.objects.filter(pk=submission_id).update(
        claimed_at=past, next_attempt_at=past, attempts=services.MAX_RESOLVE_ATTEMPTS
    )

    assert services.resolve_submission(submission_id=submission_id) == "skipped"

    assert Submission.objects.get(pk=submission_id).status == "complete"
    assert shelf.requests == []


def test_an_unexpected_error_is_retried_later_and_reported_without_details(submit, shelf, monkeypatch):
    response = submit([{"isbn": isbn13(3)}])

    def boom(self, client):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services.Resolver, "run", boom)

    assert services.resolve_submission(submission_id=response.json()["id"]) == "retry"
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.error == "Internal error (RuntimeError); see the server logs."


def test_a_complete_submission_is_not_resolved_again(submit, run_on_commit, shelf):
    response = submitted(submit, run_on_commit, [{"isbn": isbn13(3)}])
    shelf.requests.clear()

    assert services.resolve_submission(submission_id=response.json()["id"]) == "skipped"
    assert shelf.requests == []


def test_the_watchdog_is_declared_with_the_other_schedules(db):
    from django_q.models import Schedule

    from ingestion.schedules import ensure_schedules

    ensure_schedules()

    schedule = Schedule.objects.get(name="recover-stalled-submissions")
    assert schedule.func == "patrons.tasks.recover_stalled_submissions"
    assert schedule.minutes == 1
