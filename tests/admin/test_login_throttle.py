"""Signing in to the admin: failed attempts are limited per username and per client address.

Each attempt hashes a password (about a third of a second of CPU with the production hasher).
Past the limit, the sign-in page answers 429 in a librarian's words, without hashing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model, hashers
from django.core.cache import cache
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def limits(settings):
    # The counts live in the cache, which outlives a test.
    cache.clear()
    settings.ADMIN_LOGIN_FAILURES_PER_USERNAME = 5
    settings.ADMIN_LOGIN_FAILURES_PER_IP = 20
    settings.ADMIN_LOGIN_WINDOW_SECONDS = 900
    yield settings
    cache.clear()


@pytest.fixture
def ada():
    return get_user_model().objects.create_user("ada", password="correct horse", is_staff=True)


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="battery staple", is_staff=True)


@contextmanager
def counting_hashes() -> Iterator[mock.MagicMock]:
    """Counts every use of a password hasher: checking a password, or hashing one for a
    username that does not exist (Django does that so both take the same time)."""
    calls = mock.MagicMock()
    with (
        mock.patch.object(hashers, "identify_hasher", side_effect=hashers.identify_hasher) as identify,
        mock.patch.object(hashers, "get_hasher", side_effect=hashers.get_hasher) as get,
    ):
        calls.identify, calls.get = identify, get
        yield calls


def hashes(calls: mock.MagicMock) -> int:
    return calls.identify.call_count + calls.get.call_count


def sign_in(username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}
    )


def test_the_sixth_attempt_for_a_username_is_refused_without_hashing(ada, bob):
    for attempt in range(5):
        assert sign_in("ada", f"guess {attempt}", address=f"10.0.1.{attempt}").status_code == 200

    with counting_hashes() as calls:
        refused = sign_in("ada", "correct horse", address="10.0.2.1")  # even the right password waits
        refused_other_case = sign_in("ADA", "guess", address="10.0.2.2")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert refused_other_case.status_code == 429
    assert hashes(calls) == 0
    # Another librarian, elsewhere, signs in.
    assert sign_in("bob", "battery staple", address="10.0.3.1").status_code == 302


def test_an_address_trying_many_usernames_is_refused_without_hashing(ada, bob):
    for attempt in range(20):
        assert sign_in(f"guess{attempt}", "password", address="192.0.2.7").status_code == 200

    with counting_hashes() as calls:
        refused = sign_in("ada", "correct horse", address="192.0.2.7")

    assert refused.status_code == 429
    assert hashes(calls) == 0
    assert sign_in("bob", "battery staple", address="198.51.100.1").status_code == 302


def test_successful_sign_ins_are_not_counted(ada):
    for _ in range(8):
        client = Client(REMOTE_ADDR="10.0.0.9")
        assert client.post(LOGIN, {"username": "ada", "password": "correct horse"}).status_code == 302
        assert client.get("/admin/").status_code == 200


def test_a_failed_attempt_below_the_limit_still_hashes(ada):
    with counting_hashes() as calls:
        answer = sign_in("ada", "wrong")
    assert answer.status_code == 200
    assert hashes(calls) >= 1


def test_the_address_comes_from_the_configured_proxy_header(limits, ada, bob):
    limits.ADMIN_LOGIN_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    for attempt in range(20):
        client = Client(REMOTE_ADDR="10.9.9.9", HTTP_X_REAL_IP="203.0.113.5")
        client.post(LOGIN, {"username": f"guess{attempt}", "password": "x"})

    same = Client(REMOTE_ADDR="10.9.9.9", HTTP_X_REAL_IP="203.0.113.5")
    other = Client(REMOTE_ADDR="10.9.9.9", HTTP_X_REAL_IP="203.0.113.6")  # the same proxy
    assert same.post(LOGIN, {"username": "ada", "password": "correct horse"}).status_code == 429
    assert other.post(LOGIN, {"username": "bob", "password": "battery staple"}).status_code == 302


def test_sign_in_works_when_the_cache_is_down(ada, caplog):
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with override_settings(CACHES=down):
        wrong = sign_in("ada", "wrong")
        right = sign_in("ada", "correct horse")

    assert (wrong.status_code, right.status_code) == (200, 302)
    assert "admin sign-in throttle unavailable (fail open)" in caplog.text
