"""The 401/403/404 rules of API.md over every endpoint family, with two tenants and a platform key.

Each endpoint is tried with: no credentials, a malformed header, an unknown key, a revoked
key, the other library's key, an own key lacking the scope, an own key with it, and a
platform key.
"""

from dataclasses import dataclass

import pytest
from django.utils import timezone

from tests.conftest import bearer
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {slug} and {key_id} are filled in
    scope: str | None  # the scope the endpoint needs on its tenant; None: any own key
    body: dict | None = None
    ok: int = 200
    platform_only: bool = False


ENDPOINTS = [
    Endpoint("get", "/tenants/", None),
    Endpoint("post", "/tenants/", None, {"name": "N", "slug": "new-lib"}, ok=201, platform_only=True),
    Endpoint("get", "/tenants/{slug}", None),
    Endpoint("get", "/tenants/{slug}/api-keys/", "keys:admin"),
    # A key mints only scopes it holds itself (tests/tenants/test_api_hardening.py).
    Endpoint("post", "/tenants/{slug}/api-keys/", "keys:admin", {"name": "k", "scopes": ["keys:admin"]}, 201),
    Endpoint("get", "/tenants/{slug}/api-keys/{key_id}", "keys:admin"),
    Endpoint("delete", "/tenants/{slug}/api-keys/{key_id}", "keys:admin", ok=204),
]
IDS = [f"{e.method.upper()} {e.path}" for e in ENDPOINTS]


@pytest.fixture
def target(library_a):
    """A key of library A for the key-detail endpoints to act on."""
    return ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read"])


def call(client, endpoint: Endpoint, slug: str, key_id, **headers):
    path = endpoint.path.format(slug=slug, key_id=key_id)
    method = getattr(client, endpoint.method)
    if endpoint.body is not None:
        return method(path, endpoint.body, format="json", **headers)
    return method(path, **headers)


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    if code:
        assert body["code"] == code
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_no_credentials_is_401(api_client, library_a, target, endpoint):
    assert_error(call(api_client, endpoint, "alexandria", target.pk), 401, "not_authenticated")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer  ", "Bearer a b", "Bearer olcs_00000000_nope", "Bearer " + "x" * 500, "bearer ünï"],
)
def test_bad_credentials_are_401(api_client, library_a, target, endpoint, header):
    response = call(api_client, endpoint, "alexandria", target.pk, HTTP_AUTHORIZATION=header)

    assert_error(response, 401)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_revoked_key_is_401(api_client, library_a, target, endpoint):
    library_a.key.revoked_at = timezone.now()
    library_a.key.save()

    response = call(api_client, endpoint, "alexandria", target.pk, **bearer(library_a.raw_key))

    assert_error(response, 401, "revoked_api_key")


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if "{slug}" in e.path], ids=lambda e: e.path)
def test_other_tenants_key_is_404_exactly_like_an_unknown_tenant(
    api_client, library_a, library_b, target, endpoint
):
    foreign = call(api_client, endpoint, "alexandria", target.pk, **bearer(library_b.raw_key))
    unknown = call(api_client, endpoint, "no-such-library", target.pk, **bearer(library_b.raw_key))

    assert_error(foreign, 404)
    assert foreign.json() == unknown.json() == {"detail": "Tenant not found", "code": "not_found"}
    target.refresh_from_db()
    assert target.revoked_at is None


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.scope], ids=lambda e: f"{e.method} {e.path}")
def test_own_key_without_the_scope_is_403(api_client, library_a, target, endpoint):
    narrow = ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read", "submissions:write"])

    response = call(api_client, endpoint, "alexandria", target.pk, **bearer(narrow.raw))

    assert_error(response, 403, "insufficient_scope")
    target.refresh_from_db()
    assert target.revoked_at is None


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.platform_only], ids=lambda e: e.path)
def test_tenant_key_on_platform_endpoint_is_403(client_a, target, endpoint):
    assert_error(call(client_a, endpoint, "alexandria", target.pk), 403, "platform_only")


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if not e.platform_only], ids=lambda e: f"{e.method} {e.path}"
)
def test_own_key_with_the_scope_succeeds(api_client, library_a, target, endpoint):
    scoped = ApiKeyFactory(tenant=library_a.tenant, scopes=[endpoint.scope or "submissions:write"])

    response = call(api_client, endpoint, "alexandria", target.pk, **bearer(scoped.raw))

    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_platform_key_succeeds_everywhere(platform_client, library_a, target, endpoint):
    response = call(platform_client, endpoint, "alexandria", target.pk)

    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_every_path_works_with_and_without_trailing_slash(platform_client, library_a, endpoint):
    for path in (endpoint.path.rstrip("/"), endpoint.path.rstrip("/") + "/"):
        fresh = ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read"])
        e = Endpoint(endpoint.method, path, endpoint.scope, endpoint.body, endpoint.ok)
        if e.body and "slug" in e.body:
            e = Endpoint(e.method, e.path, e.scope, {"name": "N", "slug": f"lib-{fresh.pk}"}, e.ok)
        response = call(platform_client, e, "alexandria", fresh.pk)
        assert response.status_code == endpoint.ok, (path, response.status_code, response.content)
