"""Isolation in the browser: a librarian of library A never sees library B. B's pages are a 404
(as a missing row is), and B's rows are in none of A's lists, searches, filters or pickers.

Library B's rows all carry the word "Bravo" (titles, queries, the patron's email), so one
substring check per page covers every column.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tenants.models import Membership
from tests.browser.conftest import stock
from tests.conftest import Library
from tests.factories import ApiKeyFactory, MembershipFactory, TenantFactory

Role = Membership.Role


def object_pages(h) -> dict[str, str]:
    """The admin page of each of one library's rows."""
    membership = Membership.objects.filter(tenant=h.tenant).order_by("pk").first()
    return {
        "book": f"/admin/catalog/book/{h.revised.pk}/change/",
        "diff": f"/admin/catalog/book/{h.revised.pk}/diff/?a=1&b=2",
        "job": f"/admin/ingestion/ingestionjob/{h.job.pk}/change/",
        "api key": f"/admin/tenants/apikey/{h.library.key.pk}/change/",
        "membership": f"/admin/tenants/membership/{membership.pk}/change/",
        "patron": f"/admin/patrons/patron/{h.patron.pk}/change/",
        "submission": f"/admin/patrons/submission/{h.submission.pk}/change/",
        "tracked query": f"/admin/ingestion/trackedquery/{h.tracked_query.pk}/change/",
        "library": f"/admin/tenants/tenant/{h.tenant.pk}/change/",
    }


def action_pages(h) -> dict[str, str]:
    return {
        "job cancel": f"/admin/ingestion/ingestionjob/{h.job.pk}/cancel/",
        "job retry": f"/admin/ingestion/ingestionjob/{h.job.pk}/retry/",
        "key revoke": f"/admin/tenants/apikey/{h.library.key.pk}/revoke/",
        "book history": f"/admin/catalog/book/{h.revised.pk}/history/",
        "book delete": f"/admin/catalog/book/{h.revised.pk}/delete/",
    }


LISTS = [
    "/admin/",
    "/admin/catalog/book/",
    "/admin/ingestion/ingestionjob/",
    "/admin/ingestion/trackedquery/",
    "/admin/tenants/apikey/",
    "/admin/tenants/membership/",
    "/admin/tenants/tenant/",
    "/admin/patrons/patron/",
    "/admin/patrons/submission/",
    "/admin/patrons/requestedbook/",
    "/admin/library/",
]

PICKERS = {
    "/admin/ingestion/ingestionjob/add/": "#id_tenant",
    "/admin/ingestion/trackedquery/add/": "#id_tenant",
    "/admin/tenants/apikey/add/": "#id_tenant",
    # Adding members is the platform's (ADR 0024): a library admin has no such page.
}


@pytest.fixture
def ada_and_bea(logged_in, admin_a, admin_b, holdings_a, holdings_b):
    """The library admins of A and B, each in a browser of their own."""
    return logged_in(admin_a), logged_in(admin_b)


def test_another_librarys_pages_are_not_found(ada_and_bea, holdings_a, holdings_b):
    ada, bea = ada_and_bea

    for name, path in object_pages(holdings_b).items():
        assert ada.goto(path).status == 404, name
        assert "Bravo" not in ada.html(), name
        # The control: B's own librarian opens the same page.
        assert bea.goto(path).status == 200, name
    for name, path in object_pages(holdings_a).items():
        assert ada.goto(path).status == 200, name
        assert bea.goto(path).status == 404, name


def test_another_librarys_actions_are_not_found_either(ada_and_bea, holdings_b):
    ada, _ = ada_and_bea

    for name, path in action_pages(holdings_b).items():
        assert ada.page.request.get(ada.url(path)).status == 404, name
    # Not by POST either, from a page of A's with a valid CSRF token.
    ada.goto("/admin/")
    posts = {**action_pages(holdings_b), "library choice": f"/admin/library/{holdings_b.tenant.slug}/"}
    for name, path in posts.items():
        answer = ada.page.request.post(
            ada.url(path),
            form={"csrfmiddlewaretoken": _csrf_token(ada.page), "post": "yes"},
            headers={"Referer": ada.url("/admin/")},
        )
        assert answer.status == 404, name
    holdings_b.job.refresh_from_db()
    holdings_b.library.key.refresh_from_db()
    assert holdings_b.job.status == "pending"
    assert holdings_b.library.key.revoked_at is None


def _csrf_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_another_librarys_rows_are_in_no_list(ada_and_bea, holdings_a, holdings_b):
    ada, bea = ada_and_bea

    for path in LISTS:
        assert ada.goto(path).status == 200, path
        assert "Bravo" not in ada.html(), path
        assert "bodleian" not in ada.html().lower(), path
    # The control: A's rows are there, and B's for B.
    ada.goto("/admin/catalog/book/")
    expect(ada.page.locator("#result_list tbody tr")).to_have_count(3)
    bea.goto("/admin/catalog/book/")
    expect(bea.page.locator("#result_list")).to_contain_text("Bravo")


@pytest.mark.parametrize("libraries", ["one library", "two libraries"])
def test_filtering_on_another_library_shows_nothing_of_it(ada_and_bea, library_b, libraries):
    ada, _ = ada_and_bea
    if libraries == "two libraries":
        # With two libraries the library filter is live (with one, Django drops a filter that
        # has a single choice, and ignores its parameter: the list shows the librarian's own rows).
        carthage = TenantFactory(name="Carthage Reading Room", slug="carthage")
        MembershipFactory(tenant=carthage, user=ada.user, role=Role.ADMIN)
        stock(Library(tenant=carthage, key=ApiKeyFactory(tenant=carthage)), word="Charlie", isbn_base=300)

    for path in (
        "/admin/catalog/book/",
        "/admin/ingestion/ingestionjob/",
        "/admin/tenants/apikey/",
        "/admin/tenants/membership/",
        "/admin/patrons/patron/",
        "/admin/patrons/submission/",
    ):
        ada.goto(f"{path}?tenant__id__exact={library_b.tenant.pk}")
        assert "Bravo" not in ada.html(), path
        assert library_b.tenant.name not in ada.html(), path
        if libraries == "two libraries":
            expect(ada.page.locator("#result_list tbody tr")).to_have_count(0)
    ada.goto(f"/admin/catalog/book/?q=bravo&tenant__id__exact={library_b.tenant.pk}")
    expect(ada.page.locator("#result_list tbody tr")).to_have_count(0)
    # The dashboard's "start an ingestion" link with B's id preselects nothing of B's.
    ada.goto(f"/admin/ingestion/ingestionjob/add/?tenant={library_b.tenant.pk}")
    assert library_b.tenant.name not in ada.html()


def test_another_librarys_rows_are_in_no_search(ada_and_bea, holdings_b):
    ada, _ = ada_and_bea

    for path in (
        "/admin/catalog/book/",
        "/admin/ingestion/ingestionjob/",
        "/admin/ingestion/trackedquery/",
        "/admin/tenants/apikey/",
        "/admin/tenants/membership/",
        "/admin/patrons/requestedbook/",
    ):
        ada.goto(path)
        search = ada.page.locator("#searchbar")
        if search.count() == 0:
            continue
        search.fill("bravo")
        search.press("Enter")
        ada.page.wait_for_load_state()
        assert "Bravo" not in ada.page.locator("#changelist").inner_text(), path
        expect(ada.page.locator("#result_list tbody tr")).to_have_count(0)
    # Searching for B's member by username finds nothing in A's memberships.
    ada.goto("/admin/tenants/membership/?q=bea")
    expect(ada.page.locator("#result_list tbody tr")).to_have_count(0)


def test_the_library_filters_and_pickers_offer_only_the_librarians_libraries(
    ada_and_bea, library_a, library_b
):
    ada, _ = ada_and_bea
    # Ada works for a second library, so that the library filter has something to offer.
    carthage = TenantFactory(name="Carthage Reading Room", slug="carthage")
    MembershipFactory(tenant=carthage, user=ada.user, role=Role.ADMIN)
    stock(Library(tenant=carthage, key=ApiKeyFactory(tenant=carthage)), word="Charlie", isbn_base=300)
    mine = {str(library_a.tenant.pk), str(carthage.pk)}

    for path in (
        "/admin/catalog/book/",
        "/admin/ingestion/ingestionjob/",
        "/admin/ingestion/trackedquery/",
        "/admin/tenants/apikey/",
        "/admin/tenants/membership/",
        "/admin/patrons/patron/",
        "/admin/patrons/submission/",
    ):
        ada.goto(path)
        filters = ada.page.locator("#changelist-filter")
        expect(filters).to_contain_text(library_a.tenant.name)
        expect(filters).to_contain_text(carthage.name)
        assert library_b.tenant.name not in filters.inner_text(), path
    for path, select in PICKERS.items():
        ada.goto(path)
        values = ada.page.locator(f"{select} option").evaluate_all("options => options.map(o => o.value)")
        assert set(values) - {""} == mine, path


def test_a_forged_picker_choice_starts_nothing_in_another_library(ada_and_bea, library_a, library_b):
    from ingestion.models import IngestionJob

    ada, _ = ada_and_bea
    page = ada.page
    ada.goto("/admin/ingestion/ingestionjob/add/")
    # A librarian edits the page: B's id as an option of the library select.
    page.evaluate(
        "value => { const o = new Option('forged', value); document.querySelector('#id_tenant').add(o); o.selected = true; }",
        str(library_b.tenant.pk),
    )
    page.fill("#id_what", "author:Tolkien")
    page.click("input[name=_save]")

    expect(page.locator(".field-tenant .errorlist")).to_contain_text("Select a valid choice")
    assert not IngestionJob.objects.filter(tenant=library_b.tenant, query="author:Tolkien").exists()
