"""Ingestion from the admin, in a browser: start a job from the form, watch it on its page
(which refreshes itself while the job runs), read its log, cancel it, retry what failed.

Jobs started from a page run inline when the request commits (the worker is synchronous in
tests) against the fake Open Library; `no_worker` leaves them pending so that the test runs
them slice by slice, as a worker would.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ingestion import services
from ingestion.models import IngestionJob

Status = IngestionJob.Status
TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")
HOBBIT_ISBN = "9780547928227"
RINGS_ISBN = "9780618640157"
UNKNOWN_ISBN = "9781234567897"  # valid check digit, not on the fake Open Library until a test adds it
ADD = "/admin/ingestion/ingestionjob/add/"
JOBS = "/admin/ingestion/ingestionjob/"


def job_path(job: IngestionJob) -> str:
    return f"{JOBS}{job.pk}/change/"


@pytest.fixture
def catalog(fake_ol):
    fake_ol.add_work(
        "/works/OL27448W",
        "The Lord of the Rings",
        authors=[TOLKIEN],
        isbns=[RINGS_ISBN],
        first_publish_year=1954,
    )
    fake_ol.add_work(
        "/works/OL262758W", "The Hobbit", authors=[TOLKIEN], isbns=[HOBBIT_ISBN], first_publish_year=1937
    )
    fake_ol.add_work("/works/OL27479W", "The Silmarillion", authors=[TOLKIEN], first_publish_year=1977)
    return fake_ol


def start_ingestion(staff, tenant, kind: str, what: str, limit: int = 50) -> None:
    page = staff.page
    staff.goto(ADD)
    page.select_option("#id_tenant", str(tenant.pk))
    page.select_option("#id_kind", kind)
    page.fill("#id_what", what)
    page.fill("#id_limit", str(limit))
    page.click("input[name=_save]")
    page.wait_for_load_state()


def status_of(page):
    return page.locator(".field-status_badge .readonly")


@pytest.mark.parametrize(
    ("kind", "what", "titles"),
    [
        ("query", "author:Tolkien", {"The Lord of the Rings", "The Hobbit", "The Silmarillion"}),
        ("keys", "OL27448W,\n/works/OL262758W", {"The Lord of the Rings", "The Hobbit"}),
        ("isbns", f"978 0 618 64015 7\n{HOBBIT_ISBN}", {"The Lord of the Rings", "The Hobbit"}),
    ],
)
def test_a_librarian_starts_an_ingestion_from_the_form_and_reads_its_log(
    logged_in, library_a, librarian_a, catalog, kind, what, titles
):
    from catalog.models import Book

    alan = logged_in(librarian_a)

    start_ingestion(alan, library_a.tenant, kind, what)

    job = IngestionJob.objects.get()
    assert job.status == Status.COMPLETED, job.error
    page = alan.page
    expect(page.locator("ul.messagelist")).to_contain_text("added successfully")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Completed")
    page.click(f"#result_list a[href$='/{job.pk}/change/']")
    expect(status_of(page)).to_have_text("Completed")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    expect(page.locator(".field-progress")).to_contain_text(f"{len(titles)}/{len(titles)}")
    log = page.locator("#logs-group")
    expect(log).to_contain_text(f"Found {len(titles)} works to ingest.")
    assert set(Book.objects.for_tenant(library_a.tenant).values_list("title", flat=True)) == titles


def test_the_form_explains_a_bad_request(logged_in, library_a, librarian_a, catalog):
    alan = logged_in(librarian_a)

    start_ingestion(alan, library_a.tenant, "isbns", "9780000000000")

    expect(alan.page.locator(".errornote")).to_be_visible()
    expect(alan.page.locator(".field-what .errorlist")).to_contain_text("isbns")
    assert not IngestionJob.objects.exists()


def test_the_job_page_follows_a_running_job_until_it_ends(
    logged_in, library_a, librarian_a, catalog, no_worker, settings, monkeypatch, screenshot
):
    # One work per slice, a fresh slice each time: the job runs in visible steps.
    settings.INGESTION_SLICE_SECONDS = 0
    monkeypatch.setattr(services, "KEY_BATCH", 1)
    alan = logged_in(librarian_a)
    page = alan.page
    start_ingestion(alan, library_a.tenant, "query", "author:Tolkien", limit=10)
    job = IngestionJob.objects.get()
    assert job.status == Status.PENDING

    alan.goto(job_path(job))
    expect(status_of(page)).to_have_text("Pending")
    expect(page.locator("meta[http-equiv=refresh]")).to_have_attribute("content", re.compile(r"^\d+$"))
    expect(page.locator("#content .help").first).to_contain_text("refreshes every")

    # A worker takes the job and ingests one work: the page shows it without a click.
    assert services.run_job(job_id=job.pk) == "continued"
    expect(status_of(page)).to_have_text("Running", timeout=30_000)
    expect(page.locator(".field-progress")).to_contain_text("1/3", timeout=30_000)
    screenshot(page, "job.png")

    while services.run_job(job_id=job.pk) == "continued":
        pass
    expect(status_of(page)).to_have_text("Completed", timeout=30_000)
    expect(page.locator(".field-progress")).to_contain_text("3/3")
    # Finished: the page stops refreshing itself.
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    expect(page.locator("#logs-group")).to_contain_text("Found 3 works to ingest.")


@pytest.mark.parametrize("state", [Status.PENDING, Status.RUNNING])
def test_a_librarian_cancels_a_job_from_its_page(
    logged_in, library_a, librarian_a, catalog, no_worker, state
):
    job = services.create_job(tenant=library_a.tenant, kind=IngestionJob.Kind.QUERY, query="author:Tolkien")
    IngestionJob.objects.filter(pk=job.pk).update(status=state)
    alan = logged_in(librarian_a)
    page = alan.page

    alan.goto(job_path(job))
    page.click("button:has-text('Cancel job')")

    expect(page.locator("ul.messagelist")).to_contain_text("Job cancelled.")
    expect(status_of(page)).to_have_text("Cancelled")
    expect(page.locator("button:has-text('Cancel job')")).to_have_count(0)
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    expect(page.locator("#logs-group")).to_contain_text("Job cancelled.")
    job.refresh_from_db()
    assert job.status == Status.CANCELLED


def test_a_librarian_retries_the_failed_items_of_a_job(logged_in, library_a, librarian_a, catalog):
    alan = logged_in(librarian_a)
    page = alan.page
    start_ingestion(alan, library_a.tenant, "isbns", f"{UNKNOWN_ISBN}")
    failed = IngestionJob.objects.get()
    assert failed.status == Status.FAILED
    assert failed.failed_items == [UNKNOWN_ISBN]
    alan.goto(job_path(failed))
    expect(status_of(page)).to_have_text("Failed")
    expect(page.locator(".field-error")).to_contain_text("failed")
    expect(page.locator("#logs-group")).to_contain_text(UNKNOWN_ISBN)
    # Open Library has the book now.
    catalog.add_work("/works/OL1W", "A Late Arrival", authors=[TOLKIEN], isbns=[UNKNOWN_ISBN])

    page.click("button:has-text('Retry failed items')")

    retry = IngestionJob.objects.exclude(pk=failed.pk).get()
    assert page.url.endswith(job_path(retry))
    expect(page.locator("ul.messagelist")).to_contain_text(f"Retry job {retry.pk} started.")
    expect(status_of(page)).to_have_text("Completed")
    expect(page.locator(".field-retry_of")).to_contain_text(str(failed.pk))
    assert retry.isbns == [UNKNOWN_ISBN]
