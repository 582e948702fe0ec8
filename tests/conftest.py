"""Fixtures shared by every test: two libraries with keys, an outsider, a platform key."""

from __future__ import annotations

import os
import uuid
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


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    """The contract's error body (`detail`, `code`) with this status, and that body."""
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body


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


FAKE_OPEN_LIBRARY_URL = "http://openlibrary.test"


@pytest.fixture
def fake_ol(settings):
    """A fake Open Library answering through `responses`: no request leaves the process."""
    import responses

    from tests.fake_openlibrary import FakeOpenLibrary

    settings.OPEN_LIBRARY_BASE_URL = FAKE_OPEN_LIBRARY_URL
    settings.OPEN_LIBRARY_MAX_RPS = 10_000
    settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS = 0.001
    settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = 0.01
    fake = FakeOpenLibrary()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.mount(rsps, FAKE_OPEN_LIBRARY_URL)
        yield fake


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a request enqueues on commit (the worker runs synchronously in tests)."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            result = action()
        return result, callbacks

    return run


# --- Rate limits ----------------------------------------------------------------------------------

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture(autouse=True)
def rate_limits_off(settings) -> None:
    """Tests make many requests per library: limiting is off unless a test asks for `rate_limits`.

    (Under pytest RATE_LIMIT_ENABLED is otherwise true: only the TESTING variable turns it off.)
    """
    settings.RATE_LIMIT_ENABLED = False


@dataclass
class RateLimitClock:
    """The rate limiter's clock, moved by hand; `store` names the store under test."""

    now: float
    store: str

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["database", "redis"])
def rate_limits(request, settings, monkeypatch) -> RateLimitClock:
    """Rate limiting on, on a clock the test moves, against each store in turn.

    The clock starts on a multiple of every window length the tests use (fixed windows start
    there). Redis runs only when TEST_REDIS_URL is set (CI sets it), under keys of this test's own.
    """
    from tenants import ratelimit

    if request.param == "redis":
        if not TEST_REDIS_URL:
            pytest.skip("set TEST_REDIS_URL to run against Redis")
        store = ratelimit.RedisStore(url=TEST_REDIS_URL, prefix=f"olcs-test:{uuid.uuid4().hex}")
        monkeypatch.setattr(ratelimit, "default_store", lambda: store)
        request.addfinalizer(
            lambda: [store.client.delete(key) for key in store.client.scan_iter(f"{store.prefix}:*")]
        )
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_STRATEGY = "sliding"
    clock = RateLimitClock(now=1_800_000_000.0, store=request.param)
    monkeypatch.setattr(ratelimit, "clock", clock)
    return clock
