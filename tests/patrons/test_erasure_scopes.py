"""Erasing patrons: by id with both submission scopes, by email for the website (no oracle)."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patrons.models import Patron, Submission
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patrons.conftest import RINGS_ISBN

pytestmark = pytest.mark.django_db

BOOKS = [{"isbn": RINGS_ISBN}]
EMAIL = "Forget.Me@Example.org"


def key_client(library, scopes: list[str]):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(**bearer(ApiKeyFactory(tenant=library.tenant, scopes=scopes).raw))
    return client


def erase(client, slug: str = "alexandria", *, body=None, slash: bool = False):
    path = f"/tenants/{slug}/patrons/erase" + ("/" if slash else "")
    return client.post(path, {"email": EMAIL} if body is None else body, format="json")


# --- DELETE patrons/{id} needs submissions:read and submissions:write ------------------------------


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        (["submissions:write"], 403),
        (["submissions:read"], 403),
        (["submissions:write", "catalog:read", "ingestion:write", "keys:admin"], 403),
        (["submissions:read", "submissions:write"], 204),
    ],
)
def test_erasing_by_id_needs_both_submission_scopes(submit, library_a, scopes, status):
    patron_id = submit(BOOKS, email=EMAIL).json()["patron"]["id"]

    response = key_client(library_a, scopes).delete(f"/tenants/alexandria/patrons/{patron_id}")

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "insufficient_scope"
        assert "'submissions:read' and 'submissions:write'" in response.json()["detail"]
    assert Patron.objects.filter(pk=patron_id).exists() == (status != 204)


def test_the_websites_key_cannot_erase_by_counting_ids(submit, library_a):
    ids = [submit(BOOKS, email=f"reader{n}@example.org").json()["patron"]["id"] for n in range(3)]
    website = key_client(library_a, ["submissions:write"])

    answers = [website.delete(f"/tenants/alexandria/patrons/{n}").status_code for n in range(1, 6)]

    assert set(answers) == {403}
    assert Patron.objects.filter(pk__in=ids).count() == 3


# --- POST patrons/erase {"email"} -------------------------------------------------------------------


@pytest.mark.parametrize("slash", [False, True])
def test_erase_by_email_forgets_the_patron_and_keeps_the_submissions(submit, library_a, slash):
    submission_id = submit(BOOKS, email=EMAIL).json()["id"]
    website = key_client(library_a, ["submissions:write"])

    response = erase(website, body={"email": "  forget.me@example.ORG "}, slash=slash)

    assert response.status_code == 204
    assert response.content == b""
    assert Patron.objects.count() == 0
    assert Submission.objects.get(pk=submission_id).patron_id is None


def test_erase_of_an_unknown_email_is_the_same_204(submit, library_a):
    submit(BOOKS, email="someone.else@example.org")
    website = key_client(library_a, ["submissions:write"])

    response = erase(website)

    assert response.status_code == 204 and response.content == b""
    assert Patron.objects.count() == 1


def normalized(queries) -> list[str]:
    """The statements run, without their values (ids and hashes differ from call to call)."""
    return [re.sub(r"'[^']*'|\b\d+\b|\"s\d+_x\d+\"", "?", query["sql"]) for query in queries]


def test_erase_runs_the_same_statements_whether_or_not_the_patron_exists(submit, library_a):
    submit(BOOKS, email=EMAIL)
    submit(BOOKS, email=EMAIL)
    website = key_client(library_a, ["submissions:write"])
    erase(website, body={"email": "warm.up@example.org"})

    with CaptureQueriesContext(connection) as existing:
        assert erase(website).status_code == 204
    with CaptureQueriesContext(connection) as missing:
        assert erase(website).status_code == 204

    assert Patron.objects.count() == 0
    assert normalized(existing.captured_queries) == normalized(missing.captured_queries)


def test_erase_in_one_library_never_touches_the_same_email_in_another(submit, library_a, library_b):
    submit(BOOKS, email=EMAIL)
    submit(BOOKS, email=EMAIL, client=key_client(library_b, ["submissions:write"]), slug="bodleian")
    theirs = Patron.objects.get(tenant=library_b.tenant)
    website_a = key_client(library_a, ["submissions:write"])

    assert erase(website_a).status_code == 204

    assert list(Patron.objects.all()) == [theirs]
    assert Submission.objects.get(tenant=library_b.tenant).patron_id == theirs.pk
    # Library A's key on library B's path is the "Tenant not found" 404, and erases nothing.
    foreign = erase(website_a, "bodleian")
    assert foreign.status_code == 404 and foreign.json() == {
        "detail": "Tenant not found",
        "code": "not_found",
    }
    assert Patron.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("scopes", [["submissions:read"], ["catalog:read", "keys:admin", "ingestion:write"]])
def test_erase_by_email_needs_submissions_write(submit, library_a, scopes):
    submit(BOOKS, email=EMAIL)

    response = erase(key_client(library_a, scopes))

    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"
    assert Patron.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "forget.me@"},
        {"email": "not an email at all"},
        {"email": ""},
        {"email": 918273645},  # a number no log line holds by chance (42 did: a factory sequence)
        {},
        {"email": EMAIL, "name": "Forget Me"},
        {"email": "x" * 300 + "@example.org"},
    ],
)
def test_an_invalid_erase_request_is_a_400_that_never_echoes_it(submit, library_a, body, caplog):
    submit(BOOKS, email=EMAIL)
    caplog.set_level(logging.DEBUG)

    response = erase(key_client(library_a, ["submissions:write"]), body=body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    for value in filter(None, body.values()):
        text = str(value).lower()
        assert text not in response.content.decode().lower()
        assert all(text not in record.getMessage().lower() for record in caplog.records)
    assert Patron.objects.count() == 1


def test_the_email_is_never_logged(submit, library_a, caplog):
    submit(BOOKS, email=EMAIL)
    caplog.set_level(logging.DEBUG)

    erase(key_client(library_a, ["submissions:write"]))
    erase(key_client(library_a, ["submissions:write"]))

    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records).lower()
    assert "patron erased" in logged
    assert "forget.me" not in logged and "example.org" not in logged


def test_get_on_the_erase_path_is_not_a_patron_lookup(client_a):
    response = client_a.get("/tenants/alexandria/patrons/erase")

    assert response.status_code == 405


def test_the_schema_documents_both_erasures():
    schema = Client().get("/openapi.json").json()

    erase_op = schema["paths"]["/tenants/{slug}/patrons/erase/"]["post"]
    assert "204" in erase_op["responses"]
    assert "requestBody" in erase_op
    delete_op = schema["paths"]["/tenants/{slug}/patrons/{patron_id}/"]["delete"]
    assert "submissions:read" in delete_op["description"] and "submissions:write" in delete_op["description"]
