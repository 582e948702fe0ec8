"""The deployment-wide Open Library throttle: slots 1/rps apart, shared by every process.

The multi-process proof starts real processes (no pytest in them) with the real settings on a
real database, each taking slots from the same throttle, and checks the combined timestamps.
The Redis variant runs only when TEST_REDIS_URL points at a Redis server.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from ingestion.models import OpenLibraryThrottle
from ingestion.openlibrary import OpenLibraryClient
from ingestion.throttle import DatabaseThrottle, RedisThrottle, Unthrottled, default_throttle
from tests.processes import child_env, manage, race_children

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
ENGINE = settings.DATABASES["default"]["ENGINE"]

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="set TEST_REDIS_URL to run against Redis")


class FrozenClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


# --- One process --------------------------------------------------------------------------------


def test_slots_are_one_interval_apart(db):
    clock = FrozenClock()
    throttle = DatabaseThrottle("slots", rps=4, clock=clock)
    assert [throttle.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    clock.now += 10  # idle for a while: the next slot is free at once
    assert throttle.reserve() == 0.0
    assert OpenLibraryThrottle.objects.get(name="slots").next_slot_at == clock.now + 0.25


def test_the_rate_comes_from_settings_when_not_given(db, settings):
    settings.OPEN_LIBRARY_MAX_RPS = 10
    throttle = DatabaseThrottle("from-settings", clock=FrozenClock())
    assert [round(throttle.reserve(), 6) for _ in range(3)] == [0.0, 0.1, 0.2]


def test_a_slot_far_in_the_future_is_treated_as_a_clock_jump(db, caplog):
    clock = FrozenClock()
    OpenLibraryThrottle.objects.create(name="jumped", next_slot_at=clock.now + 3600)
    throttle = DatabaseThrottle("jumped", rps=2, clock=clock)
    assert throttle.reserve() == 0.0
    assert throttle.reserve() == 0.5
    assert "starting afresh" in caplog.text


def test_acquire_sleeps_until_its_slot(db):
    waits = []
    throttle = DatabaseThrottle("sleeps", rps=2, clock=FrozenClock(), sleep=waits.append)
    assert [throttle.acquire() for _ in range(3)] == [0.0, 0.5, 1.0]
    assert waits == [0.5, 1.0]  # no sleep for a free slot


def test_ten_acquires_at_five_per_second_take_nine_intervals(db):
    throttle = DatabaseThrottle(unique_name(), rps=5)
    started = time.monotonic()
    for _ in range(10):
        throttle.acquire()
    elapsed = time.monotonic() - started
    assert 1.78 <= elapsed < 3


@pytest.mark.parametrize("rps", [0, -1])
def test_a_rate_of_zero_or_less_is_a_configuration_error(db, settings, rps):
    settings.OPEN_LIBRARY_MAX_RPS = rps
    with pytest.raises(ImproperlyConfigured, match="OPEN_LIBRARY_MAX_RPS"):
        DatabaseThrottle("zero").acquire()


def test_default_throttle_is_the_database_without_redis(settings):
    settings.REDIS_URL = ""
    assert isinstance(default_throttle(), DatabaseThrottle)


def test_default_throttle_is_redis_when_configured(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # never contacted: the client connects lazily
    throttle = default_throttle()
    assert isinstance(throttle, RedisThrottle)
    assert throttle.key == "olcs:throttle:openlibrary"


def test_the_client_uses_the_shared_throttle_by_default(settings):
    settings.REDIS_URL = ""
    assert isinstance(OpenLibraryClient().throttle, DatabaseThrottle)
    assert Unthrottled().acquire() == 0.0


@needs_redis
def test_redis_slots_are_one_interval_apart():
    throttle = RedisThrottle(unique_name(), url=TEST_REDIS_URL, rps=4)
    calls = []  # (local time before the call, the wait it was given, local time after)
    for _ in range(4):
        before = time.monotonic()
        wait = throttle.reserve()
        calls.append((before, wait, time.monotonic()))
    # Each call's slot is 0.25 s after the previous one's, counted from the first call's time;
    # a wait is its slot minus the time the call came later than the first. Bounded by the local
    # times around each call, so a slow machine between calls cannot fail it.
    first_before, _, first_after = calls[0]
    for (before, wait, after), slot in zip(calls, [0.0, 0.25, 0.5, 0.75], strict=True):
        assert 0 <= wait <= slot
        assert before - first_after - 0.005 <= slot - wait <= after - first_before + 0.005, (slot, wait)


# --- Several processes --------------------------------------------------------------------------

CHILD = """
import sys, time
from pathlib import Path

import django

django.setup()
from ingestion.throttle import DatabaseThrottle, RedisThrottle

backend, name, rps, count, go = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
if backend == "database":
    throttle = DatabaseThrottle(name, rps=rps)
else:
    throttle = RedisThrottle(name, url=backend, rps=rps)
print("ready", flush=True)
deadline = time.monotonic() + 30
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the go file never appeared")
    time.sleep(0.005)
for _ in range(count):
    throttle.acquire()
    print(repr(time.time()), flush=True)
"""
PROCESSES = 3
SLOTS_EACH = 4
RPS = 8


def take_slots_in_processes(
    tmp_path: Path, env: dict[str, str], backend: str, *, prepare: Callable[[], None] = lambda: None
) -> list[float]:
    """Start PROCESSES children on one throttle, let them go at once; all their slot times.

    `prepare` runs while the children start up (they touch nothing before the go file).
    """
    go = tmp_path / "go"
    name = unique_name()
    command = [sys.executable, "-c", CHILD, backend, name, str(RPS), str(SLOTS_EACH), str(go)]
    outputs = race_children(command, env, count=PROCESSES, go=go, timeout=30, prepare=prepare)
    return sorted(float(line) for out in outputs for line in out.split())


def assert_rate_respected(times: list[float]) -> None:
    assert len(times) == PROCESSES * SLOTS_EACH
    # No 1-second window holds more than RPS slots (+1: a late wake-up can pull a slot's
    # timestamp up to the next one's window edge).
    busiest = max(sum(1 for other in times if start <= other < start + 1) for start in times)
    assert busiest <= RPS + 1, times
    assert times[-1] - times[0] >= (len(times) - 1) / RPS - 0.05, times


@pytest.mark.slow
@pytest.mark.skipif(ENGINE != "django.db.backends.sqlite3", reason="the SQLite variant runs on SQLite")
def test_processes_share_one_sqlite_throttle(tmp_path):
    env = child_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")

    def migrate() -> None:
        manage(env, "migrate", "--noinput", "--skip-checks")

    assert_rate_respected(take_slots_in_processes(tmp_path, env, "database", prepare=migrate))


@pytest.mark.slow
@pytest.mark.skipif(
    ENGINE != "django.db.backends.postgresql", reason="the PostgreSQL variant runs on PostgreSQL"
)
def test_processes_share_one_postgresql_throttle(tmp_path, db):
    # The children use the test database pytest-django created and migrated (`db` makes sure
    # it exists); their rows commit outside this test's transaction, under a name of their own.
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    assert_rate_respected(take_slots_in_processes(tmp_path, child_env(url), "database"))


@pytest.mark.slow
@needs_redis
def test_processes_share_one_redis_throttle(tmp_path):
    env = child_env(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    assert_rate_respected(take_slots_in_processes(tmp_path, env, TEST_REDIS_URL))
