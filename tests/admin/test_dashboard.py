"""The admin opens on the dashboard of the librarian's library; several libraries: a picker first."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Book
from ingestion.models import IngestionJob
from olcs.console.dashboard import library_dashboard
from patrons import services as patron_services
from patrons.pii import Personal
from tenants.access import SESSION_KEY, can_pick_library, current_library
from tenants.models import Membership
from tests.conftest import bearer
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


def staff(username: str, *memberships, superuser: bool = False):
    user = UserFactory(username=username, is_staff=True, is_superuser=superuser)
    for tenant, role in memberships:
        MembershipFactory(user=user, tenant=tenant, role=role)
    return user


def backdate(book: Book, *, days: float) -> None:
    moment = timezone.now() - timedelta(days=days)
    Book.objects.filter(pk=book.pk).update(created_at=moment, updated_at=moment)


def submit(tenant, keys: list[str], email: str = "canary.reader@example.org"):
    books = [patron_services.BookRequest(kind="work", input=k, open_library_key=k) for k in keys]
    return patron_services.record_submission(
        tenant=tenant, email=Personal(email), name=Personal("Canary Reader"), books=books
    )


# --- landing and picking ----------------------------------------------------------------------


def test_a_librarian_of_one_library_lands_on_its_dashboard(client, library_a, library_b, make_book):
    make_book(library_a.tenant, "Alpha Book")
    make_book(library_b.tenant, "Bravo Secret")
    client.force_login(staff("ann", (library_a.tenant, Role.LIBRARIAN)))

    html = client.get(reverse("admin:index")).content.decode()

    assert f'id="olcs-dashboard" data-library="{library_a.slug}"' in html
    for element in ("card-catalog-size", "card-books-added", "card-books-changed", "card-jobs"):
        assert f'id="{element}"' in html
    assert 'id="chart-growth"' in html and 'id="chart-ingestion"' in html and 'id="most-requested"' in html
    assert "Bravo" not in html and library_b.slug not in html
    assert 'id="library-switch' not in html  # nothing to switch to


def test_a_librarian_of_several_libraries_picks_one_and_can_switch(client, library_a, library_b):
    third = TenantFactory(name="Carnegie", slug="carnegie")
    client.force_login(staff("bea", (library_a.tenant, Role.LIBRARIAN), (library_b.tenant, Role.ADMIN)))

    picker = client.get(reverse("admin:index")).content.decode()
    assert 'id="olcs-dashboard"' not in picker
    assert f'data-slug="{library_a.slug}"' in picker and f'data-slug="{library_b.slug}"' in picker
    assert third.slug not in picker

    response = client.post(reverse("admin:olcs_choose_library", args=[library_b.slug]))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    html = client.get(reverse("admin:index")).content.decode()
    assert f'data-library="{library_b.slug}"' in html and 'id="library-switch"' in html

    # Another library is not choosable, and a GET does not switch.
    assert client.post(reverse("admin:olcs_choose_library", args=[third.slug])).status_code == 404
    assert client.get(reverse("admin:olcs_choose_library", args=[library_a.slug])).status_code == 405
    assert f'data-library="{library_b.slug}"' in client.get(reverse("admin:index")).content.decode()


def test_a_choice_that_is_no_longer_allowed_falls_back(client, library_a, library_b):
    user = staff("cy", (library_a.tenant, Role.LIBRARIAN), (library_b.tenant, Role.LIBRARIAN))
    client.force_login(user)
    client.post(reverse("admin:olcs_choose_library", args=[library_b.slug]))
    Membership.objects.filter(user=user, tenant=library_b.tenant).delete()

    html = client.get(reverse("admin:index")).content.decode()
    assert f'data-library="{library_a.slug}"' in html and library_b.slug not in html


@pytest.mark.parametrize(
    ("libraries", "chosen", "expected", "can_pick", "queries"),
    [
        (1, None, 0, False, 1),  # the only library
        (1, "gone", 0, False, 1),  # a choice no longer allowed: the only library
        (2, None, None, True, 1),  # to pick
        (2, 1, 1, True, 1),  # chosen, among the first two
        (3, 2, 2, True, 2),  # chosen beyond them: one more query
    ],
)
def test_the_library_worked_in_costs_one_query(
    rf, library_a, library_b, libraries, chosen, expected, can_pick, queries
):
    tenants = [library_a.tenant, library_b.tenant, TenantFactory(name="Zeta", slug="zeta")][:libraries]
    request = rf.get("/admin/")
    request.user = staff("dee", *[(tenant, Role.LIBRARIAN) for tenant in tenants])
    request.session = {SESSION_KEY: tenants[chosen].slug if isinstance(chosen, int) else chosen}

    with CaptureQueriesContext(connection) as captured:
        library = current_library(request)
        assert can_pick_library(request) is can_pick
        assert current_library(request) == library  # kept for the request
    assert library == (None if expected is None else tenants[expected])
    assert len(captured) == queries


def test_a_superuser_picks_among_every_library(client, library_a, library_b):
    client.force_login(staff("root", superuser=True))
    picker = client.get(reverse("admin:index")).content.decode()
    assert f'data-slug="{library_a.slug}"' in picker and f'data-slug="{library_b.slug}"' in picker
    client.post(reverse("admin:olcs_choose_library", args=[library_b.slug]))
    assert f'data-library="{library_b.slug}"' in client.get(reverse("admin:index")).content.decode()


def test_staff_without_a_library_is_told_so(client, library_a):
    client.force_login(staff("nobody"))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert 'id="no-library"' in response.content.decode()


def test_the_dashboard_needs_a_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post(reverse("admin:olcs_choose_library", args=["alexandria"])).status_code == 302


# --- the figures ------------------------------------------------------------------------------


def test_figures_count_this_library_only(library_a, library_b, make_book, revise_book):
    old = make_book(library_a.tenant, "Old Book", key="/works/OL1W")
    backdate(old, days=60)
    revised = make_book(library_a.tenant, "Revised Book", key="/works/OL2W")
    backdate(revised, days=45)
    revise_book(revised, subtitle="Second edition")  # a change today to a 45-day-old book
    month_old = make_book(library_a.tenant, "Month Book", key="/works/OL3W")
    backdate(month_old, days=20)
    make_book(library_a.tenant, "New Book", key="/works/OL4W")
    for n in range(3):
        make_book(library_b.tenant, f"Bravo {n}", key=f"/works/OL9{n}W")
    IngestionJob.objects.create(tenant=library_a.tenant, kind="query", query="a", status="running")
    IngestionJob.objects.create(tenant=library_a.tenant, kind="query", query="b", status="failed")
    IngestionJob.objects.create(
        tenant=library_a.tenant, kind="query", query="c", status="completed", works_created=7, works_updated=2
    )
    IngestionJob.objects.create(tenant=library_b.tenant, kind="query", query="x", status="failed")
    submit(library_a.tenant, ["/works/OL4W", "/works/OL3W"])
    submit(library_a.tenant, ["/works/OL4W"], email="second.reader@example.org")
    submit(library_b.tenant, ["/works/OL90W"])

    board = library_dashboard(tenant=library_a.tenant)

    assert board.catalog_size == 4
    assert board.books_added == {7: 1, 30: 2}
    assert board.books_changed == {7: 1, 30: 1}
    assert board.jobs == {"pending": 0, "running": 1, "failed": 1, "completed": 1}
    assert board.submissions_week == 2
    assert [(b.title, b.request_count, b.patron_count) for b in board.most_requested] == [
        ("New Book", 2, 2),
        ("Month Book", 1, 1),
    ]
    assert board.growth.total == 2 and board.growth.bars[-1].value == 1
    assert board.ingestion.total == 9
    assert board.rate_limits is None  # limiting is off in tests


def test_rate_limit_usage_is_shown(library_a, settings, client):
    settings.RATE_LIMIT_ENABLED = True
    settings.API_RATE_LIMIT_REQUESTS = 50
    api = APIClient()
    api.credentials(**bearer(library_a.raw_key))
    for _ in range(3):
        assert api.get(f"/tenants/{library_a.slug}/books/").status_code == 200

    board = library_dashboard(tenant=library_a.tenant)
    api_usage = board.rate_limits[0]
    assert (api_usage.used, api_usage.limit) == (3, 50)

    client.force_login(staff("dee", (library_a.tenant, Role.LIBRARIAN)))
    html = client.get(reverse("admin:index")).content.decode()
    assert "<strong>3</strong> of 50" in html


def test_the_dashboard_costs_the_same_queries_whatever_the_library_holds(client, library_a, make_book):
    client.force_login(staff("eve", (library_a.tenant, Role.LIBRARIAN)))
    client.get(reverse("admin:index"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    before = queries()
    for n in range(15):
        book = make_book(library_a.tenant, f"Book {n}", key=f"/works/OL{100 + n}W")
        submit(library_a.tenant, [book.open_library_key], email=f"r{n}@example.org")
        IngestionJob.objects.create(tenant=library_a.tenant, kind="query", query=f"q{n}", status="completed")
    assert queries() == before


def test_new_rows_start_in_the_library_worked_in(client, library_a, library_b):
    client.force_login(staff("fay", (library_a.tenant, Role.LIBRARIAN), (library_b.tenant, Role.LIBRARIAN)))
    client.post(reverse("admin:olcs_choose_library", args=[library_b.slug]))
    html = client.get(reverse("admin:ingestion_ingestionjob_add")).content.decode()
    assert re.search(rf'<option value="{library_b.tenant.pk}" selected>', html)
    assert f'<option value="{library_a.tenant.pk}">' in html


def test_the_job_page_offers_retry_only_when_something_failed(client, library_a):
    client.force_login(staff("gus", (library_a.tenant, Role.LIBRARIAN)))
    done = IngestionJob.objects.create(tenant=library_a.tenant, kind="query", query="a", status="completed")
    partly = IngestionJob.objects.create(
        tenant=library_a.tenant, kind="query", query="b", status="completed", failed_items=["/works/OL1W"]
    )
    failed = IngestionJob.objects.create(tenant=library_a.tenant, kind="query", query="c", status="failed")
    offers = {
        job.query: "Retry failed items"
        in client.get(reverse("admin:ingestion_ingestionjob_change", args=[job.pk])).content.decode()
        for job in (done, partly, failed)
    }
    assert offers == {"a": False, "b": True, "c": True}
