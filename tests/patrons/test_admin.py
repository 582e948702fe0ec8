"""Librarians in the admin: patrons by masked email only, erasure, submissions with their books,
the most requested books, finding a patron by email; each library sees only its own rows.

Library A has a library admin (ada) and a librarian (alan); library B a librarian (bea).
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client
from django.urls import reverse

from patrons.models import Patron, Submission
from tenants.models import Membership, Tenant
from tests.factories import MembershipFactory, UserFactory
from tests.patrons.conftest import RINGS_ISBN, isbn13

pytestmark = pytest.mark.django_db

PATRONS = reverse("admin:patrons_patron_changelist")
SUBMISSIONS = reverse("admin:patrons_submission_changelist")
REQUESTED = reverse("admin:patrons_requestedbook_changelist")
FIND = reverse("admin:patrons_patron_find")


def member(tenant: Tenant, role: str, username: str):
    user = UserFactory(username=username, password=None)
    MembershipFactory(tenant=tenant, user=user, role=role)
    return user


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def patron_page(patron_id) -> str:
    return reverse("admin:patrons_patron_change", args=[patron_id])


def submission_page(submission_id) -> str:
    return reverse("admin:patrons_submission_change", args=[submission_id])


@pytest.fixture
def people(library_a, library_b):
    return {
        "ada": member(library_a.tenant, Membership.Role.ADMIN, "ada"),
        "alan": member(library_a.tenant, Membership.Role.LIBRARIAN, "alan"),
        "bea": member(library_b.tenant, Membership.Role.LIBRARIAN, "bea"),
        "root": UserFactory(username="root", is_superuser=True, password=None),
    }


@pytest.fixture
def patrons(submit, client_b, library_a, catalog_book):
    """In A: Ada Reader (2 submissions) and Bo; in B: Cy. The Lord of the Rings is in A's catalog."""
    catalog_book(library_a.tenant, "/works/OL27448W", "The Lord of the Rings", isbns=[RINGS_ISBN])
    catalog_book(library_a.tenant, "/works/OL1W", "Volume One", isbns=[isbn13(1)])
    ada = submit(
        [{"isbn": RINGS_ISBN}, {"isbn": isbn13(1)}], email="Ada.Reader@Example.org", name="Ada Reader"
    ).json()
    submit([{"isbn": RINGS_ISBN}, {"isbn": RINGS_ISBN}], email="ada.reader@example.org", name="Ada Reader")
    bo = submit([{"isbn": RINGS_ISBN}], email="bo@example.net", name="Bo").json()
    cy = submit(
        [{"isbn": RINGS_ISBN}], email="cy@example.com", name="Cy", client=client_b, slug="bodleian"
    ).json()
    return {"ada": ada, "bo": bo, "cy": cy}


def test_librarians_see_their_librarys_patrons_by_masked_email_only(people, patrons):
    response = browser(people["alan"]).get(PATRONS)

    assert response.status_code == 200
    assert {p.email_masked for p in rows(response)} == {"a***@example.org", "b***@example.net"}
    page = response.content.decode()
    assert "a***@example.org" in page
    for patron in Patron.objects.all():
        assert patron.email_hash not in page and patron.name_hash not in page
    assert "ada.reader" not in page.lower() and "Ada Reader" not in page
    detail = browser(people["alan"]).get(patron_page(patrons["ada"]["patron"]["id"]))
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "a***@example.org" in text
    assert all(p.email_hash not in text and p.name_hash not in text for p in Patron.objects.all())


def test_another_librarys_patrons_and_submissions_are_404(people, patrons):
    alan, bea = browser(people["alan"]), browser(people["bea"])
    theirs = patrons["cy"]

    assert alan.get(patron_page(theirs["patron"]["id"])).status_code == 404
    assert alan.get(submission_page(theirs["id"])).status_code == 404
    assert bea.get(patron_page(patrons["ada"]["patron"]["id"])).status_code == 404
    assert [p.email_masked for p in rows(bea.get(PATRONS))] == ["c***@example.com"]
    assert len(rows(bea.get(SUBMISSIONS))) == 1


def test_superusers_see_every_library(people, patrons):
    root = browser(people["root"])

    assert len(rows(root.get(PATRONS))) == 3
    assert len(rows(root.get(SUBMISSIONS))) == 4
    assert root.get(patron_page(patrons["cy"]["patron"]["id"])).status_code == 200


def test_patrons_cannot_be_added_changed_or_deleted_in_the_admin(people, patrons):
    alan = browser(people["alan"])
    patron_id = patrons["ada"]["patron"]["id"]

    assert alan.get(reverse("admin:patrons_patron_add")).status_code == 403
    assert alan.get(reverse("admin:patrons_patron_delete", args=[patron_id])).status_code == 403
    assert alan.post(patron_page(patron_id), {"email_masked": "x***@evil.org"}).status_code == 403
    assert (
        "delete_selected" not in alan.get(PATRONS).context["action_form"].fields["action"].choices.__repr__()
    )


def test_the_erase_action_forgets_patrons_and_keeps_their_submissions(people, patrons, submit):
    ada_id = patrons["ada"]["patron"]["id"]

    response = browser(people["alan"]).post(
        PATRONS, {"action": "erase_selected", "_selected_action": [ada_id]}, follow=True
    )

    assert response.status_code == 200
    assert "Erased 1 patron." in response.content.decode()
    assert not Patron.objects.filter(pk=ada_id).exists()
    assert Submission.objects.filter(patron__isnull=True).count() == 2
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.object_repr == f"Patron {ada_id}"
    assert "example" not in entry.object_repr + entry.change_message
    # Anonymised in the submissions' pages too, and the same email is a new patron.
    page = browser(people["alan"]).get(submission_page(patrons["ada"]["id"])).content.decode()
    assert "— erased —" in page and "a***@example.org" not in page
    again = submit([{"isbn": RINGS_ISBN}], email="ada.reader@example.org").json()["patron"]["id"]
    assert again != ada_id


def test_a_librarian_cannot_erase_another_librarys_patron(people, patrons):
    theirs = patrons["cy"]["patron"]["id"]

    browser(people["alan"]).post(PATRONS, {"action": "erase_selected", "_selected_action": [theirs]})

    assert Patron.objects.filter(pk=theirs).exists()


def test_a_submission_page_lists_its_books_and_links_them(people, patrons):
    response = browser(people["alan"]).get(submission_page(patrons["ada"]["id"]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "The Lord of the Rings" in page and "Volume One" in page
    assert reverse("admin:catalog_book_change", args=[patrons["ada"]["books"][0]["book_id"]]) in page
    assert reverse("admin:patrons_patron_change", args=[patrons["ada"]["patron"]["id"]]) in page
    assert browser(people["alan"]).get(reverse("admin:patrons_submission_add")).status_code == 403


def test_most_requested_books_are_counted_per_library(people, patrons, library_a):
    response = browser(people["alan"]).get(REQUESTED)

    assert response.status_code == 200
    books = rows(response)
    assert [(b.title, b.request_count, b.patron_count) for b in books] == [
        ("The Lord of the Rings", 4, 2),
        ("Volume One", 1, 1),
    ]
    assert {b.tenant_id for b in books} == {library_a.tenant.pk}
    # B's library has no book in its catalog: its submission is still resolving.
    assert rows(browser(people["bea"]).get(REQUESTED)) == []
    assert len(rows(browser(people["root"]).get(REQUESTED))) == 2


def test_finding_a_patron_by_email_leads_to_their_page_and_never_shows_the_email(people, patrons):
    alan = browser(people["alan"])

    found = alan.post(FIND, {"email": "  ADA.reader@example.org "}, follow=True)

    assert found.redirect_chain[-1][0] == patron_page(patrons["ada"]["patron"]["id"])
    assert "ada.reader" not in found.content.decode().lower()
    missing = alan.post(FIND, {"email": "cy@example.com"}, follow=True)  # B's patron
    assert missing.redirect_chain[-1][0] == FIND
    text = missing.content.decode()
    assert "No patron of your libraries has this email." in text
    assert "cy@example.com" not in text
    invalid = alan.post(FIND, {"email": "not-an-email"}, follow=True)
    assert "not-an-email" not in invalid.content.decode()
    assert "no-store" in alan.get(FIND)["Cache-Control"]
    assert "Find by email" in alan.get(PATRONS).content.decode()


def test_the_find_page_needs_a_librarian(patrons):
    outsider = UserFactory(username="outsider", password=None)

    assert browser(outsider).get(FIND).status_code == 403
    assert browser(outsider).post(FIND, {"email": "ada.reader@example.org"}).status_code == 403
