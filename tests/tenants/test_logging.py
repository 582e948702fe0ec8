"""Request ids and JSON log lines: every line a request produces carries its id, and the
access line has no query string (it may carry personal data)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from olcs.logs import JsonFormatter, RequestIdFilter

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


class CapturedLog:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self, logger: str | None = None) -> list[dict]:
        # json.loads on every line: a line that is not valid JSON fails the test here.
        lines = [json.loads(line) for line in self.text.splitlines()]
        return [line for line in lines if logger is None or line["logger"] == logger]


@pytest.fixture
def log() -> Iterator[CapturedLog]:
    """The production formatter and filter on a handler of our own, on the loggers a request uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in ("olcs.request", "django.request", "tenants")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield CapturedLog(stream)
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_sane_request_id_is_echoed_and_logged(client, db, log):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"
    [access] = log.records("olcs.request")
    assert access["request_id"] == "abc-123"
    assert access["level"] == "INFO"
    assert access["method"] == "GET"
    assert access["path"] == "/health"
    assert access["status"] == 200
    assert access["message"] == "GET /health 200"
    assert isinstance(access["duration_ms"], float)
    assert access["tenant"] is None


@pytest.mark.parametrize(
    "incoming",
    ["a" * 300, "abc 123", "abc\ninjected", "abc-123\r\nX-Evil: 1", "", "-leading-dash", "ünïcode"],
    ids=["300 chars", "space", "newline", "crlf", "empty", "leading dash", "non-ascii"],
)
def test_an_insane_request_id_is_replaced_by_a_generated_one(client, db, log, incoming):
    response = client.get("/health", HTTP_X_REQUEST_ID=incoming)

    generated = response["X-Request-ID"]
    assert GENERATED_ID.match(generated)
    [access] = log.records("olcs.request")
    assert access["request_id"] == generated


def test_a_request_id_with_a_trailing_newline_is_replaced(client, db):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123\n")

    assert GENERATED_ID.match(response["X-Request-ID"])


def test_requests_without_an_id_get_distinct_ids(client, db):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]

    assert GENERATED_ID.match(first)
    assert GENERATED_ID.match(second)
    assert first != second


def test_the_access_line_leaves_out_the_query_string(client, db, log):
    response = client.get("/health?email=someone@example.com&name=Jane", HTTP_X_REQUEST_ID="abc-123")

    assert response.status_code == 200
    [access] = log.records("olcs.request")
    assert access["path"] == "/health"
    assert "someone@example.com" not in log.text
    assert "email=" not in log.text
    assert "Jane" not in log.text


def test_django_404_warning_carries_the_request_id(client, db, log):
    response = client.get("/no/such/page", HTTP_X_REQUEST_ID="abc-123")

    assert response.status_code == 404
    [warning] = log.records("django.request")
    assert warning["level"] == "WARNING"
    assert warning["request_id"] == "abc-123"
    assert "/no/such/page" in warning["message"]
    assert warning["status_code"] == 404
    assert "request" not in warning  # the request object itself is never serialised
    [access] = log.records("olcs.request")
    assert access["request_id"] == "abc-123"
    assert access["status"] == 404


def test_log_lines_written_inside_a_view_carry_the_request_id(client_a, library_a, log):
    response = client_a.post(
        f"/tenants/{library_a.slug}/api-keys",
        {"name": "Front desk", "scopes": ["catalog:read"]},
        format="json",
        HTTP_X_REQUEST_ID="abc-123",
    )

    assert response.status_code == 201
    [issued] = [line for line in log.records() if line["message"] == "api key issued"]
    assert issued["request_id"] == "abc-123"
    assert issued["tenant"] == library_a.slug
    raw_key = response.json()["api_key"]
    assert raw_key not in log.text
