"""GET/DELETE patrons: masked emails only, counts, erasure that really forgets, isolation, scopes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patrons.models import Patron, Submission
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patrons.conftest import RINGS_ISBN, isbn13

pytestmark = pytest.mark.django_db

PATRON_FIELDS = {"id", "email_masked", "created_at", "last_submission_at", "submission_count"}
BOOKS = [{"isbn": RINGS_ISBN}]


def url(slug: str = "alexandria", patron_id=None) -> str:
    base = f"/tenants/{slug}/patrons"
    return f"{base}/{patron_id}" if patron_id is not None else f"{base}/"


def test_patron_list_and_detail_show_the_masked_email_and_activity(submit, client_a):
    first = submit(BOOKS, email="Ada.Lovelace@Example.com").json()
    submit(BOOKS, email="ada.lovelace@example.com")
    other = submit(BOOKS, email="zed@sub.example.net").json()

    listing = client_a.get(url())

    assert listing.status_code == 200
    body = listing.json()
    assert body["total"] == 2
    assert listing["X-Total-Count"] == "2"
    assert [set(item) for item in body["items"]] == [PATRON_FIELDS, PATRON_FIELDS]
    assert [item["id"] for item in body["items"]] == [other["patron"]["id"], first["patron"]["id"]]
    assert [item["email_masked"] for item in body["items"]] == ["z***@sub.example.net", "a***@example.com"]
    assert [item["submission_count"] for item in body["items"]] == [1, 2]
    detail = client_a.get(url(patron_id=first["patron"]["id"]))
    assert detail.status_code == 200
    assert detail.json() == body["items"][1]


def test_patron_list_costs_the_same_queries_for_one_or_many(submit, client_a, django_assert_num_queries):
    submit(BOOKS, email="p0@example.org")
    client_a.get(url())

    # API key (with its library), count, page with submission counts.
    with django_assert_num_queries(3):
        client_a.get(url())
    for n in range(1, 12):
        submit([{"isbn": isbn13(n)}], email=f"p{n}@example.org")
    with django_assert_num_queries(3):
        assert len(client_a.get(url()).json()["items"]) == 12


def test_erasure_forgets_the_patron_and_keeps_the_submissions_anonymised(submit, client_a):
    first = submit(BOOKS, email="Erase.Me@Example.org", name="Erin Erasable").json()
    second = submit([{"open_library_key": "OL27448W"}], email="erase.me@example.org").json()
    patron_id = first["patron"]["id"]

    response = client_a.delete(url(patron_id=patron_id))

    assert response.status_code == 204
    assert not Patron.objects.filter(pk=patron_id).exists()
    assert client_a.get(url(patron_id=patron_id)).json() == {
        "detail": "Patron not found",
        "code": "not_found",
    }
    for created in (first, second):
        kept = client_a.get(f"/tenants/alexandria/submissions/{created['id']}").json()
        assert kept["patron"] is None
        assert kept["books"] == created["books"]
    assert Submission.objects.filter(patron__isnull=True).count() == 2
    # Nothing is left to recognise them by: the same email is a new patron.
    again = submit(BOOKS, email="erase.me@example.org").json()
    assert again["patron"]["id"] != patron_id
    assert Patron.objects.get(pk=again["patron"]["id"]).submissions.count() == 1
    assert client_a.delete(url(patron_id=patron_id)).status_code == 404


def test_another_librarys_patron_is_404_for_read_and_erase(submit, client_a, client_b):
    theirs = submit(BOOKS, client=client_b, slug="bodleian").json()["patron"]["id"]

    for response in (client_a.get(url(patron_id=theirs)), client_a.delete(url(patron_id=theirs))):
        assert response.status_code == 404
        assert response.json() == {"detail": "Patron not found", "code": "not_found"}
    assert Patron.objects.filter(pk=theirs).exists()
    assert client_a.get(url()).json()["total"] == 0
    assert client_b.get(url("bodleian")).json()["total"] == 1
    assert client_a.get(url("bodleian")).json()["detail"] == "Tenant not found"


def test_a_malformed_patron_id_is_404_without_a_query(submit, client_a):
    submit(BOOKS)
    with CaptureQueriesContext(connection) as numeric:
        assert client_a.get(url(patron_id="424242")).status_code == 404
    for malformed in ("abc", "1e3", " 1", "٣"):
        with CaptureQueriesContext(connection) as queries:
            response = client_a.delete(url(patron_id=malformed))
        assert response.status_code == 404
        assert response.json()["detail"] == "Patron not found"
        assert len(queries) == len(numeric) - 1
    assert Patron.objects.count() == 1


def test_reading_patrons_needs_submissions_read_and_erasing_both_submission_scopes(
    api_client, library_a, submit
):
    patron_id = submit(BOOKS).json()["patron"]["id"]
    reader = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:read"])
    writer = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:write"])
    both = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:read", "submissions:write"])
    catalog_only = ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read", "keys:admin"])

    api_client.credentials(**bearer(catalog_only.raw))
    assert api_client.get(url()).status_code == 403
    assert api_client.delete(url(patron_id=patron_id)).status_code == 403
    api_client.credentials(**bearer(reader.raw))
    assert api_client.get(url()).status_code == 200
    assert api_client.get(url(patron_id=patron_id)).status_code == 200
    assert api_client.delete(url(patron_id=patron_id)).status_code == 403
    api_client.credentials(**bearer(writer.raw))
    assert api_client.get(url()).status_code == 403
    # The website's key erases by email (POST patrons/erase), never by counting ids.
    assert api_client.delete(url(patron_id=patron_id)).status_code == 403
    api_client.credentials(**bearer(both.raw))
    assert api_client.delete(url(patron_id=patron_id)).status_code == 204


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_patrons_cannot_be_created_or_changed_through_the_api(client_a, submit, method):
    patron_id = submit(BOOKS).json()["patron"]["id"]

    assert getattr(client_a, method)(url(), {}, format="json").status_code == 405
    assert getattr(client_a, method)(url(patron_id=patron_id), {}, format="json").status_code == 405
