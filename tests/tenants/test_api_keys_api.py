"""/tenants/{slug}/api-keys/: list, create (shown once), revoke, expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import ApiKey, hash_api_key
from tests.conftest import bearer
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

KEY_FIELDS = {"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked"}


def test_list_keys_never_shows_secrets(client_a, library_a):
    response = client_a.get("/tenants/alexandria/api-keys/")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    assert set(body["items"][0]) == KEY_FIELDS
    assert library_a.raw_key not in response.content.decode()
    assert library_a.key.key_hash not in response.content.decode()
    assert body["items"][0]["prefix"] == library_a.key.prefix
    assert library_a.raw_key.startswith(library_a.key.prefix)


def test_create_key_shown_once_then_works_with_its_scopes(client_a, api_client):
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = client_a.post(
        "/tenants/alexandria/api-keys",
        {"name": "Catalogue kiosk", "scopes": ["catalog:read", "catalog:read"], "expires_at": expires},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == KEY_FIELDS | {"api_key"}
    assert body["scopes"] == ["catalog:read"]
    assert body["revoked"] is False
    assert body["expires_at"] is not None
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == hash_api_key(body["api_key"])
    assert response["Location"].endswith(f"/tenants/alexandria/api-keys/{body['id']}")
    # Shown once: neither the list nor the detail ever return it again.
    listing = client_a.get("/tenants/alexandria/api-keys/").content.decode()
    detail = client_a.get(f"/tenants/alexandria/api-keys/{body['id']}").content.decode()
    assert body["api_key"] not in listing and body["api_key"] not in detail
    # The new key reads its tenant but lacks keys:admin.
    assert api_client.get("/tenants/alexandria", **bearer(body["api_key"])).status_code == 200
    denied = api_client.get("/tenants/alexandria/api-keys", **bearer(body["api_key"]))
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"scopes": ["catalog:read"]}, "name"),
        ({"name": "", "scopes": ["catalog:read"]}, "name"),
        ({"name": 7, "scopes": ["catalog:read"]}, "name"),
        ({"name": "k"}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["catalog:write"]}, "scopes.0"),
        ({"name": "k", "scopes": "catalog:read"}, "scopes"),
        ({"name": "k", "scopes": ["catalog:read"], "expires_at": "yesterday"}, "expires_at"),
        ({"name": "k", "scopes": ["catalog:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_create_key_validation(client_a, payload, field):
    before = ApiKey.objects.count()

    response = client_a.post("/tenants/alexandria/api-keys/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert ApiKey.objects.count() == before


def test_revoke_key_then_it_is_401(client_a, api_client, library_a):
    victim = ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read"])

    response = client_a.delete(f"/tenants/alexandria/api-keys/{victim.pk}")
    again = client_a.delete(f"/tenants/alexandria/api-keys/{victim.pk}/")

    assert response.status_code == 204 and response.content == b""
    assert again.status_code == 204
    victim.refresh_from_db()
    assert victim.revoked_at is not None
    after = api_client.get("/tenants/alexandria", **bearer(victim.raw))
    assert after.status_code == 401
    assert after.json()["code"] == "revoked_api_key"
    assert after["WWW-Authenticate"].startswith("Bearer")
    listed = {k["id"]: k for k in client_a.get("/tenants/alexandria/api-keys").json()["items"]}
    assert listed[str(victim.pk)]["revoked"] is True


def test_expired_key_is_401(api_client, library_a):
    key = ApiKeyFactory(tenant=library_a.tenant, expires_at=timezone.now() - timedelta(seconds=1))

    response = api_client.get("/tenants/alexandria", **bearer(key.raw))

    assert response.status_code == 401
    assert response.json()["code"] == "expired_api_key"


def test_key_not_yet_expired_works(api_client, library_a):
    key = ApiKeyFactory(tenant=library_a.tenant, expires_at=timezone.now() + timedelta(minutes=5))

    assert api_client.get("/tenants/alexandria", **bearer(key.raw)).status_code == 200


def test_other_tenants_key_id_is_404_and_untouched(client_a, library_b):
    response = client_a.delete(f"/tenants/alexandria/api-keys/{library_b.key.pk}")

    assert response.status_code == 404
    assert response.json() == {"detail": "API key not found", "code": "not_found"}
    library_b.key.refresh_from_db()
    assert library_b.key.revoked_at is None


@pytest.mark.parametrize("key_id", ["abc", "999999", "1.5", "-1", "٣", "9" * 40])
def test_unknown_or_malformed_key_id_is_404(client_a, key_id):
    assert client_a.delete(f"/tenants/alexandria/api-keys/{key_id}").status_code == 404
    assert client_a.get(f"/tenants/alexandria/api-keys/{key_id}").status_code == 404


def test_keys_of_one_tenant_never_listed_for_another(client_a, client_b, library_a, library_b):
    ApiKeyFactory.create_batch(3, tenant=library_b.tenant)

    ids_a = {k["id"] for k in client_a.get("/tenants/alexandria/api-keys").json()["items"]}
    ids_b = {k["id"] for k in client_b.get("/tenants/bodleian/api-keys").json()["items"]}

    assert ids_a == {str(library_a.key.pk)}
    assert len(ids_b) == 4 and not ids_a & ids_b


def test_last_used_at_is_recorded(client_a, library_a):
    assert library_a.key.last_used_at is None

    client_a.get("/tenants/alexandria")

    library_a.key.refresh_from_db()
    assert library_a.key.last_used_at is not None


def test_platform_key_manages_any_tenants_keys(platform_client, library_a):
    response = platform_client.post(
        "/tenants/alexandria/api-keys", {"name": "Support", "scopes": ["catalog:read"]}, format="json"
    )

    assert response.status_code == 201
    assert ApiKey.objects.get(pk=response.json()["id"]).tenant_id == library_a.tenant.pk
