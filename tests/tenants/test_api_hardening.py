"""Bad input costs little: deep JSON bodies and cursors, list amplification, charsets, and text
validated to its very end (a trailing newline is not the end)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from catalog.services import upsert_book
from ingestion.models import IngestionJob
from tenants.models import Tenant
from tests.catalog.conftest import author, content
from tests.conftest import assert_error_shape, bearer

pytestmark = pytest.mark.django_db

MAX_BODY = 1024 * 1024  # MAX_REQUEST_BODY_BYTES
INGESTION = "/tenants/alexandria/ingestion/"


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(raw_key))
    return client


def post_raw(client: APIClient, path: str, body: bytes, content_type: str = "application/json"):
    started = time.perf_counter()
    response = client.generic("POST", path, body, content_type=content_type)
    return response, time.perf_counter() - started


def one_mib_of(prefix: bytes, item: bytes, suffix: bytes) -> bytes:
    """prefix + item, item, ... + suffix, just under the body limit."""
    count = (MAX_BODY - len(prefix) - len(suffix) - 16) // (len(item) + 1)
    return prefix + b",".join([item] * count) + suffix


# --- Deep nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100 + b"]" * 100, id="arrays-100"),
        pytest.param(b'{"a":' * 100 + b"1" + b"}" * 100, id="objects-100"),
        pytest.param(b'{"query": ' + b"[" * 33 + b"]" * 33 + b"}", id="inside-a-field-33"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="arrays-5000"),
        pytest.param(b"[" * 5000, id="unclosed-5000"),
    ],
)
def test_a_body_nested_deeper_than_32_levels_is_a_400(client_a, body):
    response, _ = post_raw(client_a, INGESTION, body)

    assert_error_shape(response, 400, "too_deep")
    assert IngestionJob.objects.count() == 0


def test_32_levels_are_still_parsed(client_a):
    # A query nested 32 deep is a well-formed body; the serializer (not the parser) refuses it.
    body = b'{"query": ' + b"[" * 31 + b"]" * 31 + b"}"
    response, _ = post_raw(client_a, INGESTION, body)

    assert assert_error_shape(response, 400, "invalid")["errors"]["query"] == ["Must be a string."]


def test_brackets_inside_strings_are_text(client_a, fake_ol):
    body = json.dumps({"query": "title:" + "[" * 200 + "{" * 200}).encode()
    response, _ = post_raw(client_a, INGESTION, body)

    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * (MAX_BODY - 10), id="unclosed-arrays"),
        pytest.param(b"[" * (MAX_BODY // 2 - 5) + b"]" * (MAX_BODY // 2 - 5), id="balanced-arrays"),
        pytest.param(b'{"a":' * (MAX_BODY // 5 - 2), id="objects"),
        pytest.param(b'{"a":' * (MAX_BODY // 6 - 2) + b"}" * (MAX_BODY // 6 - 2), id="closed-objects"),
    ],
)
def test_a_megabyte_of_nesting_is_refused_fast(client_a, body):
    response, seconds = post_raw(client_a, INGESTION, body)

    assert_error_shape(response, 400, "too_deep")
    assert len(response.content) < 1000
    assert seconds < 0.5


def test_a_megabyte_of_containers_within_the_depth_is_refused_fast(client_a):
    # 16,000 arrays nested 31 deep: valid JSON that took the decoder 0.5-1 s to build.
    body = b"[" + b",".join([b"[" * 30 + b"]" * 30] * (MAX_BODY // 62 - 1)) + b"]"
    response, seconds = post_raw(client_a, INGESTION, body)

    assert_error_shape(response, 400, "too_many_containers")
    assert seconds < 0.5


def test_ten_thousand_containers_are_still_parsed(client_a):
    body = json.dumps({"query": "dune", "padding": [[[]]] * 3000}).encode()
    response, _ = post_raw(client_a, INGESTION, body)

    # Parsed: the serializer ignores the unknown field, and the job is created.
    assert response.status_code == 202, response.content


# --- Cursors ------------------------------------------------------------------------------------


def cursor_of(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(cursor_of(b"[" * 1500), id="deep-unclosed"),
        pytest.param(cursor_of(b'{"o":"title","d":"n","k":' + b"[" * 40 + b"]" * 40 + b"}"), id="deep-40"),
        pytest.param(cursor_of(b'{"o":"title","d":"n","k":["' + b"a" * 3000 + b'",1]}'), id="oversized"),
        pytest.param("A" * 100_000, id="oversized-garbage"),
    ],
)
def test_a_deep_or_oversized_cursor_is_a_400(client_a, cursor):
    response = client_a.get("/tenants/alexandria/books/", {"cursor": cursor})

    body = assert_error_shape(response, 400, "invalid")
    assert list(body["errors"]) == ["cursor"]
    assert len(response.content) < 1000


def test_the_longest_title_still_pages_by_cursor(client_a, library_a):
    # title_sort keeps 200 characters; four-byte characters make the longest cursor there is.
    for n in range(3):
        upsert_book(
            tenant=library_a.tenant,
            open_library_key=f"/works/OL{900 + n}W",
            content=content("😀" * 300 + str(n)),
        )
    seen = []
    url = "/tenants/alexandria/books/?limit=1"
    while url:
        response = client_a.get(url)
        assert response.status_code == 200, response.content
        seen += [item["open_library_key"] for item in response.json()["items"]]
        url = response.json()["next"]
    assert seen == ["/works/OL900W", "/works/OL901W", "/works/OL902W"]


# --- Lists: length first, then at most 20 item errors -------------------------------------------


def assert_small_fast_400(response, seconds: float, field: str) -> dict:
    body = assert_error_shape(response, 400, "invalid")
    assert len(response.content) < 8 * 1024, len(response.content)
    assert seconds < 0.5, seconds
    assert any(name == field or name.startswith(f"{field}.") for name in body["errors"]), body
    return body


@pytest.mark.parametrize(
    ("path", "prefix", "item", "suffix", "field"),
    [
        (INGESTION, b'{"open_library_keys": [', b"1", b"]}", "open_library_keys"),
        (INGESTION, b'{"isbns": [', b'"123"', b"]}", "isbns"),
        (INGESTION + "batch/", b'{"requests": [', b'"x"', b"]}", "requests"),
        (
            "/tenants/alexandria/submissions/",
            b'{"email": "a@b.example", "name": "A", "books": [',
            b"1",
            b"]}",
            "books",
        ),
        ("/tenants/alexandria/api-keys/", b'{"name": "k", "scopes": [', b"1", b"]}", "scopes"),
    ],
)
def test_a_megabyte_list_is_refused_by_its_length_alone(client_a, path, prefix, item, suffix, field):
    body = one_mib_of(prefix, item, suffix)
    response, seconds = post_raw(client_a, path, body)

    errors = assert_small_fast_400(response, seconds, field)["errors"]
    assert len(errors) == 1, errors  # the length, not one error per item
    assert IngestionJob.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "listed"),
    [
        ({"open_library_keys": ["nope"] * 1000}, "open_library_keys", 20),
        ({"isbns": ["9780000000000"] * 1000}, "isbns", 20),
        ({"requests": [{"isbns": ["x", "y"]}] * 20}, "requests", 20),
        ({"email": "a@b.example", "name": "A", "books": [{"isbn": "9780000000000"}] * 50}, "books", 20),
    ],
)
def test_at_most_20_item_errors_then_errors_truncated(client_a, body, field, listed):
    path = {"requests": INGESTION + "batch/", "books": "/tenants/alexandria/submissions/"}.get(
        field, INGESTION
    )
    response, seconds = post_raw(client_a, path, json.dumps(body).encode())

    answer = assert_small_fast_400(response, seconds, field)
    assert len(answer["errors"]) == listed
    assert answer["errors_truncated"] is True


def test_few_item_errors_are_all_listed_without_the_flag(client_a):
    response = client_a.post(INGESTION, {"open_library_keys": ["OL1W", "nope", "bad"]}, format="json")

    body = assert_error_shape(response, 400, "invalid")
    assert sorted(body["errors"]) == ["open_library_keys.1", "open_library_keys.2"]
    assert "errors_truncated" not in body


def test_fifty_books_of_long_bad_isbns_in_a_megabyte(client_a):
    long_bad = "9" * 20_000
    body = {"email": "a@b.example", "name": "A", "books": [{"isbn": long_bad}] * 50}
    raw = json.dumps(body).encode()
    assert len(raw) > 900_000
    response, seconds = post_raw(client_a, "/tenants/alexandria/submissions/", raw)

    answer = assert_small_fast_400(response, seconds, "books")
    assert answer["errors_truncated"] is True
    assert long_bad[:100] not in response.content.decode()


# --- Charset ------------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["utf-7", "UTF-16", "latin-1", "no-such-charset"])
def test_a_body_in_another_charset_is_a_415(client_a, charset):
    response, _ = post_raw(
        client_a,
        INGESTION,
        b'{"query": "author:Tolkien"}',
        content_type=f"application/json; charset={charset}",
    )

    assert_error_shape(response, 415, "unsupported_media_type")
    assert IngestionJob.objects.count() == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/json; charset=UTF8"]
)
def test_utf8_or_no_charset_is_accepted(client_a, fake_ol, content_type):
    response, _ = post_raw(client_a, INGESTION, b'{"query": "author:Tolkien"}', content_type=content_type)

    assert response.status_code == 202, response.content


# --- Slugs and other validated text: a trailing newline is not the end ----------------------------


@pytest.mark.parametrize("slug", ["newline\n", "alexandria\n", "ab\r\n", "\nab"])
def test_a_slug_with_a_newline_is_refused(platform_client, library_a, slug):
    response = platform_client.post("/tenants/", {"name": "Second", "slug": slug}, format="json")

    assert_error_shape(response, 400, "invalid")
    assert Tenant.objects.count() == 1


@pytest.mark.parametrize("slug", ["newline\n", "ab\n"])
def test_the_database_refuses_a_slug_with_a_newline_too(slug):
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.create(name="Bypassing validation", slug=slug)


def test_keys_and_isbns_with_a_newline_are_stored_without_it(client_a, fake_ol):
    keys = client_a.post(INGESTION, {"open_library_keys": ["OL18295W\n"]}, format="json")
    isbns = client_a.post(INGESTION, {"isbns": ["9780618640157\n"]}, format="json")

    assert keys.status_code == 202 and keys.json()["open_library_keys"] == ["/works/OL18295W"]
    assert isbns.status_code == 202 and isbns.json()["isbns"] == ["9780618640157"]


def test_an_author_key_with_a_newline_is_trimmed_like_any_filter(client_a, library_a):
    upsert_book(
        tenant=library_a.tenant,
        open_library_key="/works/OL1W",
        content=content("Tolkien's", authors=[author("J.R.R. Tolkien", 26320)]),
    )

    exact = client_a.get("/tenants/alexandria/books/", {"author": "OL26320A"})
    newline = client_a.get("/tenants/alexandria/books/", {"author": "OL26320A\n"})
    inside = client_a.get("/tenants/alexandria/books/", {"author": "OL26320A\nx"})

    assert exact.json()["total"] == newline.json()["total"] == 1
    assert inside.json()["total"] == 0


def test_a_request_id_with_a_newline_is_replaced(client_a):
    response = client_a.get("/tenants/alexandria/books/", HTTP_X_REQUEST_ID="abc\n")

    assert response["X-Request-ID"] != "abc\n" and "\n" not in response["X-Request-ID"]
