"""The API's access holes stay shut: OPTIONS needs the scope GET needs, `/tenants/` with a tenant
key counts against the library's rate limit, a key mints nothing beyond itself, and answers
holding a raw key are never cached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiKey, Membership
from tests.conftest import assert_error_shape, bearer
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(raw_key))
    return client


# --- OPTIONS needs the scope GET (or the endpoint's methods) need ---------------------------------


@pytest.mark.parametrize(
    ("path", "scopes"),
    [
        ("/tenants/alexandria/books/", ["submissions:write"]),
        ("/tenants/alexandria/ingestion/", ["catalog:read"]),
        ("/tenants/alexandria/patrons/", ["submissions:write"]),
        ("/tenants/alexandria/api-keys/", ["catalog:read", "ingestion:write"]),
    ],
)
def test_options_without_the_scope_is_the_403_of_get(library_a, path, scopes):
    key = ApiKeyFactory(tenant=library_a.tenant, scopes=scopes)
    client = client_with(key.raw)

    response = client.options(path)

    assert_error_shape(response, 403, "insufficient_scope")
    assert "actions" not in response.json()


def test_options_describes_only_the_methods_the_key_may_use(library_a):
    reader = client_with(ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:read"]).raw)
    both = client_with(
        ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:read", "submissions:write"]).raw
    )

    as_reader = reader.options("/tenants/alexandria/submissions/")
    as_both = both.options("/tenants/alexandria/submissions/")

    assert as_reader.status_code == 200 and "POST" not in as_reader.json().get("actions", {})
    assert "email" in as_both.json()["actions"]["POST"]


def test_options_with_the_scope_still_describes_the_endpoint(client_a):
    response = client_a.options("/tenants/alexandria/books/")

    assert response.status_code == 200
    assert response.json()["name"]


# --- /tenants/ with a tenant key counts against its limit -----------------------------------------


@pytest.fixture
def small_limit(rate_limits, settings):
    settings.API_RATE_LIMIT_REQUESTS = 3
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 60
    return rate_limits


@pytest.mark.parametrize("path", ["/tenants/", "/tenants", "/tenants/alexandria", "/tenants/alexandria/"])
def test_tenant_keys_on_the_tenants_endpoints_are_rate_limited(small_limit, client_a, client_b, path):
    answers = [client_a.get(path) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["X-RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert answers[3].json() == {"detail": "Rate limit exceeded", "code": "rate_limited"}
    # Library B's own limit is untouched.
    other = client_b.get("/tenants/")
    assert other.status_code == 200 and other["X-RateLimit-Remaining"] == "2"


def test_the_tenants_list_counts_with_the_rest_of_the_library(small_limit, client_a):
    statuses = [
        client_a.get("/tenants/alexandria/books/").status_code,
        client_a.get("/tenants/").status_code,
        client_a.get("/tenants/alexandria/books/").status_code,
        client_a.get("/tenants/").status_code,
    ]

    assert statuses == [200, 200, 200, 429]


def test_platform_keys_listing_every_library_are_not_limited(small_limit, platform_client, library_a):
    statuses = [platform_client.get("/tenants/").status_code for _ in range(5)]

    assert statuses == [200] * 5


# --- Minting keys: never more than the creator's own --------------------------------------------


def admin_client(library, scopes, expires_at=None) -> APIClient:
    key = ApiKeyFactory(tenant=library.tenant, scopes=scopes, expires_at=expires_at)
    return client_with(key.raw)


def mint(client: APIClient, slug: str = "alexandria", **body):
    body.setdefault("name", "minted")
    return client.post(f"/tenants/{slug}/api-keys/", body, format="json")


def test_a_key_cannot_grant_scopes_it_does_not_have(library_a):
    client = admin_client(library_a, ["keys:admin", "catalog:read"])

    refused = mint(client, scopes=["catalog:read", "submissions:read"])
    allowed = mint(client, scopes=["catalog:read"])

    body = assert_error_shape(refused, 400, "invalid")
    assert list(body["errors"]) == ["scopes"]
    assert "submissions:read" in body["errors"]["scopes"][0]
    assert allowed.status_code == 201
    # Only the library's own key holds submissions:read.
    assert [key.pk for key in ApiKey.objects.all() if "submissions:read" in key.scopes] == [library_a.key.pk]


def test_an_expiring_key_cannot_mint_a_longer_or_endless_life(library_a):
    ends = timezone.now() + timedelta(days=7)
    client = admin_client(library_a, ["keys:admin", "catalog:read"], expires_at=ends)

    endless = mint(client, scopes=["catalog:read"])
    longer = mint(client, scopes=["catalog:read"], expires_at=(ends + timedelta(seconds=1)).isoformat())
    shorter = mint(client, scopes=["catalog:read"], expires_at=(ends - timedelta(days=1)).isoformat())
    same = mint(client, scopes=["catalog:read"], expires_at=ends.isoformat())

    for refused in (endless, longer):
        assert list(assert_error_shape(refused, 400, "invalid")["errors"]) == ["expires_at"]
    assert shorter.status_code == 201 and same.status_code == 201


def test_a_non_expiring_key_mints_any_life_within_its_scopes(library_a):
    client = admin_client(library_a, ["keys:admin"])

    endless = mint(client, scopes=["keys:admin"])
    later = mint(client, scopes=["keys:admin"], expires_at=(timezone.now() + timedelta(days=999)).isoformat())

    assert endless.status_code == 201 and later.status_code == 201


def test_platform_keys_still_mint_any_scope_for_a_library(platform_client, library_a):
    response = mint(platform_client, scopes=["catalog:read", "keys:admin", "submissions:read"])

    assert response.status_code == 201, response.content


def test_a_library_admin_session_still_mints_any_scope(library_a, admin_client_session):
    response = mint(admin_client_session, scopes=["catalog:read", "submissions:read", "keys:admin"])

    assert response.status_code == 201, response.content


@pytest.fixture
def admin_client_session(library_a) -> APIClient:
    user = UserFactory(username="head-librarian")
    MembershipFactory(user=user, tenant=library_a.tenant, role=Membership.Role.ADMIN)
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(user)
    return client


# --- Raw keys are never cached ------------------------------------------------------------------


def test_answers_with_a_raw_key_are_no_store(client_a, platform_client):
    created_key = mint(client_a, scopes=["catalog:read"])
    created_library = platform_client.post("/tenants/", {"name": "Cached", "slug": "cached"}, format="json")

    for response in (created_key, created_library):
        assert response.status_code == 201
        assert "api_key" in response.json()
        assert response["Cache-Control"] == "no-store"
        assert response["Pragma"] == "no-cache"
