"""Retries, backoff, Retry-After, timeouts and broken connections, against real local servers.

`responses` never sleeps and never breaks a socket, so these tests use pytest-httpserver for
HTTP answers and a scripted raw TCP server (tests/ingestion/conftest.py) for resets, hangs and
endless bodies. Settings keep them fast: tiny backoff, a 1 s Retry-After cap, short timeouts.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import responses
from werkzeug import Request, Response

from ingestion import openlibrary
from ingestion.openlibrary import MAX_BODY_BYTES, OpenLibraryError
from tests.ingestion.conftest import Action, respond

pytestmark = pytest.mark.slow

WORK = {"key": "/works/OL45883W", "title": "Fantastic Mr. Fox", "type": {"key": "/type/work"}}
WORK_PATH = "/works/OL45883W.json"


class Timeline:
    """Answers requests in order and notes when each arrived."""

    def __init__(self, *answers: Response) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    def __call__(self, request: Request) -> Response:
        self.times.append(time.monotonic())
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.times, self.times[1:], strict=False)]


def ok() -> Response:
    return Response(json.dumps(WORK), status=200, content_type="application/json")


def status(code: int, **headers: str) -> Response:
    return Response(
        json.dumps({"error": "busy"}), status=code, headers=headers, content_type="application/json"
    )


def serve(httpserver, timeline: Timeline) -> str:
    httpserver.expect_request(WORK_PATH).respond_with_handler(timeline)
    return httpserver.url_for("/").rstrip("/")


def test_429_with_retry_after_waits_that_long(httpserver, make_client):
    timeline = Timeline(status(429, **{"Retry-After": "1"}), ok())
    client = make_client(serve(httpserver, timeline), real_sleep=True)
    assert client.get_work("OL45883W").title == "Fantastic Mr. Fox"
    assert len(timeline.times) == 2
    assert timeline.gaps()[0] >= 0.95
    assert client.sleep.waits == [1.0]
    assert (client.request_count, client.retry_count) == (2, 1)


def test_429_without_retry_after_backs_off_with_jitter(httpserver, make_client, settings):
    settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS = 0.2
    timeline = Timeline(status(429), ok())
    client = make_client(serve(httpserver, timeline), real_sleep=True)
    client.get_work("OL45883W")
    (wait,) = client.sleep.waits
    assert 0 <= wait <= 0.2  # full jitter below the first backoff step
    assert timeline.gaps()[0] >= wait


def test_backoff_doubles_each_attempt(httpserver, make_client, settings, monkeypatch):
    settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS = 0.05
    ceilings = []
    monkeypatch.setattr(openlibrary.random, "uniform", lambda low, high: ceilings.append((low, high)) or high)
    timeline = Timeline(status(503), status(502), status(500), ok())
    client = make_client(serve(httpserver, timeline), real_sleep=True)
    client.get_work("OL45883W")
    assert ceilings == [(0, 0.05), (0, 0.1), (0, 0.2)]
    assert client.sleep.waits == [0.05, 0.1, 0.2]


def test_503_until_the_last_attempt_succeeds_with_exactly_max_requests(httpserver, make_client):
    timeline = Timeline(status(503), status(503), status(503), ok())
    client = make_client(serve(httpserver, timeline))
    assert client.get_work("OL45883W").key == "/works/OL45883W"
    assert len(httpserver.log) == 4
    assert client.request_count == client.throttle.acquired == 4


def test_503_for_ever_gives_up_after_max_attempts(httpserver, make_client, caplog):
    timeline = Timeline(status(503))
    client = make_client(serve(httpserver, timeline))
    with (
        caplog.at_level(logging.WARNING, logger="ingestion.openlibrary"),
        pytest.raises(OpenLibraryError, match="unavailable") as caught,
    ):
        client.get_work("OL45883W")
    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert len(httpserver.log) == 4
    assert client.request_count == client.throttle.acquired == 4
    retries = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(retries) == 3
    assert retries[0].getMessage().startswith(f"Open Library {WORK_PATH} answered 503; retry 1 of 3 in ")
    assert (retries[0].ol_path, retries[0].status) == (WORK_PATH, 503)


def test_429_for_ever_says_rate_limited(httpserver, make_client, settings):
    settings.OPEN_LIBRARY_MAX_ATTEMPTS = 2
    settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS = 0.2
    client = make_client(
        serve(httpserver, Timeline(status(429, **{"Retry-After": "21600"}))), real_sleep=True
    )
    started = time.monotonic()
    with pytest.raises(OpenLibraryError, match="rate limited") as caught:
        client.get_work("OL45883W")
    assert time.monotonic() - started < 2
    assert (caught.value.status, caught.value.retryable) == (429, True)
    assert client.request_count == 2


def test_a_huge_retry_after_waits_only_the_cap(httpserver, make_client):
    timeline = Timeline(status(429, **{"Retry-After": "21600"}), ok())  # six hours, as seen upstream
    client = make_client(serve(httpserver, timeline), real_sleep=True)
    started = time.monotonic()
    client.get_work("OL45883W")
    elapsed = time.monotonic() - started
    assert client.sleep.waits == [1.0]  # OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS in these tests
    assert 0.95 <= elapsed < 3
    assert timeline.gaps()[0] >= 0.95


def test_retry_after_as_an_http_date(make_client):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    client = make_client()  # records waits without sleeping
    client.max_retry_after = 60
    with responses.RequestsMock() as ol:
        ol.get(f"https://openlibrary.org{WORK_PATH}", status=503, headers={"Retry-After": when})
        ol.get(f"https://openlibrary.org{WORK_PATH}", json=WORK)
        client.get_work("OL45883W")
    (wait,) = client.sleep.waits
    assert 28 <= wait <= 30


@pytest.mark.parametrize("value", ["soon", "", "-5", "nan", "Thu, 99 Foo 2025 99:00:00 GMT"])
def test_an_unusable_retry_after_falls_back_to_backoff(make_client, monkeypatch, value):
    monkeypatch.setattr(openlibrary.random, "uniform", lambda low, high: high)
    client = make_client()
    with responses.RequestsMock() as ol:
        ol.get(f"https://openlibrary.org{WORK_PATH}", status=429, headers={"Retry-After": value})
        ol.get(f"https://openlibrary.org{WORK_PATH}", json=WORK)
        client.get_work("OL45883W")
    assert client.sleep.waits == [0.01]  # the first backoff step (jitter pinned to its ceiling)


def test_a_retry_after_date_in_the_past_retries_at_once(make_client):
    client = make_client()
    with responses.RequestsMock() as ol:
        ol.get(
            f"https://openlibrary.org{WORK_PATH}",
            status=503,
            headers={"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"},
        )
        ol.get(f"https://openlibrary.org{WORK_PATH}", json=WORK)
        client.get_work("OL45883W")
    assert client.sleep.waits == [0.0]


def test_retry_warnings_name_the_path_but_not_the_query(make_client, caplog):
    client = make_client()
    with responses.RequestsMock() as ol, caplog.at_level(logging.WARNING, logger="ingestion.openlibrary"):
        ol.get("https://openlibrary.org/search.json", status=502)
        ol.get("https://openlibrary.org/search.json", json={"numFound": 0, "docs": []})
        client.search(field="author", value="Ursula K. Le Guin")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("Open Library /search.json answered 502; retry 1 of 3 in ")
    assert "Guin" not in caplog.text
    assert record.wait_seconds == round(client.sleep.waits[0], 3)


def test_a_connection_closed_without_an_answer_is_retried(scripted_server, make_client):
    server = scripted_server(Action("close"), respond("200 OK", json.dumps(WORK).encode()))
    client = make_client(server.url)
    assert client.get_work("OL45883W").title == "Fantastic Mr. Fox"
    assert len(server.connections) == 2
    assert client.request_count == 2


def test_a_reset_connection_is_retried(scripted_server, make_client):
    server = scripted_server(Action("reset"), Action("reset"), respond("200 OK", json.dumps(WORK).encode()))
    client = make_client(server.url)
    assert client.get_work("OL45883W").key == "/works/OL45883W"
    assert len(server.connections) == 3


def test_a_refused_connection_gives_up_as_unavailable(make_client, scripted_server):
    server = scripted_server()
    url = server.url
    server.stop()  # nothing listens there any more
    client = make_client(url)
    with pytest.raises(OpenLibraryError, match=r"unavailable.*ConnectionError") as caught:
        client.get_work("OL45883W")
    assert (caught.value.status, caught.value.retryable) == (None, True)
    assert client.request_count == 4


def test_read_timeouts_are_retried_then_reported(scripted_server, make_client, settings):
    settings.OPEN_LIBRARY_TIMEOUT_SECONDS = (1, 0.3)
    settings.OPEN_LIBRARY_MAX_ATTEMPTS = 3
    server = scripted_server(*[Action("hang", seconds=2)] * 3)
    client = make_client(server.url)
    started = time.monotonic()
    with pytest.raises(OpenLibraryError, match=r"unavailable.*ReadTimeout") as caught:
        client.get_work("OL45883W")
    elapsed = time.monotonic() - started
    assert caught.value.retryable is True
    assert len(server.connections) == 3
    assert 0.85 <= elapsed < 2.5


def test_a_read_timeout_then_an_answer_succeeds(scripted_server, make_client, settings):
    settings.OPEN_LIBRARY_TIMEOUT_SECONDS = (1, 0.3)
    server = scripted_server(Action("hang", seconds=2), respond("200 OK", json.dumps(WORK).encode()))
    assert make_client(server.url).get_work("OL45883W").title == "Fantastic Mr. Fox"


def test_a_huge_body_is_refused_without_reading_it_all(scripted_server, make_client):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    server = scripted_server(Action("stream", payload=head, seconds=10))
    client = make_client(server.url)
    started = time.monotonic()
    with pytest.raises(OpenLibraryError, match="over the 10485760 byte limit") as caught:
        client.get_work("OL45883W")
    assert caught.value.retryable is False
    assert time.monotonic() - started < 5
    assert client.request_count == 1
    # The server would have sent 200 MB; the client stopped soon after the 10 MB cap.
    time.sleep(0.2)
    assert MAX_BODY_BYTES < server.streamed_bytes < 60 * 1024 * 1024


def test_a_declared_huge_body_is_refused_before_reading(scripted_server, make_client):
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n"
        b"Connection: close\r\n\r\n{"
    )
    server = scripted_server(Action("stream", payload=head, seconds=3))
    client = make_client(server.url)
    started = time.monotonic()
    with pytest.raises(OpenLibraryError, match="is 50000000 bytes, over the"):
        client.get_work("OL45883W")
    assert time.monotonic() - started < 1
