"""Librarians in the admin: start ingestions, follow and steer jobs, read books and their versions.

Library A has a library admin (ada) and a plain librarian (alan); library B has a librarian
(bea). Open Library is the fake of tests/fake_openlibrary.py; jobs started from a page run when
the request's transaction commits (`run_on_commit`, the worker is synchronous in tests).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Book
from ingestion import services
from ingestion.models import IngestionJob, IngestionLog, TrackedQuery
from tenants.models import Membership, Tenant
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = IngestionJob.Status
Kind = IngestionJob.Kind

TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")
HOBBIT_ISBN = "9780547928227"
RINGS_ISBN = "9780618640157"
UNKNOWN_ISBN = "9781234567897"  # valid check digit, not on Open Library
AUTO_REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+">')

ADD_URL = reverse("admin:ingestion_ingestionjob_add")
JOBS_URL = reverse("admin:ingestion_ingestionjob_changelist")
BOOKS_URL = reverse("admin:catalog_book_changelist")
TRACKED_URL = reverse("admin:ingestion_trackedquery_changelist")


def member(tenant: Tenant, role: str, username: str):
    # force_login needs no password; hashing one costs most of a test's time.
    user = UserFactory(username=username, password=None)
    MembershipFactory(tenant=tenant, user=user, role=role)
    return user


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


def job_page(job: IngestionJob) -> str:
    return reverse("admin:ingestion_ingestionjob_change", args=[job.pk])


def cancel_url(job: IngestionJob) -> str:
    return reverse("admin:ingestion_job_cancel", args=[job.pk])


def retry_url(job: IngestionJob) -> str:
    return reverse("admin:ingestion_job_retry", args=[job.pk])


def changelist_rows(response) -> list:
    return list(response.context["cl"].result_list)


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def start_form(tenant: Tenant, kind: str, what: str, limit: int | str = 50) -> dict:
    return {"tenant": tenant.pk, "kind": kind, "what": what, "limit": limit}


def action(name: str, *jobs: IngestionJob) -> dict:
    return {"action": name, "index": 0, "_selected_action": [job.pk for job in jobs]}


def ingest(tenant: Tenant, **request) -> IngestionJob:
    """A job run to its end in this process, as the worker would run it."""
    kind = {"query": Kind.QUERY, "open_library_keys": Kind.KEYS, "isbns": Kind.ISBNS}[next(iter(request))]
    job = services.create_job(tenant=tenant, kind=kind, **request)
    while services.run_job(job_id=job.pk) == "continued":
        pass
    job.refresh_from_db()
    return job


def pending_job(tenant: Tenant, query: str = "author:Tolkien") -> IngestionJob:
    return services.create_job(tenant=tenant, kind=Kind.QUERY, query=query)


def running_job(tenant: Tenant) -> IngestionJob:
    job = pending_job(tenant)
    IngestionJob.objects.filter(pk=job.pk).update(status=Status.RUNNING)
    job.refresh_from_db()
    return job


def failed_job(tenant: Tenant, failed_items: list[str]) -> IngestionJob:
    job = services.create_job(tenant=tenant, kind=Kind.ISBNS, isbns=failed_items)
    IngestionJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, works_failed=len(failed_items), failed_items=failed_items
    )
    job.refresh_from_db()
    return job


@pytest.fixture
def catalog(fake_ol):
    fake_ol.add_work(
        "/works/OL27448W",
        "The Lord of the Rings",
        authors=[TOLKIEN],
        description="One ring to rule them all.",
        isbns=[RINGS_ISBN],
        first_publish_year=1954,
    )
    fake_ol.add_work(
        "/works/OL262758W",
        "The Hobbit",
        authors=[TOLKIEN],
        description="There and back again.",
        isbns=[HOBBIT_ISBN],
        first_publish_year=1937,
    )
    return fake_ol


@pytest.fixture
def admin_a(library_a):
    """Library admin of library A."""
    return member(library_a.tenant, Membership.Role.ADMIN, "ada")


@pytest.fixture
def librarian_a(library_a):
    """Plain librarian of library A."""
    return member(library_a.tenant, Membership.Role.LIBRARIAN, "alan")


@pytest.fixture
def librarian_b(library_b):
    return member(library_b.tenant, Membership.Role.LIBRARIAN, "bea")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", password=None, is_superuser=True)


# --- starting an ingestion from the add form ----------------------------------------------------


@pytest.mark.parametrize("user_fixture", ["admin_a", "librarian_a"])
def test_a_librarian_starts_a_query_ingestion_that_runs_to_completion(
    client, request, library_a, catalog, run_on_commit, user_fixture
):
    login(client, request.getfixturevalue(user_fixture))

    response, _ = run_on_commit(
        lambda: client.post(ADD_URL, start_form(library_a.tenant, "query", "author:Tolkien", 10))
    )

    assert response.status_code == 302
    job = IngestionJob.objects.get()
    assert (job.tenant, job.kind, job.query, job.limit) == (
        library_a.tenant,
        Kind.QUERY,
        "author:Tolkien",
        10,
    )
    assert job.status == Status.COMPLETED, job.error
    assert job.works_created == 2
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("title", flat=True)) == {
        "The Lord of the Rings",
        "The Hobbit",
    }
    assert TrackedQuery.objects.filter(tenant=library_a.tenant, query="author:Tolkien").exists()


def test_keys_may_be_given_one_per_line_and_comma_separated(
    client, library_a, librarian_a, catalog, run_on_commit
):
    login(client, librarian_a)

    run_on_commit(
        lambda: client.post(
            ADD_URL, start_form(library_a.tenant, "keys", "OL27448W,\r\n/works/OL262758W\r\n")
        )
    )

    job = IngestionJob.objects.get()
    assert job.kind == Kind.KEYS
    assert job.open_library_keys == ["/works/OL27448W", "/works/OL262758W"]
    assert job.status == Status.COMPLETED, job.error
    assert Book.objects.for_tenant(library_a.tenant).count() == 2


def test_isbns_are_normalised_and_ingested(client, library_a, librarian_a, catalog, run_on_commit):
    login(client, librarian_a)

    run_on_commit(
        lambda: client.post(ADD_URL, start_form(library_a.tenant, "isbns", "978-0-618-64015-7, 054792822x"))
    )

    job = IngestionJob.objects.get()
    assert job.kind == Kind.ISBNS
    assert job.isbns == [RINGS_ISBN, HOBBIT_ISBN]
    assert job.status == Status.COMPLETED, job.error
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("title", flat=True)) == {
        "The Lord of the Rings",
        "The Hobbit",
    }


def test_isbns_written_with_spaces_stay_whole(client, library_a, librarian_a, catalog, run_on_commit):
    login(client, librarian_a)

    run_on_commit(
        lambda: client.post(
            ADD_URL, start_form(library_a.tenant, "isbns", "978 0 618 64015 7\r\n0 547 92822 X")
        )
    )

    job = IngestionJob.objects.get()
    assert job.isbns == [RINGS_ISBN, HOBBIT_ISBN]
    assert job.status == Status.COMPLETED, job.error


@pytest.mark.parametrize(
    ("kind", "what", "limit", "field", "message"),
    [
        ("isbns", "9780618640158", 50, "what", "isbns.0"),  # wrong check digit
        ("isbns", f"{RINGS_ISBN}\nnot-an-isbn", 50, "what", "isbns.1"),
        ("query", "author:", 50, "what", "needs something to search for"),
        ("query", "   ", 50, "what", "This field is required."),
        ("keys", " , ", 50, "what", "open_library_keys"),
        ("keys", "OL1A", 50, "what", "Only work and edition keys"),
        ("query", "author:Tolkien", 0, "limit", "greater than or equal to 1"),
    ],
)
def test_invalid_requests_re_render_the_form_and_create_nothing(
    client, library_a, librarian_a, fake_ol, run_on_commit, kind, what, limit, field, message
):
    login(client, librarian_a)

    response, callbacks = run_on_commit(
        lambda: client.post(ADD_URL, start_form(library_a.tenant, kind, what, limit))
    )

    assert response.status_code == 200
    assert message in " ".join(form_errors(response)[field])
    assert message in response.content.decode()
    assert not IngestionJob.objects.exists()
    assert not TrackedQuery.objects.exists()
    assert callbacks == []
    assert fake_ol.requests == []


def test_the_library_picker_offers_only_the_users_libraries(client, library_a, library_b, librarian_a):
    login(client, librarian_a)

    response = client.get(ADD_URL)

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields["tenant"].queryset) == [library_a.tenant]
    page = response.content.decode()
    assert library_a.tenant.name in page
    assert library_b.tenant.name not in page


def test_a_superuser_may_start_an_ingestion_for_any_library(
    client, library_a, library_b, superuser, catalog, run_on_commit
):
    login(client, superuser)

    picker = client.get(ADD_URL).context["adminform"].form.fields["tenant"].queryset
    run_on_commit(lambda: client.post(ADD_URL, start_form(library_b.tenant, "query", "title:hobbit")))

    assert set(picker) == {library_a.tenant, library_b.tenant}
    job = IngestionJob.objects.get()
    assert job.tenant == library_b.tenant
    assert job.status == Status.COMPLETED, job.error
    assert list(Book.objects.values_list("tenant__slug", "title")) == [("bodleian", "The Hobbit")]


def test_posting_another_librarys_id_is_rejected_and_creates_nothing(
    client, library_a, library_b, librarian_a, fake_ol, run_on_commit
):
    login(client, librarian_a)

    response, callbacks = run_on_commit(
        lambda: client.post(ADD_URL, start_form(library_b.tenant, "query", "author:Tolkien"))
    )

    assert response.status_code == 200
    assert "Select a valid choice" in " ".join(form_errors(response)["tenant"])
    assert not IngestionJob.objects.exists()
    assert not TrackedQuery.objects.exists()
    assert callbacks == []


# --- the job page: progress, log, auto-refresh, cancel and retry ------------------------------------


def test_the_job_page_shows_progress_and_the_log_of_a_finished_job(client, library_a, librarian_a, catalog):
    job = ingest(library_a.tenant, isbns=[RINGS_ISBN, UNKNOWN_ISBN])
    login(client, librarian_a)

    response = client.get(job_page(job))

    assert response.status_code == 200
    page = response.content.decode()
    assert (job.status, job.works_found, job.works_created, job.works_failed) == (Status.COMPLETED, 1, 1, 1)
    assert "2/2 · 1 new · 0 changed · 0 same · 1 failed" in page
    assert "Log (newest first)" in page
    for entry in IngestionLog.objects.filter(job=job):
        assert entry.message in page
    assert f"ISBN {UNKNOWN_ISBN} not found on Open Library." in page
    assert "Completed: 1 found, 1 created" in page
    assert not AUTO_REFRESH.search(page)
    assert "Cancel job" not in page
    assert retry_url(job) in page


@pytest.mark.parametrize("make_job", [pending_job, running_job])
def test_an_unfinished_job_page_refreshes_itself_and_offers_cancel(client, library_a, librarian_a, make_job):
    job = make_job(library_a.tenant)
    login(client, librarian_a)

    page = client.get(job_page(job)).content.decode()

    assert AUTO_REFRESH.search(page)
    assert f"This job is {job.status}" in page
    assert cancel_url(job) in page and "Cancel job" in page
    assert retry_url(job) not in page
    assert "Job created (Search query)." in page


def test_cancel_button_cancels_a_running_job(client, library_a, librarian_a):
    job = running_job(library_a.tenant)
    login(client, librarian_a)

    response = client.post(cancel_url(job), follow=True)

    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert job.finished_at is not None
    assert response.redirect_chain[-1][0] == job_page(job)
    page = response.content.decode()
    assert "Job cancelled." in page
    assert not AUTO_REFRESH.search(page)


def test_cancelling_a_finished_job_changes_nothing(client, library_a, librarian_a):
    job = failed_job(library_a.tenant, [UNKNOWN_ISBN])
    login(client, librarian_a)

    response = client.post(cancel_url(job), follow=True)

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "The job is failed; it cannot be cancelled." in response.content.decode()


def test_retry_button_starts_a_job_for_the_failed_items(
    client, library_a, librarian_a, catalog, run_on_commit
):
    first = ingest(library_a.tenant, isbns=[RINGS_ISBN, UNKNOWN_ISBN])
    assert first.failed_items == [UNKNOWN_ISBN]
    catalog.add_work("/works/OL45883W", "Fantastic Mr Fox", isbns=[UNKNOWN_ISBN])  # now it exists
    login(client, librarian_a)

    response, _ = run_on_commit(lambda: client.post(retry_url(first)))

    retry = IngestionJob.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302
    assert response["Location"] == job_page(retry)
    assert (retry.tenant, retry.kind, retry.isbns, retry.retry_of) == (
        library_a.tenant,
        Kind.ISBNS,
        [UNKNOWN_ISBN],
        first,
    )
    assert retry.status == Status.COMPLETED, retry.error
    assert Book.objects.for_tenant(library_a.tenant).filter(title="Fantastic Mr Fox").exists()
    first.refresh_from_db()
    assert first.status == Status.COMPLETED


def test_retrying_a_job_with_nothing_failed_starts_nothing(client, library_a, librarian_a, catalog):
    job = ingest(library_a.tenant, isbns=[RINGS_ISBN])
    login(client, librarian_a)

    response = client.post(retry_url(job), follow=True)

    assert IngestionJob.objects.count() == 1
    assert "Nothing failed in this job." in response.content.decode()


def test_a_get_to_cancel_or_retry_does_nothing(client, library_a, librarian_a):
    running = running_job(library_a.tenant)
    failed = failed_job(library_a.tenant, [UNKNOWN_ISBN])
    login(client, librarian_a)

    cancel = client.get(cancel_url(running))
    retry = client.get(retry_url(failed))

    assert (cancel.status_code, cancel["Location"]) == (302, job_page(running))
    assert (retry.status_code, retry["Location"]) == (302, job_page(failed))
    running.refresh_from_db()
    assert running.status == Status.RUNNING
    assert IngestionJob.objects.count() == 2


def test_another_librarys_job_page_and_buttons_are_not_found(client, library_a, library_b, librarian_b):
    running = running_job(library_a.tenant)
    failed = failed_job(library_a.tenant, [UNKNOWN_ISBN])
    login(client, librarian_b)

    responses = [
        client.get(job_page(running)),
        client.post(cancel_url(running)),
        client.post(retry_url(failed)),
        client.get(cancel_url(running)),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404, 404]
    running.refresh_from_db()
    assert running.status == Status.RUNNING
    assert IngestionJob.objects.count() == 2
    assert not IngestionJob.objects.for_tenant(library_b.tenant).exists()


def test_a_superuser_sees_every_librarys_job_page(client, library_a, superuser):
    job = running_job(library_a.tenant)
    login(client, superuser)

    page = client.get(job_page(job)).content.decode()

    assert cancel_url(job) in page


# --- the job list and its actions ---------------------------------------------------------------


def test_the_job_list_shows_only_the_librarys_own_jobs(client, library_a, library_b, librarian_a, superuser):
    own = pending_job(library_a.tenant, "title:own")
    other = pending_job(library_b.tenant, "title:other")
    login(client, librarian_a)

    response = client.get(JOBS_URL)

    assert changelist_rows(response) == [own]
    page = response.content.decode()
    assert "title:own" in page and "title:other" not in page
    crafted = client.get(JOBS_URL, {"tenant__id__exact": library_b.tenant.pk})
    assert other not in changelist_rows(crafted)
    assert set(changelist_rows(login(Client(), superuser).get(JOBS_URL))) == {own, other}


def test_cancel_selected_never_touches_another_librarys_job(client, library_a, library_b, librarian_a):
    own = running_job(library_a.tenant)
    other = running_job(library_b.tenant)
    login(client, librarian_a)

    response = client.post(JOBS_URL, action("cancel_selected", own, other), follow=True)

    own.refresh_from_db()
    other.refresh_from_db()
    assert own.status == Status.CANCELLED
    assert other.status == Status.RUNNING
    assert "1 job(s) cancelled." in response.content.decode()


def test_retry_selected_never_touches_another_librarys_job(client, library_a, library_b, librarian_a):
    own = failed_job(library_a.tenant, [UNKNOWN_ISBN])
    other = failed_job(library_b.tenant, [HOBBIT_ISBN])
    login(client, librarian_a)

    response = client.post(JOBS_URL, action("retry_selected", own, other), follow=True)

    retries = IngestionJob.objects.filter(retry_of__isnull=False)
    assert [(job.tenant, job.retry_of, job.isbns) for job in retries] == [
        (library_a.tenant, own, [UNKNOWN_ISBN])
    ]
    assert "1 retry job(s) started." in response.content.decode()


def test_the_job_list_costs_the_same_queries_for_3_or_30_jobs(
    client, library_a, librarian_a, django_assert_max_num_queries
):
    login(client, librarian_a)
    for n in range(3):
        pending_job(library_a.tenant, f"title:book {n}")
    client.get(JOBS_URL)  # warm the session and content type caches
    with CaptureQueriesContext(connection) as three:
        assert len(changelist_rows(client.get(JOBS_URL))) == 3
    for n in range(3, 30):
        pending_job(library_a.tenant, f"title:book {n}")

    with django_assert_max_num_queries(len(three)):
        assert len(changelist_rows(client.get(JOBS_URL))) == 30


# --- books and their versions ---------------------------------------------------------------------


def test_the_book_page_shows_every_version_with_its_changed_fields(client, library_a, librarian_a, catalog):
    ingest(library_a.tenant, open_library_keys=["/works/OL262758W"])
    hobbit = catalog.works["/works/OL262758W"]
    hobbit.description = "There and back again, revised."
    hobbit.last_modified += 1
    ingest(library_a.tenant, open_library_keys=["/works/OL262758W"])
    book = Book.objects.get(tenant=library_a.tenant)
    assert book.current_version == 2
    login(client, librarian_a)

    response = client.get(reverse("admin:catalog_book_change", args=[book.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Versions (newest first)" in page
    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.opts.model.__name__ == "BookVersion"
    )
    versions = [(form.original.version, form.original.changed_fields) for form in inline]
    assert [number for number, _ in versions] == [2, 1]
    assert versions[0] == (2, ["description"])
    rows = re.findall(r'<td class="field-changed">\s*<p>([^<]*)</p>', page)
    assert rows[0] == "description"
    assert "title" in rows[1] and "description" in rows[1]
    assert "There and back again, revised." in page


def test_another_librarys_book_is_not_found(client, library_a, library_b, librarian_b, catalog):
    ingest(library_a.tenant, open_library_keys=["/works/OL262758W"])
    book = Book.objects.get()
    login(client, librarian_b)

    for view in ("change", "history", "delete"):
        assert client.get(reverse(f"admin:catalog_book_{view}", args=[book.pk])).status_code == 404


def test_librarians_can_neither_add_nor_edit_books(client, library_a, admin_a, catalog):
    ingest(library_a.tenant, open_library_keys=["/works/OL262758W"])
    book = Book.objects.get()
    login(client, admin_a)

    add_page = client.get(reverse("admin:catalog_book_add"))
    change_url = reverse("admin:catalog_book_change", args=[book.pk])
    page = client.get(change_url).content.decode()
    edit = client.post(change_url, {"title": "Vandalised", "tenant": library_a.tenant.pk})

    assert add_page.status_code == 403
    assert 'name="_save"' not in page
    assert 'name="title"' not in page
    assert edit.status_code == 403
    book.refresh_from_db()
    assert book.title == "The Hobbit"
    assert reverse("admin:catalog_book_add") not in client.get(BOOKS_URL).content.decode()


def test_book_search_by_title_finds_only_the_librarys_books(
    client, library_a, library_b, librarian_a, catalog
):
    ingest(library_a.tenant, query="author:Tolkien")
    ingest(library_b.tenant, query="author:Tolkien")
    login(client, librarian_a)

    found = changelist_rows(client.get(BOOKS_URL, {"q": "hobbit"}))
    everything = changelist_rows(client.get(BOOKS_URL))

    assert [(book.tenant, book.title) for book in found] == [(library_a.tenant, "The Hobbit")]
    assert {book.tenant for book in everything} == {library_a.tenant}
    assert len(everything) == 2


# --- tracked queries -------------------------------------------------------------------------------


def test_tracked_queries_are_scoped_to_the_library(client, library_a, library_b, librarian_a):
    own = TrackedQuery.objects.create(tenant=library_a.tenant, query="subject:own")
    other = TrackedQuery.objects.create(tenant=library_b.tenant, query="subject:other")
    login(client, librarian_a)

    listed = client.get(TRACKED_URL)
    other_page = client.get(reverse("admin:ingestion_trackedquery_change", args=[other.pk]))
    other_edit = client.post(
        reverse("admin:ingestion_trackedquery_change", args=[other.pk]), {"query": "mine now", "limit": 1}
    )
    picker = client.get(reverse("admin:ingestion_trackedquery_add")).context["adminform"].form
    smuggled = client.post(
        reverse("admin:ingestion_trackedquery_add"),
        {"tenant": library_b.tenant.pk, "query": "subject:smuggled", "limit": 5},
    )
    added = client.post(
        reverse("admin:ingestion_trackedquery_add"),
        {"tenant": library_a.tenant.pk, "query": "subject:added", "limit": 5},
    )

    assert changelist_rows(listed) == [own]
    assert "subject:other" not in listed.content.decode()
    assert other_page.status_code == other_edit.status_code == 404
    other.refresh_from_db()
    assert other.query == "subject:other"
    assert list(picker.fields["tenant"].queryset) == [library_a.tenant]
    assert smuggled.status_code == 200
    assert not TrackedQuery.objects.filter(query="subject:smuggled").exists()
    assert added.status_code == 302
    assert TrackedQuery.objects.get(query="subject:added").tenant == library_a.tenant


@pytest.mark.parametrize(
    ("query", "limit", "field", "message"),
    [
        ("author:", 50, "query", "needs something to search for"),
        ("subject:fantasy", 0, "limit", "greater than or equal to 1"),
        ("subject:fantasy", 5000, "limit", "less than or equal to 1000"),
    ],
)
def test_tracked_queries_obey_the_rules_of_an_ingestion_query(
    client, library_a, librarian_a, query, limit, field, message
):
    tracked = TrackedQuery.objects.create(tenant=library_a.tenant, query="subject:dragons", limit=10)
    login(client, librarian_a)

    added = client.post(
        reverse("admin:ingestion_trackedquery_add"),
        {"tenant": library_a.tenant.pk, "query": query, "limit": limit},
    )
    changed = client.post(
        reverse("admin:ingestion_trackedquery_change", args=[tracked.pk]), {"query": query, "limit": limit}
    )

    for response in (added, changed):
        assert response.status_code == 200
        assert message in " ".join(form_errors(response)[field])
    assert list(TrackedQuery.objects.values_list("query", "limit")) == [("subject:dragons", 10)]


def test_a_librarian_changes_the_limit_of_a_tracked_query(client, library_a, librarian_a):
    tracked = TrackedQuery.objects.create(tenant=library_a.tenant, query="subject:dragons", limit=10)
    login(client, librarian_a)

    response = client.post(
        reverse("admin:ingestion_trackedquery_change", args=[tracked.pk]),
        {"query": "subject:dragons", "limit": 200},
    )

    assert response.status_code == 302
    tracked.refresh_from_db()
    assert (tracked.tenant, tracked.query, tracked.limit) == (library_a.tenant, "subject:dragons", 200)
