"""One throttle for every process of a deployment: at most OPEN_LIBRARY_MAX_RPS requests a second.

Open Library counts requests per IP, so a per-process limit would multiply by the number of
workers and web processes. The throttle hands out request slots `1/rps` seconds apart from one
shared "next free slot" time: taking a slot moves it to `max(next slot, now) + 1/rps`, and the
caller sleeps until the start of its slot. The shared time lives in Redis when REDIS_URL is set
(one atomic Lua script on the server's clock), otherwise in the database (one short transaction
on an `OpenLibraryThrottle` row, `SELECT ... FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE
transactions already serialise writers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from ingestion.models import OpenLibraryThrottle
from olcs.redis import redis_client

logger = logging.getLogger(__name__)

DEFAULT_NAME = "openlibrary"
# A next slot further ahead than this cannot come from a real queue of waiting requests (that
# would be hundreds of them): it comes from a clock that jumped, so the throttle starts afresh.
MAX_QUEUE_SECONDS = 60.0


class Throttle(Protocol):
    def acquire(self) -> float:
        """Wait for a request slot; returns the seconds waited."""
        ...


def requests_per_second(rps: float | None = None) -> float:
    """The rate to apply: `rps` when given, else settings.OPEN_LIBRARY_MAX_RPS (must be > 0)."""
    value = settings.OPEN_LIBRARY_MAX_RPS if rps is None else rps
    if not value or value <= 0:
        raise ImproperlyConfigured(f"OPEN_LIBRARY_MAX_RPS must be more than 0, got {value!r}")
    return float(value)


class Unthrottled:
    """No waiting at all: for tests that fake Open Library, and for one-off scripts."""

    def acquire(self) -> float:
        return 0.0


class DatabaseThrottle:
    """The shared slot kept in the `OpenLibraryThrottle` row called `name`.

    Each acquire is one short transaction (a savepoint when the caller is already inside one).
    Inside a caller's long transaction, the row stays locked until that transaction ends, which
    makes every other process wait: call Open Library outside `transaction.atomic()` blocks.
    Processes on several hosts need synchronised clocks (NTP); Redis has no such need.
    """

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        rps: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        using: str = "default",
    ) -> None:
        self.name = name
        self.rps = rps
        self.sleep = sleep
        self.clock = clock
        self.using = using

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds from now it starts (0 if free now)."""
        interval = 1.0 / requests_per_second(self.rps)
        with transaction.atomic(using=self.using):
            row, _ = (
                OpenLibraryThrottle.objects.using(self.using)
                .select_for_update()
                .get_or_create(name=self.name)
            )
            now = self.clock()  # read once the row is ours, or a slow lock would skew it
            slot = max(row.next_slot_at, now)
            if slot - now > MAX_QUEUE_SECONDS:
                logger.warning(
                    "throttle %s had its next slot %.0f s ahead; starting afresh",
                    self.name,
                    slot - now,
                    extra={"throttle": self.name},
                )
                slot = now
            OpenLibraryThrottle.objects.using(self.using).filter(pk=row.pk).update(
                next_slot_at=slot + interval
            )
        return slot - now

    def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)
        return wait


# KEYS[1]: the slot key. ARGV: interval seconds, max queue seconds. Returns the wait as a string
# (Lua numbers come back from Redis truncated to integers). TIME is the server's clock, the same
# for every client host.
_REDIS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now or slot - now > tonumber(ARGV[2]) then
  slot = now
end
local ttl_ms = math.ceil((slot - now + interval + 60) * 1000)
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl_ms)
return string.format('%.6f', slot - now)
"""


class RedisThrottle:
    """The shared slot kept in Redis under `olcs:throttle:<name>`, taken by one Lua script."""

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        url: str | None = None,
        rps: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.url = url or settings.REDIS_URL
        self.rps = rps
        self.sleep = sleep
        self.key = f"olcs:throttle:{name}"
        self._script = redis_client(self.url, connect_timeout=2, timeout=5).register_script(_REDIS_SCRIPT)

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds from now it starts (0 if free now)."""
        interval = 1.0 / requests_per_second(self.rps)
        return float(self._script(keys=[self.key], args=[repr(interval), repr(MAX_QUEUE_SECONDS)]))

    def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)
        return wait


def default_throttle(name: str = DEFAULT_NAME) -> Throttle:
    """The deployment's shared throttle: Redis when REDIS_URL is set, else the database."""
    if settings.REDIS_URL:
        return RedisThrottle(name)
    return DatabaseThrottle(name)
