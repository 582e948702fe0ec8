"""The rate limiter's decisions, through its services, against every store on a hand-moved clock.

Each test runs on the database (SQLite or PostgreSQL, whichever the suite runs on) and on Redis
(when TEST_REDIS_URL is set): see the `rate_limits` fixture.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from olcs.logs import RequestIdFilter, current_request_id
from tenants import ratelimit
from tenants.models import RateLimitBucket, RateLimitHit
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

API = RateLimitBucket.API
INGESTION = RateLimitBucket.INGESTION


@pytest.fixture
def tenant(settings):
    settings.API_RATE_LIMIT_REQUESTS = 3
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 10
    return TenantFactory(slug="alexandria")


def take(tenant, bucket=API, count=1) -> ratelimit.Usage:
    usage = ratelimit.take_slots(tenant=tenant, bucket=bucket, count=count)
    assert usage is not None
    return usage


def allowed_at(rate_limits, tenant, offsets: list[float], start: float) -> list[bool]:
    """Whether a request at each offset (seconds after `start`) was allowed."""
    answers = []
    for offset in offsets:
        rate_limits.now = start + offset
        answers.append(take(tenant).allowed)
    return answers


# --- Strategies at a window boundary --------------------------------------------------------------


def test_fixed_windows_allow_twice_the_limit_across_a_boundary(rate_limits, tenant, settings):
    settings.RATE_LIMIT_STRATEGY = "fixed"
    start = rate_limits.now  # a multiple of 10 s: a fixed window starts here

    answers = allowed_at(rate_limits, tenant, [9.5, 9.6, 9.7, 9.8, 10.0, 10.1, 10.2, 10.3], start)

    # Three at the end of one window, three more at the start of the next: six in 0.8 s.
    assert answers == [True, True, True, False, True, True, True, False]


def test_the_sliding_window_never_allows_more_than_the_limit_in_one_window(rate_limits, tenant):
    start = rate_limits.now

    answers = allowed_at(rate_limits, tenant, [9.5, 9.6, 9.7, 10.0, 19.4, 19.5, 19.6, 19.7, 19.75], start)

    # The three slots of 9.5-9.7 come back exactly one window later, one by one.
    assert answers == [True, True, True, False, False, True, True, True, False]


@pytest.mark.parametrize("strategy", ["sliding", "fixed"])
def test_random_traffic_is_admitted_exactly(rate_limits, tenant, settings, strategy):
    """Sliding: no span of one window holds more than the limit, and a request is refused only
    when the last window already holds the limit. Fixed: the same per aligned window."""
    settings.RATE_LIMIT_STRATEGY = strategy
    window, limit = 10.0, 3
    rng = random.Random(7)
    start = rate_limits.now
    times = []
    for _ in range(120):
        times.append(round(times[-1] + rng.choice([0.0, 0.05, 0.3, 1.0, 2.5]) if times else 0.0, 6))
    answers = allowed_at(rate_limits, tenant, times, start)
    admitted = [t for t, ok in zip(times, answers, strict=True) if ok]
    refused = [t for t, ok in zip(times, answers, strict=True) if not ok]
    assert admitted and refused

    if strategy == "sliding":
        for t in admitted:
            assert sum(1 for other in admitted if t <= other < t + window) <= limit
        for t in refused:
            assert sum(1 for other in admitted if t - window < other <= t) == limit
    else:

        def window_of(offset: float) -> float:
            return (start + offset) // window

        for t in times:
            so_far = [other for other in admitted if window_of(other) == window_of(t) and other <= t]
            assert len(so_far) <= limit
            if t in refused:
                assert len(so_far) == limit


# --- Retry-After and the reset ---------------------------------------------------------------------


def test_sliding_retry_after_is_the_true_wait_rounded_up(rate_limits, tenant, settings):
    settings.API_RATE_LIMIT_REQUESTS = 2
    start = rate_limits.now
    rate_limits.now = start + 0.2
    first = take(tenant)
    rate_limits.now = start + 3.7
    take(tenant)

    rate_limits.now = start + 5.0
    refused = take(tenant)
    rate_limits.now = start + 10.19
    barely = take(tenant)
    rate_limits.now = start + 10.2
    freed = take(tenant)

    assert (first.used, first.remaining, first.reset_seconds) == (1, 1, 10)
    assert not refused.allowed
    assert refused.retry_after_seconds == 6  # 0.2 + 10 - 5.0 = 5.2 s
    assert (refused.remaining, refused.reset_seconds) == (0, 6)
    assert barely.retry_after_seconds == 1  # 0.01 s, and never less than 1
    assert freed.allowed
    assert (freed.remaining, freed.reset_seconds) == (0, 4)  # the slot of 3.7 frees at 13.7


def test_fixed_retry_after_is_the_end_of_the_window(rate_limits, tenant, settings):
    settings.RATE_LIMIT_STRATEGY = "fixed"
    settings.API_RATE_LIMIT_REQUESTS = 1
    start = rate_limits.now
    rate_limits.now = start + 0.2
    first = take(tenant)
    rate_limits.now = start + 5.0
    refused = take(tenant)
    rate_limits.now = start + 9.5
    late = take(tenant)

    assert first.reset_seconds == 10  # 9.8 s, rounded up
    assert (refused.retry_after_seconds, refused.reset_seconds) == (5, 5)
    assert late.retry_after_seconds == 1


def test_refused_requests_consume_nothing(rate_limits, tenant, settings):
    settings.API_RATE_LIMIT_REQUESTS = 1
    start = rate_limits.now

    answers = allowed_at(rate_limits, tenant, [0.0, 1.0, 5.0, 9.99, 10.0], start)

    assert answers == [True, False, False, False, True]


def test_reading_the_usage_consumes_nothing(rate_limits, tenant):
    take(tenant)
    for _ in range(10):
        usage = ratelimit.read_usage(tenant=tenant, bucket=API)
    assert usage.allowed
    assert (usage.used, usage.remaining) == (1, 2)
    assert take(tenant).used == 2


# --- Batches (ingestion) ------------------------------------------------------------------------


@pytest.fixture
def ingestion_limit(settings) -> None:
    settings.INGESTION_RATE_LIMIT_REQUESTS = 5
    settings.INGESTION_RATE_LIMIT_WINDOW_SECONDS = 10


@pytest.mark.parametrize("strategy", ["sliding", "fixed"])
def test_a_batch_takes_all_its_slots_or_none(rate_limits, tenant, ingestion_limit, settings, strategy):
    settings.RATE_LIMIT_STRATEGY = strategy
    assert take(tenant, INGESTION, count=3).used == 3

    refused = take(tenant, INGESTION, count=3)
    fits = take(tenant, INGESTION, count=2)

    assert not refused.allowed
    assert (refused.used, refused.remaining) == (3, 2)
    assert fits.allowed
    assert fits.used == 5


def test_a_refused_batch_waits_until_enough_slots_free(rate_limits, tenant, ingestion_limit):
    start = rate_limits.now
    for offset, count in [(1, 2), (2, 1), (3, 2)]:
        rate_limits.now = start + offset
        assert take(tenant, INGESTION, count=count).allowed

    rate_limits.now = start + 6.5
    refused = take(tenant, INGESTION, count=3)

    # Three slots must free: the two of t=1 and the one of t=2, which frees at 12.
    assert refused.retry_after_seconds == 6  # 5.5 s, rounded up
    rate_limits.now = start + 12
    assert take(tenant, INGESTION, count=3).allowed


@pytest.mark.parametrize("strategy", ["sliding", "fixed"])
def test_a_batch_larger_than_the_limit_never_fits(rate_limits, tenant, ingestion_limit, settings, strategy):
    settings.RATE_LIMIT_STRATEGY = strategy

    refused = take(tenant, INGESTION, count=6)

    assert not refused.allowed
    assert refused.retry_after_seconds == 10
    assert ratelimit.read_usage(tenant=tenant, bucket=INGESTION).used == 0


# --- Limits per library --------------------------------------------------------------------------


def test_libraries_do_not_share_a_budget(rate_limits, tenant):
    other = TenantFactory(slug="bodleian")
    for _ in range(3):
        take(tenant)

    assert not take(tenant).allowed
    assert take(other).allowed
    assert take(other).used == 2


def test_a_librarys_own_limits_replace_the_defaults(rate_limits, tenant, settings):
    settings.INGESTION_RATE_LIMIT_REQUESTS = 10
    settings.INGESTION_RATE_LIMIT_WINDOW_SECONDS = 3600
    tenant.api_rate_limit_requests = 1
    tenant.api_rate_limit_window_seconds = 30
    tenant.save()
    other = TenantFactory(slug="bodleian")

    assert ratelimit.limit_for(tenant=tenant, bucket=API) == ratelimit.Limit(1, 30)
    assert ratelimit.limit_for(tenant=tenant, bucket=INGESTION) == ratelimit.Limit(10, 3600)
    assert ratelimit.limit_for(tenant=other, bucket=API) == ratelimit.Limit(3, 10)
    take(tenant)
    refused = take(tenant)
    assert not refused.allowed
    assert (refused.limit, refused.retry_after_seconds) == (1, 30)
    assert take(other).allowed


def test_limiting_off_decides_nothing(rate_limits, tenant, settings):
    settings.RATE_LIMIT_ENABLED = False

    assert ratelimit.take_slots(tenant=tenant, bucket=API) is None
    assert ratelimit.read_usage(tenant=tenant, bucket=API) is None
    report = ratelimit.report_usage(tenant=tenant)
    assert (report["api"].used, report["api"].remaining, report["api"].limit) == (0, 3, 3)


# --- Old entries are cleaned up ------------------------------------------------------------------


def test_entries_that_left_the_window_are_removed(rate_limits, tenant):
    for _ in range(20):
        assert [take(tenant).allowed for _ in range(4)] == [True, True, True, False]
        rate_limits.advance(10)

    if rate_limits.store == "database":
        # Deleted a batch at a time: never more than the limit plus one batch of rows.
        rows = RateLimitHit.objects.for_tenant(tenant).count()
        assert 3 <= rows <= 3 + ratelimit.EXPIRED_HITS_BATCH
    else:
        key = ratelimit.default_store().key(tenant.pk, API, "sliding")
        client = ratelimit.default_store().client
        assert client.zcard(key) == 3
        assert 0 < client.pttl(key) <= 11_000


# --- The store fails: the request goes ahead ------------------------------------------------------


@pytest.fixture
def warnings_with_request_id(caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.WARNING, logger="tenants.ratelimit")
    token = current_request_id.set("req-limiter-down")
    yield caplog
    current_request_id.reset(token)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_down_fails_open_with_a_warning(tenant, settings, warnings_with_request_id):
    settings.RATE_LIMIT_ENABLED = True
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    assert ratelimit.take_slots(tenant=tenant, bucket=API) is None

    [record] = warnings_with_request_id.records
    assert record.levelname == "WARNING"
    assert record.request_id == "req-limiter-down"
    assert (record.store, record.tenant, record.bucket) == ("redis", "alexandria", "api")
    assert "ConnectionError" in record.error
    with pytest.raises(ratelimit.StoreUnavailable):
        ratelimit.report_usage(tenant=tenant)


@pytest.mark.parametrize("strategy", ["sliding", "fixed"])
def test_a_database_error_in_the_limiter_fails_open_and_leaves_the_transaction_usable(
    tenant, settings, monkeypatch, warnings_with_request_id, strategy
):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_STRATEGY = strategy
    settings.REDIS_URL = ""
    # A real error from the database, in the middle of the limiter's transaction.
    monkeypatch.setattr(
        ratelimit, "_ADD_HIT_SQL", "INSERT INTO tenants_no_such_table VALUES (%s, %s, %s, %s)"
    )
    monkeypatch.setattr(
        ratelimit, "_FIXED_TAKE_SQL", "INSERT INTO tenants_no_such_table VALUES (%s, %s, %s, %s, %s)"
    )

    assert ratelimit.take_slots(tenant=tenant, bucket=API) is None

    [record] = warnings_with_request_id.records
    assert record.request_id == "req-limiter-down"
    assert record.store == "database"
    assert "no_such_table" not in record.getMessage() + record.error  # SQL is never logged
    # The limiter's savepoint took the error: the surrounding transaction still works.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


# --- Settings ------------------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READ_SETTINGS = (
    "from django.conf import settings; "
    "print(settings.RATE_LIMIT_ENABLED, settings.RATE_LIMIT_STRATEGY, settings.API_RATE_LIMIT_REQUESTS)"
)


def settings_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    """olcs.settings read by a process without pytest (which would count as TESTING)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("TESTING", "RATE_LIMIT_ENABLED", "RATE_LIMIT_STRATEGY", "API_RATE_LIMIT_REQUESTS"):
        clean.pop(name, None)
    # Development mode on the development keys, as pytest is.
    clean.update(DJANGO_SETTINGS_MODULE="olcs.settings", DEBUG="true", **env)
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=PROJECT_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "True sliding 60"),
        ({"RATE_LIMIT_ENABLED": "false"}, "False sliding 60"),
        ({"TESTING": "true"}, "False sliding 60"),
        ({"RATE_LIMIT_STRATEGY": " Fixed ", "API_RATE_LIMIT_REQUESTS": "5"}, "True fixed 5"),
    ],
)
def test_the_settings_read_the_environment(env, expected):
    done = settings_in_a_fresh_process(**env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RATE_LIMIT_STRATEGY": "leaky"}, "RATE_LIMIT_STRATEGY must be sliding or fixed"),
        ({"API_RATE_LIMIT_REQUESTS": "0"}, "API_RATE_LIMIT_REQUESTS must be at least 1"),
    ],
)
def test_a_process_refuses_to_start_on_a_bad_rate_limit_setting(env, message):
    done = settings_in_a_fresh_process(**env)
    assert done.returncode != 0
    assert message in done.stderr
