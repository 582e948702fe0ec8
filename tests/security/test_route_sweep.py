"""Every route Django knows, with every method, refuses callers who are not the library's.

The routes come from Django's URL resolver itself (walked recursively), not from a list kept by
hand, so a new endpoint is swept the day it is added: a route without sample values below fails
the sweep by name. Each route is requested with and without its trailing slash (tenants.urls.route
answers both) and with GET, HEAD, OPTIONS, POST, PUT, PATCH and DELETE, as three callers:

- no credentials: 401 `not_authenticated` with `WWW-Authenticate: Bearer`;
- a bad key (well-formed, unknown): 401 `invalid_api_key`;
- library B's valid all-scope key on library A's URL: 404 "Tenant not found", the answer for a
  library that does not exist.

The rule holds for every method, including those a route does not allow: credentials and the
library are checked before the method (DRF's `initial()` runs before the handler is chosen), so
a caller who may not use a library cannot even learn which methods its routes accept. 405 is
only ever given to a caller on their own library (the routes without a library in the URL,
below, show it). tests/tenants/test_access_matrix.py holds the finer rules (revoked keys,
scopes, platform keys) for the tenant and key endpoints; this sweep holds the three rules above
for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.security.conftest import Seeded

pytestmark = pytest.mark.django_db

METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
BAD_KEY = "olcs_deadbeef_" + "x" * 43


@dataclass(frozen=True)
class Own:
    """A URL parameter filled with the id of one of library A's objects of this kind."""

    kind: str


SLUG = Own("slug")

# Every route of the API, by URL name, with a value for each of its URL parameters: library A's
# real objects, so that a refusal is about the caller and never about a missing object.
ROUTE_SAMPLES: dict[str, dict[str, object]] = {
    "tenant-list": {},
    "tenant-detail": {"slug": SLUG},
    "api-key-list": {"slug": SLUG},
    "api-key-detail": {"slug": SLUG, "key_id": Own("keys")},
    "rate-limits": {"slug": SLUG},
    "ingestion-create": {"slug": SLUG},
    "ingestion-batch": {"slug": SLUG},
    "ingestion-job-list": {"slug": SLUG},
    "ingestion-job-detail": {"slug": SLUG, "job_id": Own("jobs")},
    "ingestion-job-cancel": {"slug": SLUG, "job_id": Own("jobs")},
    "ingestion-job-retry": {"slug": SLUG, "job_id": Own("jobs")},
    "ingestion-logs": {"slug": SLUG},
    "ingestion-resync": {"slug": SLUG},
    "book-list": {"slug": SLUG},
    "book-search": {"slug": SLUG},
    "book-detail": {"slug": SLUG, "book_id": Own("books")},
    "book-versions": {"slug": SLUG, "book_id": Own("books")},
    "book-version": {"slug": SLUG, "book_id": Own("books"), "number": "1"},
    "book-version-diff": {"slug": SLUG, "book_id": Own("books"), "a": "1", "b": "2"},
    "submission-list": {"slug": SLUG},
    "submission-detail": {"slug": SLUG, "submission_id": Own("submissions")},
    "patron-list": {"slug": SLUG},
    "patron-erase": {"slug": SLUG},
    "patron-detail": {"slug": SLUG, "patron_id": Own("patrons")},
}

# Public by API.md (or the admin, which has its own login): not swept, with the reason.
PUBLIC_ROUTES = {
    "root": "the service index, public by API.md",
    "health": "the load balancer's probe, public by API.md",
    "openapi": "the schema, public by API.md",
    "docs": "Swagger UI, public by API.md",
}
ADMIN_PREFIX = "^admin"  # Django's admin: session login, CSRF, its own tests (tests/admin)
CATCH_ALL = ""  # the last pattern: the contract's JSON 404 for any unknown path


@dataclass(frozen=True)
class Route:
    regex: str
    name: str | None

    def __str__(self) -> str:
        return self.name or self.regex


def walk(resolver: URLResolver, prefix: str = "") -> Iterator[Route]:
    for pattern in resolver.url_patterns:
        regex = prefix + (
            pattern.pattern.regex.pattern.lstrip("^") if prefix else pattern.pattern.regex.pattern
        )
        if isinstance(pattern, URLResolver):
            yield from walk(pattern, regex)
        elif isinstance(pattern, URLPattern):
            yield Route(regex=regex, name=pattern.name)


ALL_ROUTES = list(walk(get_resolver()))
API_ROUTES = [
    route
    for route in ALL_ROUTES
    if route.regex != CATCH_ALL
    and not route.regex.startswith(ADMIN_PREFIX)
    and route.name not in PUBLIC_ROUTES
]


def paths_of(route: Route, seeded: Seeded) -> list[str]:
    """The route's URL with library A's sample values, without and with its trailing slash."""
    assert route.name in ROUTE_SAMPLES, (
        f"route {route.regex} ({route.name}) has no sample values in ROUTE_SAMPLES: add it, "
        "so the sweep can check who may call it"
    )
    samples = ROUTE_SAMPLES[route.name]
    names = re.findall(r"\(\?P<(\w+)>", route.regex)
    assert sorted(names) == sorted(samples), (
        f"{route.name}: URL parameters {names}, samples {sorted(samples)}"
    )

    def value(name: str) -> str:
        sample = samples[name]
        if sample == SLUG:
            return seeded.slug
        return seeded.ids(sample.kind)[0] if isinstance(sample, Own) else str(sample)

    assert route.regex.endswith("/?$"), f"{route}: every API path answers with and without a trailing slash"
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda match: value(match.group(1)), route.regex)
    base = "/" + path.removeprefix("^").removesuffix("/?$")
    paths = [base, base + "/"]
    for each in paths:
        assert resolve(each).url_name == route.name, f"{each} does not reach {route.name}"
    return paths


def request(method: str, path: str, key: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    if method in ("POST", "PUT", "PATCH"):
        return Client().generic(method, path, "{}", content_type="application/json", **headers)
    return Client().generic(method, path, **headers)


def test_the_sweep_covers_every_api_route_and_nothing_stale():
    names = {route.name for route in API_ROUTES}

    assert len(API_ROUTES) >= 20
    assert None not in names, [route.regex for route in API_ROUTES if route.name is None]
    assert set(ROUTE_SAMPLES) - names == set(), "samples for routes that no longer exist"
    assert set(PUBLIC_ROUTES) <= {route.name for route in ALL_ROUTES}
    assert ALL_ROUTES[-1].regex == CATCH_ALL


@pytest.mark.parametrize("name", sorted(PUBLIC_ROUTES))
def test_public_routes_answer_without_credentials(name):
    route = next(route for route in ALL_ROUTES if route.name == name)
    path = "/" + route.regex.removeprefix("^").removesuffix("/?$").replace("\\.", ".")

    assert Client().get(path).status_code == 200


@pytest.mark.parametrize("route", API_ROUTES, ids=str)
def test_no_bad_or_foreign_credentials_get_past_any_route(route, seeded_a, seeded_b):
    before = seeded_a.state()
    tenant_in_url = "slug" in ROUTE_SAMPLES.get(route.name or "", {})
    wrong: list[str] = []

    for path in paths_of(route, seeded_a):
        for method in METHODS:
            for who, key, status, code in (
                ("no key", None, 401, "not_authenticated"),
                ("a bad key", BAD_KEY, 401, "invalid_api_key"),
                ("library B's key", seeded_b.library.raw_key if tenant_in_url else None, 404, "not_found"),
            ):
                if key is None and who == "library B's key":
                    continue
                response = request(method, path, key)
                body = response.json() if method != "HEAD" else {"code": code}
                if response.status_code != status or body.get("code") != code:
                    wrong.append(
                        f"{method} {path} with {who}: {response.status_code} {response.content[:200]!r}"
                    )
                elif status == 401 and not response.get("WWW-Authenticate", "").startswith("Bearer"):
                    wrong.append(f"{method} {path} with {who}: 401 without WWW-Authenticate")
                elif (
                    status == 404
                    and method != "HEAD"
                    and body != {"detail": "Tenant not found", "code": "not_found"}
                ):
                    wrong.append(f"{method} {path} with {who}: {body}")

    assert wrong == []
    assert seeded_a.state() == before


def test_without_a_library_in_the_url_another_librarys_key_sees_only_its_own(seeded_a, seeded_b):
    """`/tenants/`: a tenant key lists its own library, may not create one, and other methods are 405."""
    key = seeded_b.library.raw_key
    for path in paths_of(next(route for route in API_ROUTES if route.name == "tenant-list"), seeded_a):
        listing = request("GET", path, key)
        assert listing.status_code == 200
        assert [item["slug"] for item in listing.json()["items"]] == [seeded_b.slug]
        assert request("POST", path, key).json()["code"] == "platform_only"
        for method in ("PUT", "PATCH", "DELETE"):
            assert request(method, path, key).status_code == 405
