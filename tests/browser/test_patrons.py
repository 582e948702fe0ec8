"""Patrons in a browser: a librarian finds a patron by the email a person gives (for an erasure
request) and erases them; no page ever shows the address, and another library's patrons are
never found."""

from __future__ import annotations

from playwright.sync_api import expect

from patrons.models import Patron, Submission

FIND = "/admin/patrons/patron/find/"


def find_patron(staff, email: str) -> None:
    staff.goto(FIND)
    staff.page.fill("input[name=email]", email)
    staff.page.click("input[type=submit][value=Find]")
    staff.page.wait_for_load_state()


def test_a_librarian_finds_a_patron_by_email_and_erases_them(logged_in, admin_a, holdings_a):
    ada = logged_in(admin_a)
    page = ada.page

    find_patron(ada, holdings_a.email.upper())  # as a person types it

    assert page.url.endswith(f"/admin/patrons/patron/{holdings_a.patron.pk}/change/")
    expect(page.locator(".field-email_masked .readonly")).to_have_text("a***@example.org")
    assert holdings_a.email not in page.content()
    page.go_back()  # the form page comes back empty: the address is not kept anywhere
    assert holdings_a.email not in page.content().lower()

    ada.goto("/admin/patrons/patron/")
    page.check(f"input[name=_selected_action][value='{holdings_a.patron.pk}']")
    page.select_option("select[name=action]", "erase_selected")
    page.click("button[name=index]")

    expect(page.locator("ul.messagelist")).to_contain_text("Erased 1 patron.")
    assert not Patron.objects.filter(pk=holdings_a.patron.pk).exists()
    # The submission stays, anonymised; the book page says so.
    assert Submission.objects.get(pk=holdings_a.submission.pk).patron_id is None
    ada.goto(f"/admin/catalog/book/{holdings_a.books[0].pk}/change/")
    expect(page.locator("#book-requests td.patron")).to_have_text("erased")


def test_another_librarys_patron_is_not_found_by_email(logged_in, admin_a, holdings_a, holdings_b):
    ada = logged_in(admin_a)
    page = ada.page

    find_patron(ada, holdings_b.email)

    assert page.url.endswith(FIND)
    expect(page.locator("ul.messagelist")).to_contain_text("No patron of your libraries has this email.")
    assert holdings_b.email not in page.content()
    assert "Bravo" not in page.content()
