"""Fixtures shared by every test: two libraries with keys, an outsider, a platform key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from tenants.models import ALL_SCOPES, ApiKey, Tenant
from tests.factories import ApiKeyFactory, TenantFactory


@dataclass
class Library:
    tenant: Tenant
    key: ApiKey  # every tenant scope

    @property
    def slug(self) -> str:
        return self.tenant.slug

    @property
    def raw_key(self) -> str:
        return self.key.raw


def bearer(raw_key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def library_a(db) -> Library:
    tenant = TenantFactory(name="Alexandria Public Library", slug="alexandria")
    return Library(tenant=tenant, key=ApiKeyFactory(tenant=tenant, scopes=sorted(ALL_SCOPES)))


@pytest.fixture
def library_b(db) -> Library:
    tenant = TenantFactory(name="Bodleian Branch", slug="bodleian")
    return Library(tenant=tenant, key=ApiKeyFactory(tenant=tenant, scopes=sorted(ALL_SCOPES)))


@pytest.fixture
def platform_key(db) -> ApiKey:
    return ApiKeyFactory(tenant=None, name="Platform", scopes=[])


@pytest.fixture
def client_a(library_a) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(library_a.raw_key))
    return client


@pytest.fixture
def client_b(library_b) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(library_b.raw_key))
    return client


@pytest.fixture
def platform_client(platform_key) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(platform_key.raw))
    return client
