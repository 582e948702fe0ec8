"""create_tenant, create_api_key and setup_demo, run the way an operator runs them."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from tenants.models import ALL_SCOPES, ApiKey, Membership, Tenant, hash_api_key

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_json_prints_one_object_with_a_working_key(api_client):
    output = run("create_tenant", "--name", "Città Biblioteca", "--slug", "citta", "--json")

    payload = json.loads(output)  # exactly one JSON document, nothing else on stdout
    assert set(payload) == {"tenant", "api_key"}
    assert payload["tenant"]["slug"] == "citta"
    assert payload["tenant"]["name"] == "Città Biblioteca"
    assert set(payload["tenant"]) == {"id", "name", "slug", "created_at"}
    key = ApiKey.objects.get(tenant__slug="citta")
    assert key.key_hash == hash_api_key(payload["api_key"])
    assert set(key.scopes) == ALL_SCOPES
    response = api_client.get("/tenants/citta", HTTP_AUTHORIZATION=f"Bearer {payload['api_key']}")
    assert response.status_code == 200


def test_create_tenant_plain_output_shows_the_key(library_a):
    output = run("create_tenant", "--name", "Plain", "--slug", "plain")

    assert "plain" in output
    key_line = next(line for line in output.splitlines() if "API key" in line)
    raw = key_line.rsplit(" ", 1)[-1]
    assert ApiKey.objects.get(tenant__slug="plain").key_hash == hash_api_key(raw)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X", "--slug", "Bad_Slug"], "valid slug"),
        (["--name", "X", "--slug", "a"], "valid slug"),
        (["--name", "  ", "--slug", "fine"], "must not be empty"),
        (["--name", "X", "--slug", "alexandria"], "already exists"),
    ],
)
def test_create_tenant_refuses_bad_input(library_a, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_tenant", *args)
    assert Tenant.objects.count() == 1


def test_create_api_key_for_tenant_json(library_a, api_client):
    payload = json.loads(
        run("create_api_key", "--tenant", "alexandria", "--scopes", "catalog:read,ingestion:write", "--json")
    )

    assert set(payload) == {"id", "api_key", "scopes", "tenant"}
    assert payload["tenant"] == "alexandria"
    assert payload["scopes"] == ["catalog:read", "ingestion:write"]
    assert ApiKey.objects.get(pk=payload["id"]).key_hash == hash_api_key(payload["api_key"])


def test_create_api_key_scopes_space_separated_and_all(library_a):
    spaced = json.loads(
        run("create_api_key", "--tenant", "alexandria", "--scopes", "catalog:read", "keys:admin", "--json")
    )
    everything = json.loads(run("create_api_key", "--tenant", "alexandria", "--scopes", "all", "--json"))

    assert spaced["scopes"] == ["catalog:read", "keys:admin"]
    assert set(everything["scopes"]) == ALL_SCOPES


def test_create_platform_key_json_creates_tenants(db, api_client):
    payload = json.loads(run("create_api_key", "--platform", "--json"))

    assert payload["tenant"] is None
    assert payload["scopes"] == []
    response = api_client.post(
        "/tenants/",
        {"name": "From platform", "slug": "from-platform"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {payload['api_key']}",
    )
    assert response.status_code == 201


def test_create_api_key_with_expiry(library_a):
    payload = json.loads(
        run(
            "create_api_key",
            "--tenant",
            "alexandria",
            "--scopes",
            "catalog:read",
            "--expires-in-days",
            "7",
            "--json",
        )
    )

    assert ApiKey.objects.get(pk=payload["id"]).expires_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nowhere", "--scopes", "catalog:read"], "No library"),
        (["--tenant", "alexandria"], "--scopes is required"),
        (["--tenant", "alexandria", "--scopes", "catalog:write"], "Unknown scopes"),
        (["--platform", "--scopes", "catalog:read"], "platform key"),
        (["--tenant", "alexandria", "--scopes", "catalog:read", "--expires-in-days", "0"], "at least 1"),
    ],
)
def test_create_api_key_refuses_bad_input(library_a, args, message):
    before = ApiKey.objects.count()
    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert ApiKey.objects.count() == before


def test_create_api_key_needs_tenant_or_platform(db):
    with pytest.raises(CommandError):
        run("create_api_key", "--scopes", "catalog:read")


def test_setup_demo_is_repeatable_and_rotates_its_key(db, settings, client):
    settings.DEBUG = True
    first = run("setup_demo")
    second = run("setup_demo")

    assert Tenant.objects.filter(slug="demo").count() == 1
    membership = Membership.objects.get(tenant__slug="demo", user__username="librarian")
    assert membership.role == Membership.Role.ADMIN
    demo_keys = ApiKey.objects.filter(tenant__slug="demo", name__startswith="Demo key")
    assert demo_keys.count() == 2
    assert demo_keys.filter(revoked_at__isnull=True).count() == 1
    password = next(line for line in second.splitlines() if "password:" in line).split("password:")[1].strip()
    assert client.login(username="librarian", password=password)
    assert first != second


def test_setup_demo_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(SystemExit):
        run("setup_demo")
    assert not Tenant.objects.filter(slug="demo").exists()


@pytest.mark.parametrize("slug", ["Upper", "a", "-x-", "a--b", "with space"])
def test_database_refuses_bad_slugs_too(db, slug):
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.create(name="Direct", slug=slug)
