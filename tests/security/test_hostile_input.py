"""Bad input never costs much, on every endpoint: deep JSON, huge lists, deep or oversized
cursors, and OPTIONS without the scope.

The operations come from the published OpenAPI schema and the routes from Django's resolver
(tests/security/test_route_sweep.py), so a new endpoint is attacked the day it is added:

- every operation with a JSON body gets (a) bodies nested 33 and 100 levels deep, 1 MiB of
  nesting and 1 MiB of arrays nested 31 deep (too many to decode cheaply), and (b) a body just
  under the 1 MiB limit in which every list-typed property is a huge list (or, for a body with
  no list, every string is huge): 400 in the error shape, a small answer (< 8 KiB), fast
  (< 0.5 s here), nothing changed in either library; and every list in a request body
  declares its maximum (`maxItems`), which the API checks before any item;
- every operation with a `cursor` gets a deep and an oversized one: 400; every other list
  endpoint ignores them, never a 5xx;
- OPTIONS on every tenant-scoped route, by a key of the library without the route's scope, is
  the same 403 as GET (or, without GET, as the route's methods) would be.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from django.test import Client
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator

import olcs
from tenants.models import ALL_SCOPES, Tenant
from tests.factories import ApiKeyFactory
from tests.security.conftest import Seeded
from tests.security.test_route_sweep import API_ROUTES, ROUTE_SAMPLES, SLUG, paths_of

pytestmark = pytest.mark.django_db

MAX_BODY = 1024 * 1024
SMALL_ANSWER = 8 * 1024
FAST_SECONDS = 0.5
SCHEMA = None


def api_schema() -> dict:
    """The schema `/openapi.json` serves, built once (the parametrized tests read it at collection)."""
    global SCHEMA
    if SCHEMA is None:
        generated = SchemaGenerator(api_version=olcs.__version__).get_schema(request=None, public=True)
        SCHEMA = json.loads(json.dumps(generated, default=str))
    return SCHEMA


def resolved(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def operations() -> list[tuple[str, str, dict]]:
    schema = api_schema()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def body_operations() -> list[tuple[str, str, dict]]:
    found = []
    for method, path, operation in operations():
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            found.append((method, path, resolved(api_schema(), content["application/json"]["schema"])))
    return found


def label(value) -> str:
    return f"{value[0]} {value[1]}" if isinstance(value, tuple) else str(value)


def concrete(path: str, seeded: Seeded) -> str:
    """A schema path with library A's slug and the first of its objects for any other id."""
    kinds = {
        "book_id": "books",
        "job_id": "jobs",
        "patron_id": "patrons",
        "submission_id": "submissions",
        "key_id": "keys",
    }

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "slug":
            return seeded.slug
        if name in kinds:
            return seeded.ids(kinds[name])[0]
        return "1"

    return re.sub(r"\{(\w+)\}", value, path)


def client_for(path: str, seeded: Seeded, platform_key) -> Client:
    # Creating a library is for platform keys; every other body is library A's to send.
    raw = platform_key.raw if path == "/tenants/" else seeded.library.raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def send(client: Client, method: str, path: str, body: bytes):
    started = time.perf_counter()
    response = client.generic(method, path, body, content_type="application/json")
    return response, time.perf_counter() - started


def problems_of(response, seconds: float) -> list[str]:
    found = []
    if response.status_code != 400:
        found.append(f"status {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return [*found, f"not JSON: {response.content[:200]!r}"]
    if not (isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)):
        found.append(f"not the error shape: {str(body)[:200]}")
    if len(response.content) >= SMALL_ANSWER:
        found.append(f"{len(response.content)} bytes")
    if seconds >= FAST_SECONDS:
        found.append(f"{seconds:.2f} s")
    return found


def huge_body(schema: dict) -> bytes:
    """Every list-typed property a huge list of 1 (or, with no list, every string huge), about
    1 MiB in all, under the body limit."""
    properties = schema.get("properties", {})
    lists = [name for name, prop in properties.items() if resolved(api_schema(), prop).get("type") == "array"]
    strings = [
        name for name, prop in properties.items() if resolved(api_schema(), prop).get("type") == "string"
    ]
    names = lists or strings
    assert names, f"nothing to make huge in {sorted(properties)}"
    budget = (MAX_BODY - 200 - 20 * len(names)) // len(names)
    parts = []
    for name in names:
        value = (
            b"[" + b",".join([b"1"] * (budget // 2 - 2)) + b"]"
            if lists
            else b'"' + b"x" * (budget - 2) + b'"'
        )
        parts.append(json.dumps(name).encode() + b":" + value)
    body = b"{" + b",".join(parts) + b"}"
    assert MAX_BODY * 0.9 < len(body) <= MAX_BODY
    return body


def deep_body(depth: int = 100) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def state(seeded_a: Seeded, seeded_b: Seeded) -> tuple:
    return (seeded_a.state(), seeded_b.state(), sorted(Tenant.objects.values_list("slug", flat=True)))


def test_the_sweeps_reach_every_body_and_cursor():
    bodies = {(method, path) for method, path, _ in body_operations()}

    assert {
        ("POST", "/tenants/"),
        ("POST", "/tenants/{slug}/api-keys/"),
        ("POST", "/tenants/{slug}/ingestion/"),
        ("POST", "/tenants/{slug}/ingestion/batch/"),
        ("POST", "/tenants/{slug}/submissions/"),
        ("POST", "/tenants/{slug}/patrons/erase/"),
    } <= bodies
    assert ("GET", "/tenants/{slug}/books/") in set(cursor_operations())


def test_every_list_in_a_request_body_has_a_maximum():
    schema = api_schema()
    unbounded = []

    def walk(node: dict, where: str, seen: frozenset) -> None:
        ref = node.get("$ref")
        if ref in seen:
            return
        node_seen = seen | {ref} if ref else seen
        node = resolved(schema, node)
        if node.get("type") == "array":
            if "maxItems" not in node:
                unbounded.append(where)
            walk(node.get("items", {}), f"{where}[]", node_seen)
        for name, prop in node.get("properties", {}).items():
            walk(prop, f"{where}.{name}", node_seen)
        for key in ("oneOf", "anyOf", "allOf"):
            for index, option in enumerate(node.get(key, [])):
                walk(option, f"{where}.{key}{index}", node_seen)

    for method, path, body in body_operations():
        walk(body, f"{method} {path}", frozenset())

    assert unbounded == []


@pytest.mark.parametrize("operation", body_operations(), ids=label)
def test_a_deep_body_is_a_small_fast_400(operation, seeded_a, seeded_b, platform_key):
    method, path, _ = operation
    before = state(seeded_a, seeded_b)
    url = concrete(path, seeded_a)
    client = client_for(path, seeded_a, platform_key)

    found = {}
    for name, body in (
        ("100 deep", deep_body(100)),
        ("33 deep", deep_body(33)),
        ("1 MiB deep", b"[" * (MAX_BODY // 2 - 8) + b"]" * (MAX_BODY // 2 - 8)),
        ("1 MiB of arrays 31 deep", b"[" + b",".join([b"[" * 30 + b"]" * 30] * (MAX_BODY // 62 - 1)) + b"]"),
    ):
        response, seconds = send(client, method, url, body)
        problems = problems_of(response, seconds)
        # Refused by the parser, before any serializer ran.
        if not problems and response.json()["code"] not in ("too_deep", "too_many_containers"):
            problems.append(f"code {response.json()['code']}")
        if problems:
            found[name] = problems

    assert found == {}
    assert state(seeded_a, seeded_b) == before


@pytest.mark.parametrize("operation", body_operations(), ids=label)
def test_a_megabyte_of_lists_is_a_small_fast_400(operation, seeded_a, seeded_b, platform_key):
    method, path, schema = operation
    before = state(seeded_a, seeded_b)

    response, seconds = send(
        client_for(path, seeded_a, platform_key), method, concrete(path, seeded_a), huge_body(schema)
    )

    assert problems_of(response, seconds) == [], response.content[:300]
    assert state(seeded_a, seeded_b) == before


# --- Cursors ------------------------------------------------------------------------------------


def cursor_operations() -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, operation in operations()
        if method == "GET" and any(param["name"] == "cursor" for param in operation.get("parameters", []))
    ]


def list_operations() -> list[tuple[str, str]]:
    found = []
    for method, path, operation in operations():
        ok = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        schema = resolved(api_schema(), ok.get("schema", {})) if ok else {}
        if method == "GET" and "items" in schema.get("properties", {}):
            found.append((method, path))
    return found


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE_CURSORS = {
    "deep": b64(b"[" * 1500 + b"]" * 1500),
    "deep unclosed": b64(b"[" * 3000),
    "33 deep": b64(b'{"o":"title","d":"n","k":' + b"[" * 33 + b"]" * 33 + b"}"),
    "oversized": b64(b'{"o":"title","d":"n","k":["' + b"a" * 6000 + b'",1]}'),
}


@pytest.mark.parametrize("operation", cursor_operations(), ids=label)
def test_a_deep_or_oversized_cursor_is_a_400(operation, seeded_a):
    _, path = operation
    client = seeded_a.client()

    found = {}
    for name, cursor in HOSTILE_CURSORS.items():
        started = time.perf_counter()
        response = client.get(concrete(path, seeded_a), {"cursor": cursor})
        if problems := problems_of(response, time.perf_counter() - started):
            found[name] = problems
        elif list(response.json().get("errors", {})) != ["cursor"]:
            found[name] = [str(response.json())[:200]]

    assert found == {}


@pytest.mark.parametrize("operation", list_operations(), ids=label)
def test_every_list_endpoint_survives_hostile_cursors(operation, seeded_a, platform_key):
    _, path = operation
    client = client_for("" if "{slug}" in path else path, seeded_a, platform_key)

    statuses = {
        name: client.get(concrete(path, seeded_a), {"cursor": cursor}).status_code
        for name, cursor in HOSTILE_CURSORS.items()
    }

    assert all(status in (200, 400) for status in statuses.values()), statuses


# --- OPTIONS is refused as GET is ---------------------------------------------------------------

SCOPED_ROUTES = [route for route in API_ROUTES if ROUTE_SAMPLES.get(route.name, {}).get("slug") == SLUG]


def declared_scopes(view_class) -> set[str]:
    scopes: set[str] = set()
    for value in getattr(view_class, "required_scopes", {}).values():
        scopes |= {value} if isinstance(value, str) else set(value)
    return scopes


@pytest.mark.parametrize("route", SCOPED_ROUTES, ids=str)
def test_options_without_the_routes_scope_is_refused_like_get(route, seeded_a, seeded_b):
    path = paths_of(route, seeded_a)[0]
    view_class = resolve(path).func.view_class
    if not declared_scopes(view_class):
        # Any key of the library may use it (the library itself, its rate limits).
        assert route.name in {"tenant-detail", "rate-limits"}, f"{route}: no scope declared"
        return
    needed = view_class.scopes_needed("GET")
    key = ApiKeyFactory(tenant=seeded_a.library.tenant, scopes=sorted(ALL_SCOPES - set(needed)))
    before = state(seeded_a, seeded_b)

    wrong = []
    for each in paths_of(route, seeded_a):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw}")
        options, get = client.options(each), client.get(each)
        if options.status_code != 403 or options.json().get("code") != "insufficient_scope":
            wrong.append(f"OPTIONS {each}: {options.status_code} {options.content[:200]!r}")
        if "GET" in view_class.required_scopes and (options.status_code, options.json()) != (
            get.status_code,
            get.json(),
        ):
            wrong.append(f"OPTIONS {each} answers {options.json()}, GET {get.json()}")
        foreign = Client(HTTP_AUTHORIZATION=f"Bearer {seeded_b.library.raw_key}").options(each)
        if foreign.status_code != 404:
            wrong.append(f"OPTIONS {each} with library B's key: {foreign.status_code}")

    assert wrong == []
    assert state(seeded_a, seeded_b) == before
