"""Books in a browser: find them with the admin's search box (the API's search), open one, read
its versions, compare two side by side, and see which patrons asked for it (masked emails only)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Role, member
from tests.factories import MembershipFactory

BOOKS = "/admin/catalog/book/"


def book_page(book) -> str:
    return f"{BOOKS}{book.pk}/change/"


def search(staff, words: str) -> list[str]:
    """Type `words` in the book list's search box; returns the titles found, in order."""
    staff.goto(BOOKS)
    staff.page.fill("#searchbar", words)
    staff.page.press("#searchbar", "Enter")
    staff.page.wait_for_load_state()
    return staff.page.locator("#result_list tbody th.field-title").all_inner_texts()


def test_a_librarian_finds_books_with_the_search_box(logged_in, admin_a, holdings_a, holdings_b):
    ada = logged_in(admin_a)

    assert search(ada, "atlas") == ["The Alpha Atlas"]
    assert search(ada, "atl") == ["The Alpha Atlas"]  # a prefix, as in the API
    # Authors and ISBNs are searched too; the best match comes first.
    assert set(search(ada, "alpha author")) == {"The Alpha Atlas", "Songs of Alpha", "Alpha Rising, Revised"}
    isbn = holdings_a.books[2].isbns[0]
    assert search(ada, isbn) == ["Songs of Alpha"]
    # Library B's books are never found from library A.
    assert search(ada, "bravo") == []
    expect(ada.page.locator("#changelist")).to_contain_text("0 results")
    assert search(ada, holdings_b.books[1].isbns[0]) == []


def test_a_librarian_compares_two_versions_of_a_book_side_by_side(logged_in, admin_a, holdings_a, screenshot):
    book = holdings_a.revised
    ada = logged_in(admin_a)
    page = ada.page
    ada.goto(BOOKS)
    page.click("#result_list a:has-text('Alpha Rising, Revised')")
    assert page.url.endswith(book_page(book))
    versions = page.locator("#versions-group tbody tr.has_original, #versions-group tbody tr.form-row")
    expect(versions).to_have_count(2)

    form = page.locator("#compare-versions")
    expect(form.locator("select[name=a]")).to_have_value("1")
    expect(form.locator("select[name=b]")).to_have_value("2")
    form.locator("button[type=submit]").click()

    assert page.url.endswith(f"{BOOKS}{book.pk}/diff/?a=1&b=2")
    diff = page.locator("table#version-diff")
    expect(diff.locator("tr[data-field=title] td.old")).to_have_text("Alpha Rising")
    expect(diff.locator("tr[data-field=title] td.new")).to_have_text("Alpha Rising, Revised")
    expect(diff.locator("tr[data-field=description] td.old")).to_have_text("A book about alpha things.")
    expect(diff.locator("tr[data-field=description] td.new")).to_have_text(
        "A new edition about alpha things."
    )
    expect(diff.locator("tr[data-field=subjects] td.new li.added")).to_have_text("Fiction")
    expect(diff.locator("tr[data-field=subjects] td.old")).to_have_text("empty")
    # Only what changed has a row.
    fields = diff.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.field)")
    assert sorted(fields) == ["description", "subjects", "title"]
    # Side by side: old on the left, new on the right, on one line.
    old_box = diff.locator("tr[data-field=title] td.old").bounding_box()
    new_box = diff.locator("tr[data-field=title] td.new").bounding_box()
    assert old_box["x"] < new_box["x"] and abs(old_box["y"] - new_box["y"]) < 2
    screenshot(page, "diff.png")

    # Backwards works as well, and a version with itself has nothing to show.
    page.select_option("#pick-versions select[name=a]", "2")
    page.select_option("#pick-versions select[name=b]", "1")
    page.click("#pick-versions button[type=submit]")
    expect(diff.locator("tr[data-field=title] td.new")).to_have_text("Alpha Rising")
    ada.goto(f"{BOOKS}{book.pk}/diff/?a=2&b=2")
    expect(page.locator("#no-changes")).to_be_visible()
    assert ada.goto(f"{BOOKS}{book.pk}/diff/?a=1&b=9").status == 404
    assert ada.goto(f"{BOOKS}{book.pk}/diff/?a=x&b=1").status == 404


def test_the_version_list_links_each_version_to_its_changes(logged_in, admin_a, holdings_a):
    ada = logged_in(admin_a)
    page = ada.page

    ada.goto(book_page(holdings_a.revised))
    page.click("#versions-group a:has-text('compare with version 1')")

    expect(page.locator("table#version-diff tr[data-field=title] td.new")).to_have_text(
        "Alpha Rising, Revised"
    )


def test_a_book_page_shows_who_asked_for_it_by_masked_email_only(
    logged_in, librarian_a, holdings_a, holdings_b
):
    alan = logged_in(librarian_a)
    page = alan.page
    asked, not_asked = holdings_a.books[0], holdings_a.books[2]

    alan.goto(book_page(asked))

    requests = page.locator("#book-requests")
    expect(requests.locator("tbody tr")).to_have_count(1)
    expect(requests.locator("td.patron")).to_have_text("a***@example.org")
    expect(requests).to_contain_text(f"Submission {holdings_a.submission.pk}")
    # No page on the way shows the address itself, nor any of library B's.
    for path in (
        book_page(asked),
        f"/admin/patrons/submission/{holdings_a.submission.pk}/change/",
        f"/admin/patrons/patron/{holdings_a.patron.pk}/change/",
        "/admin/patrons/patron/",
        "/admin/patrons/submission/",
        "/admin/",
    ):
        alan.goto(path)
        html = page.content()
        assert holdings_a.email not in html, path
        assert "alpha.reader" not in html, path
        assert holdings_b.email not in html, path
    alan.goto(book_page(asked))
    requests.locator("a:has-text('Submission')").click()
    expect(page.locator(".field-patron_link")).to_contain_text("a***@example.org")

    alan.goto(book_page(not_asked))
    expect(page.locator("#book-requests")).to_contain_text("No patron has asked for this book.")


def test_the_dashboard_lists_the_most_requested_books(logged_in, librarian_a, holdings_a, holdings_b):
    alan = logged_in(librarian_a)
    page = alan.page

    alan.goto("/admin/")

    rows = page.locator("table#most-requested tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table#most-requested")).to_contain_text("Alpha Rising, Revised")
    expect(page.locator("table#most-requested")).to_contain_text("The Alpha Atlas")
    assert "Bravo" not in page.content()
    page.click("table#most-requested a:has-text('The Alpha Atlas')")
    assert page.url.endswith(book_page(holdings_a.books[1]))


def test_a_librarian_of_two_libraries_searches_the_library_they_work_in(
    logged_in, library_a, library_b, holdings_a, holdings_b
):
    carla = member(library_a.tenant, Role.LIBRARIAN, "carla")
    MembershipFactory(tenant=library_b.tenant, user=carla, role=Role.LIBRARIAN)
    staff = logged_in(carla)
    page = staff.page
    staff.goto("/admin/")
    page.click(f"button.library-choice[data-slug={library_a.slug}]")

    assert search(staff, "atlas") == ["The Alpha Atlas"]
    # The library filter chooses where the box searches.
    staff.goto(f"{BOOKS}?tenant__id__exact={library_b.tenant.pk}&q=atlas")
    assert page.locator("#result_list tbody th.field-title").all_inner_texts() == ["The Bravo Atlas"]
    staff.goto("/admin/library/")
    page.click(f"button.library-choice[data-slug={library_b.slug}]")
    assert search(staff, "atlas") == ["The Bravo Atlas"]


def test_what_open_library_sends_is_shown_as_text_never_run(logged_in, admin_a, library_a, holdings_a):
    from catalog.services import upsert_book
    from patrons.pii import Personal
    from patrons.services import BookRequest, record_submission

    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    book = holdings_a.books[1]
    upsert_book(
        tenant=library_a.tenant,
        open_library_key=book.open_library_key,
        content={**book.content(), "title": f"Atlas {payload}", "subjects": [payload]},
    )
    record_submission(
        tenant=library_a.tenant,
        email=Personal("x@example.org"),
        name=Personal("X"),
        books=[BookRequest(kind="work", input=payload[:40], open_library_key=book.open_library_key)],
    )
    ada = logged_in(admin_a)
    page = ada.page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    for path in (
        "/admin/",
        BOOKS,
        f"{BOOKS}?q=atlas",
        book_page(book),
        f"{BOOKS}{book.pk}/diff/?a=1&b=2",
        "/admin/patrons/requestedbook/",
    ):
        ada.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None, path
        assert dialogs == [], path
    ada.goto(f"{BOOKS}{book.pk}/diff/?a=1&b=2")
    expect(page.locator("tr[data-field=title] td.new")).to_have_text(f"Atlas {payload}")
