"""Logging in: a librarian lands on their library's dashboard; a librarian of several libraries
(and a superuser) picks one first, and can switch at any time."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import Book
from tests.browser.conftest import PASSWORD, Role, member
from tests.factories import MembershipFactory


def log_in_with_the_form(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_a_librarian_logs_in_and_lands_on_the_dashboard_of_their_library(
    new_page, live_server, library_a, library_b, librarian_a, holdings_a, holdings_b, settings, screenshot
):
    # The revised book came in six weeks ago: it counts as changed this week, not as added.
    Book.objects.filter(pk=holdings_a.revised.pk).update(created_at=timezone.now() - timedelta(days=42))
    settings.RATE_LIMIT_ENABLED = True
    page = new_page()
    for _ in range(2):  # the library's website at work: the rate-limit card counts it
        page.request.get(
            f"{live_server.url}/tenants/{library_a.slug}/books",
            headers={"Authorization": f"Bearer {library_a.raw_key}"},
        )

    log_in_with_the_form(page, live_server.url, "alan")

    assert page.url == live_server.url + "/admin/"
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_a.slug)
    for card in ("catalog-size", "books-added", "books-changed", "jobs", "rate-limits", "submissions"):
        expect(page.locator(f"#card-{card}")).to_be_visible()
    expect(page.locator("#card-catalog-size .figure")).to_have_text("3")
    expect(page.locator("#card-books-added .figure")).to_have_text("2")
    expect(page.locator("#card-books-changed .figure")).to_have_text("1")
    expect(page.locator("#card-jobs")).to_contain_text("1 waiting")
    expect(page.locator("#card-rate-limits")).to_contain_text("of ")
    expect(page.locator("#card-submissions .figure")).to_have_text("1")
    expect(page.locator("table#most-requested tbody tr")).to_have_count(2)
    expect(page.locator("svg#chart-growth")).to_be_visible()
    expect(page.locator("svg#chart-ingestion")).to_be_visible()
    # One library: nothing to pick, and nothing of library B.
    expect(page.locator("#library-switch")).to_have_count(0)
    assert "Bravo" not in page.content()
    assert library_b.slug not in page.content()
    screenshot(page, "dashboard.png")

    # The card's link lists the waiting job.
    page.click("#card-jobs a:has-text('waiting')")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("title:alpha")


def test_a_librarian_of_two_libraries_picks_one_and_switches(new_page, live_server, library_a, library_b):
    carla = member(library_a.tenant, Role.LIBRARIAN, "carla")
    MembershipFactory(tenant=library_b.tenant, user=carla, role=Role.ADMIN)
    page = new_page()

    log_in_with_the_form(page, live_server.url, "carla")

    expect(page.locator("#olcs-dashboard")).to_have_count(0)
    choices = page.locator(".library-choice")
    expect(choices).to_have_count(2)
    assert sorted(choices.evaluate_all("els => els.map(e => e.dataset.slug)")) == sorted(
        [library_a.slug, library_b.slug]
    )
    page.click(f".library-choice[data-slug={library_b.slug}]")
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_b.slug)

    # The choice is kept in the session.
    page.goto(live_server.url + "/admin/")
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_b.slug)

    page.click("#library-switch")
    assert page.url == live_server.url + "/admin/library/"
    page.click(f".library-choice[data-slug={library_a.slug}]")
    expect(page.locator("#olcs-dashboard")).to_have_attribute("data-library", library_a.slug)
