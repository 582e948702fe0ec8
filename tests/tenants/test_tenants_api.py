"""POST/GET /tenants/ and GET /tenants/{slug}."""

import pytest

from tenants.models import ApiKey, Tenant, hash_api_key
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "slug",
    ["ab", "a1", "city-library", "a-b-c", "x" * 63, "0lib", "lib9", "a" + "-b" * 31],
)
def test_valid_slugs_are_accepted(platform_client, slug):
    response = platform_client.post("/tenants/", {"name": "Library", "slug": slug}, format="json")

    assert response.status_code == 201, response.content
    assert Tenant.objects.filter(slug=slug).exists()


@pytest.mark.parametrize(
    "slug",
    [
        "a",  # 1 character
        "x" * 64,  # 64 characters
        "City",  # uppercase
        "city_library",  # underscore
        "-city",  # leading hyphen
        "city-",  # trailing hyphen
        "city--library",  # double hyphen
        "",
        " city",
        "city library",
        "bibliothèque",  # non-ASCII
        "city/library",
    ],
)
def test_bad_slugs_are_400_and_create_nothing(platform_client, slug):
    response = platform_client.post("/tenants/", {"name": "Library", "slug": slug}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "slug" in body["errors"]
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("slug", [12, None, ["ab"], {"a": 1}, True])
def test_slug_of_wrong_type_is_400(platform_client, slug):
    response = platform_client.post("/tenants/", {"name": "Library", "slug": slug}, format="json")

    assert response.status_code == 400
    assert "slug" in response.json()["errors"]
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", None, 5, "x" * 201])
def test_bad_name_is_400(platform_client, name):
    response = platform_client.post("/tenants/", {"name": name, "slug": "good-slug"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert not Tenant.objects.exists()


def test_missing_fields_are_each_reported(platform_client):
    response = platform_client.post("/tenants/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "slug"}


def test_create_tenant_returns_contract_shape_and_a_working_key(platform_client, api_client):
    response = platform_client.post(
        "/tenants/", {"name": "Bibliothèque de Lyon 📚", "slug": "lyon"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "slug", "created_at", "api_key"}
    assert isinstance(body["id"], str)
    assert body["name"] == "Bibliothèque de Lyon 📚"
    assert body["slug"] == "lyon"
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert response["Location"].endswith("/tenants/lyon")
    # The key is stored only as its hash, has every tenant scope, and works at once.
    key = ApiKey.objects.get(tenant__slug="lyon")
    assert key.key_hash == hash_api_key(body["api_key"])
    assert body["api_key"] not in str(ApiKey.objects.values_list())
    assert set(key.scopes) == {
        "catalog:read",
        "ingestion:write",
        "submissions:write",
        "submissions:read",
        "keys:admin",
    }
    own = api_client.get("/tenants/lyon", **bearer(body["api_key"]))
    assert own.status_code == 200
    assert own.json() == {k: body[k] for k in ("id", "name", "slug", "created_at")}


def test_duplicate_slug_is_409_and_keeps_the_first(platform_client, library_a):
    response = platform_client.post("/tenants/", {"name": "Impostor", "slug": library_a.slug}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "A library with this slug already exists.", "code": "slug_taken"}
    assert Tenant.objects.get(slug=library_a.slug).name == "Alexandria Public Library"
    assert ApiKey.objects.filter(tenant__slug=library_a.slug).count() == 1


def test_tenant_key_cannot_create_tenants(client_a):
    response = client_a.post("/tenants/", {"name": "Mine", "slug": "mine"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "platform_only"
    assert not Tenant.objects.filter(slug="mine").exists()


def test_superuser_session_can_create_tenants(api_client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="correct horse battery")
    api_client.force_authenticate(admin)

    response = api_client.post("/tenants/", {"name": "Root's", "slug": "roots"}, format="json")

    assert response.status_code == 201
    assert Tenant.objects.filter(slug="roots").exists()


def test_platform_lists_all_tenants_tenant_key_only_its_own(platform_client, client_a, library_a, library_b):
    everything = platform_client.get("/tenants/")
    own = client_a.get("/tenants")

    assert everything.status_code == 200
    assert [t["slug"] for t in everything.json()["items"]] == ["alexandria", "bodleian"]
    assert everything.json()["total"] == 2
    assert everything["X-Total-Count"] == "2"
    assert [t["slug"] for t in own.json()["items"]] == ["alexandria"]
    assert own.json()["total"] == 1
    assert set(own.json()["items"][0]) == {"id", "name", "slug", "created_at"}


def test_librarian_session_lists_only_member_tenants(api_client, library_a, library_b):
    from tests.factories import MembershipFactory

    membership = MembershipFactory(tenant=library_b.tenant)
    api_client.force_authenticate(membership.user)

    response = api_client.get("/tenants/")

    assert [t["slug"] for t in response.json()["items"]] == ["bodleian"]
    assert api_client.get("/tenants/alexandria").json() == {"detail": "Tenant not found", "code": "not_found"}
    assert api_client.get("/tenants/bodleian").status_code == 200


def test_tenant_list_paginates_with_links(platform_client):
    for n in range(5):
        Tenant.objects.create(name=f"L{n}", slug=f"lib-{n}")

    first = platform_client.get("/tenants/?limit=2")
    second = platform_client.get(first.json()["next"])
    last = platform_client.get("/tenants/?limit=2&offset=4")

    assert [t["slug"] for t in first.json()["items"]] == ["lib-0", "lib-1"]
    assert first.json()["previous"] is None
    assert 'rel="next"' in first["Link"] and 'rel="prev"' not in first["Link"]
    assert [t["slug"] for t in second.json()["items"]] == ["lib-2", "lib-3"]
    assert second.json()["previous"] is not None
    assert 'rel="prev"' in second["Link"]
    assert last.json()["next"] is None and len(last.json()["items"]) == 1
    assert last["X-Total-Count"] == "5"


@pytest.mark.parametrize(
    "query", ["limit=abc", "limit=0", "limit=101", "limit=-1", "offset=-5", "offset=x", "limit=1.5"]
)
def test_malformed_list_parameters_are_400(platform_client, query):
    response = platform_client.get(f"/tenants/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert query.split("=")[0] in body["errors"]


def test_unknown_query_parameters_are_ignored(platform_client, library_a):
    response = platform_client.get("/tenants/?colour=blue&sort=sideways")

    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_get_tenant_by_platform_and_own_key_only(platform_client, client_a, client_b, library_a):
    assert platform_client.get("/tenants/alexandria").status_code == 200
    assert client_a.get("/tenants/alexandria/").json()["slug"] == "alexandria"
    other = client_b.get("/tenants/alexandria")
    missing = client_b.get("/tenants/does-not-exist")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json() == {"detail": "Tenant not found", "code": "not_found"}


def test_key_with_any_scope_reads_its_own_tenant(api_client, library_a):
    from tests.factories import ApiKeyFactory

    narrow = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:write"])

    response = api_client.get("/tenants/alexandria", **bearer(narrow.raw))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "query", ["offset=100000000000000000000000000", "limit=%D9%A1", "limit=%EF%BC%95", "offset=1e3"]
)
def test_huge_or_non_ascii_numbers_are_400(platform_client, query):
    response = platform_client.get(f"/tenants/?{query}")

    assert response.status_code == 400
