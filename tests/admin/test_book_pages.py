"""A librarian finds books with the API's search, compares versions side by side and sees who asked."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.search import search_book_ids
from patrons import services as patron_services
from patrons.pii import Personal
from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def ann(client, library_a):
    user = UserFactory(username="ann", is_staff=True)
    MembershipFactory(user=user, tenant=library_a.tenant, role=Role.LIBRARIAN)
    client.force_login(user)
    return user


def listed_titles(html: str) -> list[str]:
    return re.findall(r'<th class="field-title"><a href="[^"]+">([^<]+)</a>', html)


def test_search_box_ranks_like_the_api(client, ann, library_a, library_b, make_book):
    make_book(library_a.tenant, "Gardening for beginners", subjects=["Dragons"])
    make_book(library_a.tenant, "Dragon riders of Pern")
    make_book(
        library_a.tenant,
        "Cooking",
        authors=[{"name": "Dragoslav Dragon", "open_library_key": "/authors/OL7A"}],
    )
    make_book(library_a.tenant, "Nothing relevant")
    make_book(library_b.tenant, "Dragon of the other library")

    html = client.get(reverse("admin:catalog_book_changelist"), {"q": "dragon"}).content.decode()

    ids, _ = search_book_ids(tenant=library_a.tenant, q="dragon", limit=10, offset=0)
    assert len(ids) == 3
    titles = listed_titles(html)
    assert titles[0] == "Dragon riders of Pern"  # a title match first, as in the API
    assert set(titles) == {"Dragon riders of Pern", "Cooking", "Gardening for beginners"}
    assert "other library" not in html


def test_search_box_prefix_accents_and_isbn(client, ann, library_a, make_book):
    make_book(
        library_a.tenant,
        "The Hobbit",
        authors=[{"name": "J. R. R. Tolkién", "open_library_key": "/authors/OL1A"}],
    )
    make_book(library_a.tenant, "Isbn Book", isbns=["9780261103344"])
    changelist = reverse("admin:catalog_book_changelist")

    assert listed_titles(client.get(changelist, {"q": "tolk"}).content.decode()) == ["The Hobbit"]
    assert listed_titles(client.get(changelist, {"q": "TOLKIEN"}).content.decode()) == ["The Hobbit"]
    assert listed_titles(client.get(changelist, {"q": "0-261-10334-2"}).content.decode()) == ["Isbn Book"]
    assert listed_titles(client.get(changelist, {"q": "zzzz"}).content.decode()) == []


def test_diff_page_shows_changed_fields_side_by_side(client, ann, library_a, make_book, revise_book):
    book = make_book(library_a.tenant, "Dune", subjects=["Sand", "Spice"])
    revise_book(book, subtitle="Deluxe edition", subjects=["Spice", "Worms"])

    change_page = client.get(reverse("admin:catalog_book_change", args=[book.pk])).content.decode()
    assert 'id="compare-versions"' in change_page
    assert reverse("admin:catalog_book_diff", args=[book.pk]) in change_page

    response = client.get(reverse("admin:catalog_book_diff", args=[book.pk]), {"a": 1, "b": 2})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'<tr data-field="([a-z_]+)">', html) == ["subtitle", "subjects"]
    assert re.search(r'<li class="removed">\s*Sand\s*</li>', html)
    assert re.search(r'<li class="added">\s*Worms\s*</li>', html)
    assert "Deluxe edition" in html


@pytest.mark.parametrize("query", [{"a": 1, "b": 9}, {"a": "x", "b": 1}, {}, {"a": 1}])
def test_diff_page_refuses_unknown_versions(client, ann, library_a, make_book, query):
    book = make_book(library_a.tenant, "Dune")
    assert client.get(reverse("admin:catalog_book_diff", args=[book.pk]), query).status_code == 404


def test_another_librarys_book_pages_are_404(client, ann, library_b, make_book, revise_book):
    theirs = make_book(library_b.tenant, "Their Book")
    revise_book(theirs, subtitle="v2")
    for url in (
        reverse("admin:catalog_book_change", args=[theirs.pk]),
        reverse("admin:catalog_book_diff", args=[theirs.pk]) + "?a=1&b=2",
        reverse("admin:catalog_book_history", args=[theirs.pk]),
    ):
        assert client.get(url).status_code == 404, url


def test_the_book_page_lists_requests_with_masked_emails_only(client, ann, library_a, library_b, make_book):
    book = make_book(library_a.tenant, "Wanted Book", key="/works/OL77W")
    make_book(library_b.tenant, "Wanted Book", key="/works/OL77W")
    request = patron_services.BookRequest(kind="work", input="/works/OL77W", open_library_key="/works/OL77W")
    for tenant, email in (
        (library_a.tenant, "zelda.canary@example.org"),
        (library_b.tenant, "other.canary@example.org"),
    ):
        patron_services.record_submission(
            tenant=tenant, email=Personal(email), name=Personal("Zelda Canary"), books=[request]
        )

    html = client.get(reverse("admin:catalog_book_change", args=[book.pk])).content.decode()

    section = html[html.index('id="book-requests"') :]
    assert "z***@example.org" in section
    assert "zelda.canary" not in html and "Zelda" not in html and "Canary" not in html
    assert "o***@example.org" not in html  # the other library's patron


def test_the_book_page_reads_the_book_once(client, ann, library_a, make_book):
    book = make_book(library_a.tenant, "Read Once")
    url = reverse("admin:catalog_book_change", args=[book.pk])
    client.get(url)  # sessions, content types and permissions warmed up

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    reads = [
        q["sql"]
        for q in captured
        if q["sql"].startswith('SELECT "catalog_book"."id"') and "LIMIT" in q["sql"]
    ]
    assert len(reads) == 1, reads
