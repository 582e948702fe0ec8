"""POST/GET submissions: validation, patrons by email, 201 vs 202, lists, isolation, scopes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patrons.models import Patron, Submission, SubmissionItem
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patrons.conftest import (
    RINGS_ISBN,
    RINGS_ISBN10,
    X_CHECK_ISBN10,
    X_CHECK_ISBN13,
    isbn13,
    submission_body,
)

pytestmark = pytest.mark.django_db

SUBMISSION_FIELDS = {"id", "patron", "status", "books", "created_at"}
ITEM_FIELDS = {"input", "status", "book_id", "open_library_key", "title"}
EMAIL, NAME = "Mirabel.Quince@Example.org", "Mirabel Quince"


def url(slug: str = "alexandria", submission_id=None) -> str:
    base = f"/tenants/{slug}/submissions"
    return f"{base}/{submission_id}" if submission_id is not None else f"{base}/"


def assert_nothing_recorded() -> None:
    assert not Patron.objects.exists()
    assert not Submission.objects.exists()
    assert not SubmissionItem.objects.exists()


GOOD = [{"isbn": RINGS_ISBN}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": EMAIL, "books": GOOD}, "name"),
        ({"name": NAME, "books": GOOD}, "email"),
        ({"email": EMAIL, "name": NAME}, "books"),
        (submission_body([]), "books"),
        (submission_body([{"isbn": isbn13(n)} for n in range(51)]), "books"),
        (submission_body("9780618640157"), "books"),
        (submission_body({"isbn": RINGS_ISBN}), "books"),
        (submission_body(None), "books"),
        (submission_body([RINGS_ISBN]), "books.0"),
        (submission_body([{}]), "books.0"),
        (submission_body([{"isbn": RINGS_ISBN, "open_library_key": "OL18295W"}]), "books.0"),
        (submission_body([{"isbn": RINGS_ISBN, "title": "The Lord of the Rings"}]), "books.0"),
        (submission_body([{"title": "The Lord of the Rings"}]), "books.0"),
        (submission_body([{"isbn": "9780618640158"}]), "books.0.isbn"),  # bad ISBN-13 check digit
        (submission_body([{"isbn": "0618640151"}]), "books.0.isbn"),  # bad ISBN-10 check digit
        (submission_body([{"isbn": "0804429578"}]), "books.0.isbn"),  # should end in X
        (submission_body([{"isbn": "978061864015X"}]), "books.0.isbn"),  # X only ends an ISBN-10
        (submission_body([{"isbn": "12345"}]), "books.0.isbn"),
        (submission_body([{"isbn": ""}]), "books.0.isbn"),
        (submission_body([{"isbn": "   "}]), "books.0.isbn"),
        (submission_body([{"isbn": 9780618640157}]), "books.0.isbn"),
        (submission_body([{"isbn": None}]), "books.0.isbn"),
        (submission_body([{"isbn": ["9780618640157"]}]), "books.0.isbn"),
        (
            submission_body([{"isbn": "".join(chr(0x0660 + int(d)) for d in RINGS_ISBN)}]),
            "books.0.isbn",
        ),  # Arabic-Indic digits
        (submission_body([{"isbn": "9" * 100_000}]), "books.0.isbn"),
        (submission_body([{"open_library_key": "banana"}]), "books.0.open_library_key"),
        (submission_body([{"open_library_key": "/authors/OL26320A"}]), "books.0.open_library_key"),
        (submission_body([{"open_library_key": "/books/OL18295W"}]), "books.0.open_library_key"),
        (submission_body([{"open_library_key": ""}]), "books.0.open_library_key"),
        (submission_body([{"open_library_key": 18295}]), "books.0.open_library_key"),
        (submission_body([{"open_library_key": "OL" + "1" * 300 + "W"}]), "books.0.open_library_key"),
        (
            submission_body([{"open_library_key": "\uff2f\uff2c\uff11\uff18\uff12\uff19\uff15\uff37"}]),
            "books.0.open_library_key",
        ),  # full-width
        (submission_body(GOOD, email="not-an-email"), "email"),
        (submission_body(GOOD, email=""), "email"),
        (submission_body(GOOD, email="   "), "email"),
        (submission_body(GOOD, email=42), "email"),
        (submission_body(GOOD, email=None), "email"),
        (submission_body(GOOD, email=["a@example.org"]), "email"),
        (submission_body(GOOD, email="a" * 250 + "@example.org"), "email"),
        (submission_body(GOOD, email="a@b@example.org"), "email"),
        (submission_body(GOOD, name=""), "name"),
        (submission_body(GOOD, name="   "), "name"),
        (submission_body(GOOD, name=42), "name"),
        (submission_body(GOOD, name="N" * 201), "name"),
        ({**submission_body(GOOD), "phone": "555-0100"}, "non_field_errors"),
    ],
)
def test_invalid_submissions_are_400_and_record_nothing(client_a, body, field):
    response = client_a.post(url(), body, format="json")

    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid"
    assert field in answer["errors"], answer
    assert_nothing_recorded()


def test_each_invalid_book_is_reported_at_its_position_and_nothing_is_recorded(client_a):
    books = [{"isbn": RINGS_ISBN}, {"open_library_key": "banana"}, {"isbn": "9780618640158"}, {"bogus": 1}]

    response = client_a.post(url(), submission_body(books), format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"books.1.open_library_key", "books.2.isbn", "books.3"}
    assert "check digit" in errors["books.2.isbn"][0]
    assert_nothing_recorded()


def test_a_body_that_is_not_an_object_is_400(client_a):
    response = client_a.post(url(), [submission_body(GOOD)], format="json")

    assert response.status_code == 400
    assert_nothing_recorded()


def test_books_already_in_the_catalog_resolve_at_once_with_201(client_a, library_a, catalog_book):
    rings = catalog_book(library_a.tenant, "/works/OL27448W", "The Lord of the Rings", isbns=[RINGS_ISBN])
    hobbit = catalog_book(library_a.tenant, "/works/OL262758W", "The Hobbit")
    books = [
        {"isbn": "978-0-618-64015-7"},
        {"isbn": RINGS_ISBN10},
        {"open_library_key": "OL262758W"},
        {"open_library_key": "https://openlibrary.org/works/OL262758W/The_Hobbit"},
        {"isbn": RINGS_ISBN},  # the same book twice is allowed
    ]

    response = client_a.post(url(), submission_body(books, email=EMAIL, name=NAME), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == SUBMISSION_FIELDS
    assert body["status"] == "complete"
    assert set(body["patron"]) == {"id", "email_masked"}
    assert body["patron"]["email_masked"] == "m***@example.org"
    assert response["Location"].endswith(f"/tenants/alexandria/submissions/{body['id']}")
    assert [set(item) for item in body["books"]] == [ITEM_FIELDS] * 5
    assert [item["input"] for item in body["books"]] == [
        b.get("isbn") or b.get("open_library_key") for b in books
    ]
    assert [item["status"] for item in body["books"]] == ["resolved"] * 5
    assert [item["book_id"] for item in body["books"]] == [str(rings.pk)] * 2 + [str(hobbit.pk)] * 2 + [
        str(rings.pk)
    ]
    assert body["books"][0]["title"] == "The Lord of the Rings"
    assert body["books"][2]["open_library_key"] == "/works/OL262758W"
    assert SubmissionItem.objects.count() == 5


def test_a_book_under_a_key_merged_into_a_catalog_work_resolves_at_once(submit, library_a, catalog_book):
    merged = catalog_book(library_a.tenant, "/works/OL101W", "Survivor", merged_keys=["/works/OL100W"])

    response = submit([{"open_library_key": "/works/OL100W"}])

    assert response.status_code == 201
    [item] = response.json()["books"]
    assert item["book_id"] == str(merged.pk)
    assert item["open_library_key"] == "/works/OL101W"


def test_unknown_books_make_a_202_resolving_submission(submit, library_a, catalog_book):
    catalog_book(library_a.tenant, "/works/OL27448W", "The Lord of the Rings", isbns=[RINGS_ISBN])
    books = [
        {"isbn": RINGS_ISBN},
        {"isbn": X_CHECK_ISBN10},
        {"open_library_key": "/works/OL999W"},
        {"open_library_key": "/books/OL7353617M"},
    ]

    response = submit(books)  # the on-commit task is not run here

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "resolving"
    assert [item["status"] for item in body["books"]] == ["resolved", "pending", "pending", "pending"]
    pending = body["books"][1:]
    assert [item["book_id"] for item in pending] == [None, None, None]
    assert [item["title"] for item in pending] == [None, None, None]
    # Until resolved, an item shows the key that was asked for (an ISBN has none).
    assert [item["open_library_key"] for item in pending] == [None, "/works/OL999W", "/books/OL7353617M"]
    assert SubmissionItem.objects.get(position=1).isbn13 == X_CHECK_ISBN13


def test_an_edition_key_always_waits_for_open_library(submit):
    response = submit([{"open_library_key": "OL7353617M"}])

    assert response.status_code == 202
    assert response.json()["books"][0]["open_library_key"] == "/books/OL7353617M"


def test_fifty_books_are_accepted(submit):
    response = submit([{"isbn": isbn13(n)} for n in range(50)])

    assert response.status_code == 202
    assert len(response.json()["books"]) == 50


@pytest.mark.parametrize("path", ["/tenants/alexandria/submissions", "/tenants/alexandria/submissions/"])
def test_submissions_answer_with_and_without_trailing_slash(client_a, path):
    response = client_a.post(path, submission_body(GOOD), format="json")

    assert response.status_code == 202
    assert client_a.get(path).status_code == 200


def test_the_same_email_in_any_case_and_spacing_is_the_same_patron(submit):
    first = submit(GOOD, email="Mirabel.Quince@Example.org").json()["patron"]["id"]
    again = submit(GOOD, email="  mirabel.quince@EXAMPLE.ORG\t").json()["patron"]["id"]
    other = submit(GOOD, email="mirabel.quince2@example.org").json()["patron"]["id"]

    assert first == again
    assert other != first
    assert Patron.objects.count() == 2
    assert Submission.objects.filter(patron_id=first).count() == 2


def test_the_same_email_in_two_libraries_is_two_unrelated_patrons(submit, client_b):
    in_a = submit(GOOD, email=EMAIL).json()["patron"]
    in_b = submit(GOOD, email=EMAIL, client=client_b, slug="bodleian").json()["patron"]

    assert in_a["id"] != in_b["id"]
    a, b = Patron.objects.get(pk=in_a["id"]), Patron.objects.get(pk=in_b["id"])
    assert a.tenant_id != b.tenant_id
    assert a.email_hash != b.email_hash
    assert a.name_hash != b.name_hash


def test_submission_detail_shows_each_book(submit, client_a):
    created = submit([{"isbn": RINGS_ISBN}, {"open_library_key": "OL27448W"}]).json()

    response = client_a.get(url(submission_id=created["id"]))

    assert response.status_code == 200
    assert response.json() == created


def test_submission_list_is_an_envelope_newest_first_with_filters(submit, client_a):
    first = submit(GOOD, email="one@example.org").json()
    second = submit(GOOD, email="two@example.org").json()

    response = client_a.get(url(), {"limit": 1})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "total", "next", "previous"}
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [second["id"]]
    assert response["X-Total-Count"] == "2"
    assert 'rel="next"' in response["Link"]
    only_first = client_a.get(url(), {"patron_id": first["patron"]["id"]}).json()
    assert [item["id"] for item in only_first["items"]] == [first["id"]]
    assert client_a.get(url(), {"status": "complete"}).json()["total"] == 0
    assert client_a.get(url(), {"status": "resolving"}).json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "done"}, "status"), ({"patron_id": "abc"}, "patron_id"), ({"limit": "x"}, "limit")],
)
def test_malformed_list_parameters_are_400(client_a, params, field):
    response = client_a.get(url(), params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_submission_list_costs_the_same_queries_for_one_or_many(
    submit, client_a, library_a, catalog_book, django_assert_num_queries
):
    catalog_book(library_a.tenant, "/works/OL27448W", "The Lord of the Rings", isbns=[RINGS_ISBN])
    submit([{"isbn": RINGS_ISBN}, {"isbn": isbn13(1)}])
    client_a.get(url())  # the key's last use is written once; later requests only read

    # API key (with its library), count, page (with patrons), items (with books).
    with django_assert_num_queries(4):
        assert len(client_a.get(url()).json()["items"]) == 1
    for n in range(10):
        submit(
            [{"isbn": RINGS_ISBN}, {"isbn": isbn13(n)}, {"open_library_key": "OL27448W"}],
            email=f"p{n}@example.org",
        )
    with django_assert_num_queries(4):
        assert len(client_a.get(url()).json()["items"]) == 11


def test_another_librarys_submission_is_404_and_a_malformed_id_costs_no_query(submit, client_a, client_b):
    theirs = submit(GOOD, client=client_b, slug="bodleian").json()

    response = client_a.get(url(submission_id=theirs["id"]))

    assert response.status_code == 404
    assert response.json() == {"detail": "Submission not found", "code": "not_found"}
    assert client_b.get(url("bodleian", theirs["id"])).status_code == 200
    assert client_a.get(url()).json()["total"] == 0
    with CaptureQueriesContext(connection) as numeric:
        assert client_a.get(url(submission_id="999999")).status_code == 404
    for malformed in ("abc", "1.5", "-1", "\u0661", "9" * 30):
        with CaptureQueriesContext(connection) as queries:
            response = client_a.get(url(submission_id=malformed))
        assert response.status_code == 404
        assert response.json()["detail"] == "Submission not found"
        assert len(queries) == len(numeric) - 1


def test_another_librarys_key_cannot_submit_to_it(client_a):
    response = client_a.post(url("bodleian"), submission_body(GOOD), format="json")

    assert response.status_code == 404
    assert response.json()["detail"] == "Tenant not found"
    assert_nothing_recorded()


def test_submissions_need_their_scopes(api_client, library_a, submit):
    writer = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:write"])
    reader = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:read"])
    catalog_only = ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read"])
    created = submit(GOOD).json()

    api_client.credentials(**bearer(writer.raw))
    assert api_client.post(url(), submission_body(GOOD), format="json").status_code == 202
    assert api_client.get(url()).status_code == 403
    assert api_client.get(url(submission_id=created["id"])).status_code == 403
    api_client.credentials(**bearer(reader.raw))
    assert api_client.get(url()).status_code == 200
    assert api_client.get(url(submission_id=created["id"])).status_code == 200
    response = api_client.post(url(), submission_body(GOOD), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    api_client.credentials(**bearer(catalog_only.raw))
    assert api_client.get(url()).status_code == 403
    assert api_client.post(url(), submission_body(GOOD), format="json").status_code == 403


def test_submissions_need_credentials(api_client, library_a):
    assert api_client.post(url(), submission_body(GOOD), format="json").status_code == 401
    assert api_client.get(url()).status_code == 401
    assert_nothing_recorded()
