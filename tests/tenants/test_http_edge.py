"""The HTTP edge as a client meets it: tenant resolution that gives nothing away by its cost,
Server-Timing only in development, the schema built once per process, and a login that lands
somewhere real."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "correct horse battery staple"  # the factories' password


@pytest.fixture
def librarian_client(library_a) -> APIClient:
    """A librarian of library A logged in to the admin, using the browsable API's session."""
    membership = MembershipFactory(tenant=library_a.tenant, role=Membership.Role.LIBRARIAN)
    client = APIClient()
    client.force_login(membership.user)
    return client


# --- A session user's foreign slug costs what a missing slug costs -------------------------------


@pytest.mark.django_db
def test_a_foreign_library_and_a_missing_one_cost_the_same_queries(
    librarian_client, library_a, library_b, django_assert_num_queries
):
    # Session and user, then the library with the librarian's membership in one query.
    with django_assert_num_queries(3):
        own = librarian_client.get(f"/tenants/{library_a.slug}")
    assert own.status_code == 200 and own.json()["slug"] == library_a.slug
    # Session and user, then the same one query, which finds no membership.
    with django_assert_num_queries(3):
        foreign = librarian_client.get(f"/tenants/{library_b.slug}")
    with django_assert_num_queries(3):
        missing = librarian_client.get("/tenants/no-such-library")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"detail": "Tenant not found", "code": "not_found"}
    assert foreign.headers.keys() == missing.headers.keys()


@pytest.mark.django_db
def test_the_same_holds_for_every_library_a_librarian_may_reach(
    librarian_client, library_a, library_b, django_assert_num_queries
):
    # A member of both libraries reaches both, each in the same number of queries.
    user = librarian_client.session.get("_auth_user_id")
    MembershipFactory(tenant=library_b.tenant, user_id=user, role=Membership.Role.ADMIN)
    for library in (library_a, library_b):
        with django_assert_num_queries(3):
            answer = librarian_client.get(f"/tenants/{library.slug}")
        assert answer.status_code == 200 and answer.json()["slug"] == library.slug


@pytest.mark.django_db
def test_a_superuser_still_reaches_every_library_and_gets_the_same_404(library_a, library_b):
    client = APIClient()
    client.force_login(UserFactory(is_superuser=True))
    assert client.get(f"/tenants/{library_b.slug}").json()["slug"] == library_b.slug
    assert client.get("/tenants/no-such-library").json() == {
        "detail": "Tenant not found",
        "code": "not_found",
    }


# --- Server-Timing: development only -------------------------------------------------------------


@pytest.mark.django_db
def test_server_timing_is_only_sent_when_turned_on(client_a, library_a, library_b, client_b):
    with override_settings(DEBUG=False, SERVER_TIMING=False):
        for client, library in ((client_a, library_a), (client_b, library_b)):
            answer = client.get(f"/tenants/{library.slug}")
            assert answer.status_code == 200
            assert "Server-Timing" not in answer
        assert "Server-Timing" not in APIClient().get("/health")
    with override_settings(DEBUG=True, SERVER_TIMING=True):
        answer = client_a.get(f"/tenants/{library_a.slug}")
        assert answer["Server-Timing"].startswith("app;dur=")


# --- /openapi.json: built once per process --------------------------------------------------------


@pytest.mark.django_db
def test_the_schema_is_built_once_and_served_identically(monkeypatch):
    from olcs import openapi

    openapi.SCHEMA_CACHE.clear()
    calls = []
    real = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    client = APIClient()
    started = time.perf_counter()
    first = client.get("/openapi.json")
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    second = client.get("/openapi.json")
    second_ms = (time.perf_counter() - started) * 1000
    assert first.status_code == second.status_code == 200
    assert len(calls) == 1
    assert first.content == second.content and len(first.content) > 100_000
    assert first["Content-Type"] == second["Content-Type"] == "application/vnd.oai.openapi+json"
    assert first.json()["openapi"].startswith("3.")
    assert second_ms < first_ms
    print(f"openapi.json: first {first_ms:.1f} ms, second {second_ms:.1f} ms, {len(first.content)} bytes")
    # The trailing-slash twin and a second client share the one build.
    assert APIClient().get("/openapi.json/").content == first.content
    assert len(calls) == 1


# --- A login without `next` lands on a page -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("with_next_field", [False, True])
def test_logging_in_without_next_lands_on_the_admin(library_a, with_next_field):
    membership = MembershipFactory(tenant=library_a.tenant, role=Membership.Role.ADMIN)
    client = APIClient(enforce_csrf_checks=False)
    form = {"username": membership.user.username, "password": PASSWORD}
    if with_next_field:
        form["next"] = ""
    answer = client.post("/admin/login/", form, follow=True)
    assert answer.status_code == 200
    assert answer.redirect_chain and answer.redirect_chain[-1][0] == "/admin/"
    assert answer["Content-Type"].startswith("text/html")
