"""Per-library rate limits on API requests and ingestion jobs, exact under concurrency.

Each library has two limits (buckets): `api` (every tenant-scoped request) and `ingestion`
(jobs created). A limit is `requests` per `window_seconds`: the library's own, set by a
superuser in the admin, or the deployment's (API_RATE_LIMIT_*, INGESTION_RATE_LIMIT_*).

Strategies (RATE_LIMIT_STRATEGY):

- `sliding` (default): a sliding log. Every admitted request leaves an entry with its time; a
  request is admitted only if the entries of the last window plus itself stay within the
  limit. No span of one window length ever holds more than `limit` admitted requests.
- `fixed`: one counter per window, windows aligned to multiples of the window length since
  the epoch (the original service's behaviour: up to 2 x limit across a window boundary).

Stores, chosen like ingestion/throttle.py's: Redis when REDIS_URL is set (one Lua script per
decision, on Redis' clock), otherwise the database (one short transaction per decision; see
DatabaseStore). Either way the check and the update are one atomic step in the store, never a
read-modify-write in Python. Refused requests consume nothing; a batch takes all its slots or
none. When the store fails, the request is allowed and a warning logged (fail open,
docs/decisions/0019-rate-limit-store-failures.md).

Times are whole microseconds since the epoch: exact integer arithmetic, and exact as Redis
sorted-set scores (doubles hold integers up to 2**53).
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from redis.exceptions import RedisError

from olcs.http import RateLimited
from olcs.redis import redis_client
from tenants.models import RateLimitBucket, Tenant

logger = logging.getLogger(__name__)

SLIDING = "sliding"
FIXED = "fixed"
MICROSECONDS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Where the limiter reads the time, in seconds since the epoch. None: the store's own clock,
# Redis' TIME on Redis (one clock for every host) or this host's clock for the database. Tests
# replace it with a clock they move by hand.
clock: Callable[[], float] | None = None


class StoreUnavailable(Exception):
    """The rate limit store could not be read (only the usage report raises it)."""


@dataclass(frozen=True)
class Limit:
    requests: int
    window_seconds: int

    @property
    def window_us(self) -> int:
        return self.window_seconds * MICROSECONDS


def limit_for(*, tenant: Tenant, bucket: str) -> Limit:
    """The library's own limit where a superuser set one, else the deployment's default."""
    if bucket == RateLimitBucket.API:
        return Limit(
            tenant.api_rate_limit_requests or settings.API_RATE_LIMIT_REQUESTS,
            tenant.api_rate_limit_window_seconds or settings.API_RATE_LIMIT_WINDOW_SECONDS,
        )
    return Limit(
        tenant.ingestion_rate_limit_requests or settings.INGESTION_RATE_LIMIT_REQUESTS,
        tenant.ingestion_rate_limit_window_seconds or settings.INGESTION_RATE_LIMIT_WINDOW_SECONDS,
    )


def _ceil_seconds(microseconds: int) -> int:
    return -(-microseconds // MICROSECONDS)


@dataclass(frozen=True)
class Usage:
    """One bucket as a decision left it (or as read): the figures of headers and report.

    `free_at_us`: when the oldest used slot frees up (None when nothing is used).
    `retry_at_us`: when the refused request would fit (None when it was allowed).
    `receipt`: what a store needs to give the slots back (Redis; see take_ingestion_slots).
    """

    strategy: str
    limit: int
    window_seconds: int
    allowed: bool
    used: int
    now_us: int
    window_start_us: int
    free_at_us: int | None = None
    retry_at_us: int | None = None
    receipt: tuple | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def window_end_us(self) -> int:
        if self.strategy == FIXED:
            return self.window_start_us + self.window_seconds * MICROSECONDS
        return self.now_us

    @property
    def window_start(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.window_start_us)

    @property
    def window_end(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.window_end_us)

    @property
    def reset_seconds(self) -> int:
        """Whole seconds (rounded up) until a used slot frees up: 0 to the window length."""
        if not self.used or self.free_at_us is None:
            return 0
        return min(max(_ceil_seconds(self.free_at_us - self.now_us), 0), self.window_seconds)

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds (rounded up, at least 1) until the refused request would be allowed."""
        if self.retry_at_us is None:
            return 0
        return min(max(_ceil_seconds(self.retry_at_us - self.now_us), 1), self.window_seconds)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


def fixed_window_start(now_us: int, limit: Limit) -> int:
    return now_us - now_us % limit.window_us


def _refused_batch(*, strategy: str, limit: Limit, used: int, now_us: int, window_start_us: int) -> Usage:
    """A batch larger than the whole limit never fits; its Retry-After is one window."""
    return Usage(
        strategy=strategy,
        limit=limit.requests,
        window_seconds=limit.window_seconds,
        allowed=False,
        used=used,
        now_us=now_us,
        window_start_us=window_start_us,
        retry_at_us=now_us + limit.window_us,
    )


class Store(Protocol):
    name: str

    def take(
        self, *, tenant_id: int, bucket: str, limit: Limit, strategy: str, count: int, now_us: int | None
    ) -> Usage:
        """Take `count` slots if they all fit (count 0: only read); the bucket afterwards."""
        ...

    def give_back(self, usage: Usage) -> None:
        """Return the slots of an allowed `usage` whose work was abandoned."""
        ...


# --- Database store ------------------------------------------------------------------------------

_FIXED_TAKE_SQL = """
INSERT INTO tenants_ratelimitcounter (tenant_id, bucket, window_start_us, used)
VALUES (%s, %s, %s, %s)
ON CONFLICT (tenant_id, bucket) DO UPDATE SET
    used = CASE WHEN tenants_ratelimitcounter.window_start_us < excluded.window_start_us
                THEN excluded.used
                ELSE tenants_ratelimitcounter.used + excluded.used END,
    window_start_us = CASE WHEN tenants_ratelimitcounter.window_start_us < excluded.window_start_us
                           THEN excluded.window_start_us
                           ELSE tenants_ratelimitcounter.window_start_us END
WHERE CASE WHEN tenants_ratelimitcounter.window_start_us < excluded.window_start_us
           THEN 0
           ELSE tenants_ratelimitcounter.used END + excluded.used <= %s
RETURNING used, window_start_us
"""
_FIXED_READ_SQL = (
    "SELECT used, window_start_us FROM tenants_ratelimitcounter WHERE tenant_id = %s AND bucket = %s"
)
_LOCK_SQL = "SELECT id FROM tenants_ratelimitcounter WHERE tenant_id = %s AND bucket = %s FOR UPDATE"
# The same, in a transaction of the limiter's own: its commit need not wait for the WAL flush
# (a crash may forget the last fraction of a second of hits; it never breaks the count).
_LOCK_ASYNC_COMMIT_SQL = """
SELECT id, set_config('synchronous_commit', 'off', true) FROM tenants_ratelimitcounter
WHERE tenant_id = %s AND bucket = %s FOR UPDATE
"""
_CREATE_COUNTER_SQL = """
INSERT INTO tenants_ratelimitcounter (tenant_id, bucket, window_start_us, used) VALUES (%s, %s, 0, 0)
ON CONFLICT (tenant_id, bucket) DO NOTHING
"""
# The bucket's hits in the window (their weight and the oldest), and how many have left it.
_COUNT_HITS_SQL = """
SELECT COALESCE(SUM(weight) FILTER (WHERE at_us > %s), 0), MIN(at_us) FILTER (WHERE at_us > %s),
       COUNT(*) FILTER (WHERE at_us <= %s)
FROM tenants_ratelimithit WHERE tenant_id = %s AND bucket = %s
"""
_EXPIRE_HITS_SQL = "DELETE FROM tenants_ratelimithit WHERE tenant_id = %s AND bucket = %s AND at_us <= %s"
_LIST_HITS_SQL = """
SELECT at_us, weight FROM tenants_ratelimithit
WHERE tenant_id = %s AND bucket = %s AND at_us > %s ORDER BY at_us
"""
_ADD_HIT_SQL = "INSERT INTO tenants_ratelimithit (tenant_id, bucket, at_us, weight) VALUES (%s, %s, %s, %s)"
# Hits that left the window are deleted once this many have gathered: one DELETE every few
# requests instead of one each, and never more than limit + this many rows per bucket.
EXPIRED_HITS_BATCH = 16


class DatabaseStore:
    """Counters (`RateLimitCounter`) and sliding logs (`RateLimitHit`) in the database.

    fixed: one statement, `INSERT … ON CONFLICT DO UPDATE … WHERE used + n <= limit RETURNING`.
    The database applies the condition to the latest row version under the row lock the upsert
    takes, so concurrent requests queue on the row and never overshoot; no row back: refused.

    sliding: one short transaction (a savepoint inside the caller's). On PostgreSQL it first
    locks the library's counter row (`SELECT … FOR UPDATE`): under READ COMMITTED two
    transactions that each count the log and then insert would both see room for one more. The
    count is a statement of its own after the lock, so it sees every hit committed before it.
    On SQLite, transactions begin IMMEDIATE (olcs/settings.py): the transaction holds the write
    lock from its start, which already serialises every writer. Then: count the window's hits,
    add one if it fits, and delete the hits that left the window once a few have gathered.

    Processes on several hosts need synchronised clocks (NTP); Redis has no such need.
    """

    name = "database"

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def take(
        self, *, tenant_id: int, bucket: str, limit: Limit, strategy: str, count: int, now_us: int | None
    ) -> Usage:
        now_us = round(time.time() * MICROSECONDS) if now_us is None else now_us
        connection = connections[self.using]
        nested = connection.in_atomic_block
        if count > limit.requests:
            start = fixed_window_start(now_us, limit) if strategy == FIXED else now_us - limit.window_us
            return _refused_batch(
                strategy=strategy, limit=limit, used=0, now_us=now_us, window_start_us=start
            )
        if count == 0 or strategy == FIXED:
            # One statement (a refusal adds a read). Alone it needs no transaction (on SQLite that
            # would take the write lock for a read); inside the caller's it gets a savepoint, so
            # that a failure here cannot break the caller's transaction.
            with (
                transaction.atomic(using=self.using) if nested else nullcontext(),
                connection.cursor() as cursor,
            ):
                if strategy == FIXED:
                    return self._take_fixed(
                        cursor, tenant_id=tenant_id, bucket=bucket, limit=limit, count=count, now_us=now_us
                    )
                return self._count_sliding(
                    cursor, tenant_id=tenant_id, bucket=bucket, limit=limit, count=0, now_us=now_us
                )
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            if connection.features.has_select_for_update:
                lock = _LOCK_SQL if nested else _LOCK_ASYNC_COMMIT_SQL
                cursor.execute(lock, [tenant_id, bucket])
                if cursor.fetchone() is None:
                    cursor.execute(_CREATE_COUNTER_SQL, [tenant_id, bucket])
                    cursor.execute(lock, [tenant_id, bucket])
            usage = self._count_sliding(
                cursor, tenant_id=tenant_id, bucket=bucket, limit=limit, count=count, now_us=now_us
            )
            if usage.allowed:
                cursor.execute(_ADD_HIT_SQL, [tenant_id, bucket, now_us, count])
            return usage

    def give_back(self, usage: Usage) -> None:
        # Slots are taken inside the caller's transaction: abandoning the work rolls them back.
        return None

    def _take_fixed(
        self, cursor, *, tenant_id: int, bucket: str, limit: Limit, count: int, now_us: int
    ) -> Usage:
        if count:
            start = fixed_window_start(now_us, limit)
            cursor.execute(_FIXED_TAKE_SQL, [tenant_id, bucket, start, count, limit.requests])
            row = cursor.fetchone()
            if row is not None:
                used, window_start_us = row
                return Usage(
                    strategy=FIXED,
                    limit=limit.requests,
                    window_seconds=limit.window_seconds,
                    allowed=True,
                    used=used,
                    now_us=now_us,
                    window_start_us=window_start_us,
                    free_at_us=window_start_us + limit.window_us,
                )
        # Only a read, or refused: the current window's count.
        start = fixed_window_start(now_us, limit)
        cursor.execute(_FIXED_READ_SQL, [tenant_id, bucket])
        row = cursor.fetchone()
        used = 0
        if row is not None and row[1] >= start:
            # A later window than this host's clock says comes from a host whose clock is ahead.
            used, start = row
        end = start + limit.window_us
        return Usage(
            strategy=FIXED,
            limit=limit.requests,
            window_seconds=limit.window_seconds,
            allowed=count == 0,
            used=used,
            now_us=now_us,
            window_start_us=start,
            free_at_us=end if used else None,
            retry_at_us=end if count else None,
        )

    def _count_sliding(
        self, cursor, *, tenant_id: int, bucket: str, limit: Limit, count: int, now_us: int
    ) -> Usage:
        """The log's last window; with `count`, whether that many more fit (the caller adds them)."""
        since = now_us - limit.window_us
        cursor.execute(_COUNT_HITS_SQL, [since, since, since, tenant_id, bucket])
        used, oldest, expired = cursor.fetchone()
        used = int(used)
        if count and expired >= EXPIRED_HITS_BATCH:
            cursor.execute(_EXPIRE_HITS_SQL, [tenant_id, bucket, since])
        fits = count == 0 or used + count <= limit.requests
        retry_at = None
        if not fits:
            # The refused request fits once enough of the oldest hits have left the window.
            to_free = used + count - limit.requests
            retry_at = oldest + limit.window_us
            if to_free > 1:
                cursor.execute(_LIST_HITS_SQL, [tenant_id, bucket, since])
                freed = 0
                for at_us, weight in cursor.fetchall():
                    freed += weight
                    if freed >= to_free:
                        retry_at = at_us + limit.window_us
                        break
        elif count:
            used += count
            oldest = now_us if oldest is None else min(oldest, now_us)
        return Usage(
            strategy=SLIDING,
            limit=limit.requests,
            window_seconds=limit.window_seconds,
            allowed=fits,
            used=used,
            now_us=now_us,
            window_start_us=since,
            free_at_us=None if oldest is None else oldest + limit.window_us,
            retry_at_us=retry_at,
        )


# --- Redis store ---------------------------------------------------------------------------------

# ARGV[1] is the time in microseconds, or '' for Redis' own clock (TIME), the same for every host.
_REDIS_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
"""

# KEYS[1]: the bucket's log, a sorted set of entries scored by their time.
# ARGV: now, window (µs), limit, count (0: only read), a unique id for the new entries.
# Returns {allowed, used, now, oldest entry's score or '', score of the entry whose expiry lets
# a refused request fit or ''}. Scores are strings: Lua would turn big numbers into floats.
_SLIDING_SCRIPT = (
    _REDIS_NOW
    + """
local window, limit, count = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count > 0 and used + count <= limit then
  for i = 1, count do
    redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  used = used + count
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or ''
local frees = ''
if count > 0 and allowed == 0 then
  local rank = used + count - limit - 1
  frees = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')[2] or ''
end
return {allowed, used, now, oldest, frees}
"""
)

# KEYS[1]: the bucket's counter, a hash {start: window start (µs), used}.
# ARGV: now, window (µs), limit, count (0: only read). Returns {allowed, used, now, start}.
# A counter of a later window than this clock's (another host's clock is ahead) is kept.
_FIXED_SCRIPT = (
    _REDIS_NOW
    + """
local window, limit, count = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local start = now - (now % window)
local saved = redis.call('HMGET', KEYS[1], 'start', 'used')
local used = 0
if saved[1] and tonumber(saved[1]) >= start then
  start = tonumber(saved[1])
  used = tonumber(saved[2])
end
local allowed = 0
if count > 0 and used + count <= limit then
  used = used + count
  redis.call('HSET', KEYS[1], 'start', start, 'used', used)
  redis.call('PEXPIRE', KEYS[1], math.ceil((start + window - now) / 1000) + 1000)
  allowed = 1
end
return {allowed, used, now, start}
"""
)

# Give back a fixed window's slots, if that window is still the counter's.
_FIXED_GIVE_BACK_SCRIPT = """
local saved = redis.call('HMGET', KEYS[1], 'start', 'used')
if saved[1] and tonumber(saved[1]) == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'used', math.max(tonumber(saved[2]) - tonumber(ARGV[2]), 0))
end
return 0
"""


class RedisStore:
    """Counters and sliding logs in Redis, each decision one Lua script (atomic on the server).

    Keys `<prefix>:<tenant id>:<bucket>` (fixed: `…:fixed`), one per bucket so the scripts touch
    a single key (Redis Cluster friendly); they expire a second after their last window.
    """

    name = "redis"

    def __init__(
        self, *, url: str | None = None, prefix: str = "olcs:ratelimit", timeout: float | None = None
    ):
        self.url = url or settings.REDIS_URL
        self.prefix = prefix
        # Short timeouts and fail_fast: a Redis that is down or does not answer should cost a
        # request at most about one timeout before the limiter fails open.
        client = redis_client(
            self.url,
            timeout=settings.RATE_LIMIT_REDIS_TIMEOUT_SECONDS if timeout is None else timeout,
            fail_fast=True,
        )
        self.client = client
        self._sliding = client.register_script(_SLIDING_SCRIPT)
        self._fixed = client.register_script(_FIXED_SCRIPT)
        self._fixed_give_back = client.register_script(_FIXED_GIVE_BACK_SCRIPT)

    def key(self, tenant_id: int, bucket: str, strategy: str) -> str:
        key = f"{self.prefix}:{tenant_id}:{bucket}"
        return f"{key}:fixed" if strategy == FIXED else key

    def take(
        self, *, tenant_id: int, bucket: str, limit: Limit, strategy: str, count: int, now_us: int | None
    ) -> Usage:
        key = self.key(tenant_id, bucket, strategy)
        now_arg = "" if now_us is None else str(now_us)
        if strategy == FIXED:
            allowed, used, now, start = self._fixed(
                keys=[key], args=[now_arg, limit.window_us, limit.requests, count]
            )
            if count > limit.requests:
                return _refused_batch(
                    strategy=FIXED, limit=limit, used=int(used), now_us=int(now), window_start_us=int(start)
                )
            end = int(start) + limit.window_us
            return Usage(
                strategy=FIXED,
                limit=limit.requests,
                window_seconds=limit.window_seconds,
                allowed=bool(allowed) or count == 0,
                used=int(used),
                now_us=int(now),
                window_start_us=int(start),
                free_at_us=end if used else None,
                retry_at_us=None if allowed or count == 0 else end,
                receipt=(key, str(start), count) if allowed else None,
            )
        entry = secrets.token_hex(8)
        allowed, used, now, oldest, frees = self._sliding(
            keys=[key], args=[now_arg, limit.window_us, limit.requests, count, entry]
        )
        now = int(now)
        if count > limit.requests:
            return _refused_batch(
                strategy=SLIDING,
                limit=limit,
                used=int(used),
                now_us=now,
                window_start_us=now - limit.window_us,
            )
        return Usage(
            strategy=SLIDING,
            limit=limit.requests,
            window_seconds=limit.window_seconds,
            allowed=bool(allowed) or count == 0,
            used=int(used),
            now_us=now,
            window_start_us=now - limit.window_us,
            free_at_us=int(float(oldest)) + limit.window_us if oldest else None,
            retry_at_us=int(float(frees)) + limit.window_us if frees else None,
            receipt=(key, [f"{entry}:{i}" for i in range(1, count + 1)]) if allowed else None,
        )

    def give_back(self, usage: Usage) -> None:
        if usage.receipt is None:
            return
        if usage.strategy == FIXED:
            key, start, count = usage.receipt
            self._fixed_give_back(keys=[key], args=[start, count])
        else:
            key, entries = usage.receipt
            self.client.zrem(key, *entries)


# --- The services the API calls ------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _redis_store(url: str) -> RedisStore:
    return RedisStore(url=url)


def default_store() -> Store:
    """The deployment's store: Redis when REDIS_URL is set, else the database."""
    if settings.REDIS_URL:
        return _redis_store(settings.REDIS_URL)
    return DatabaseStore()


def _now_us() -> int | None:
    return None if clock is None else round(clock() * MICROSECONDS)


def _store_failed(exc: Exception, *, store: Store, tenant: Tenant, bucket: str, action: str) -> None:
    # The type only for database errors: their messages can quote SQL, which is never logged.
    error = type(exc).__name__ if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {exc}"
    logger.warning(
        "rate limit store unavailable: %s; %s",
        store.name,
        action,
        extra={"store": store.name, "tenant": tenant.slug, "bucket": bucket, "error": error},
    )


def _decide(*, store: Store, tenant: Tenant, bucket: str, count: int) -> Usage | None:
    try:
        return store.take(
            tenant_id=tenant.pk,
            bucket=bucket,
            limit=limit_for(tenant=tenant, bucket=bucket),
            strategy=settings.RATE_LIMIT_STRATEGY,
            count=count,
            now_us=_now_us(),
        )
    except (DatabaseError, RedisError) as exc:
        action = "request allowed (fail open)" if count else "usage unknown"
        _store_failed(exc, store=store, tenant=tenant, bucket=bucket, action=action)
        return None


def take_slots(*, tenant: Tenant, bucket: str, count: int = 1) -> Usage | None:
    """Take `count` slots of one of the library's limits: all of them if they fit, else none.

    Returns the bucket as the decision left it (`allowed` says which), or None when limiting is
    off or the store failed, in which case the request goes ahead (fail open).
    """
    if not settings.RATE_LIMIT_ENABLED:
        return None
    return _decide(store=default_store(), tenant=tenant, bucket=bucket, count=count)


def read_usage(*, tenant: Tenant, bucket: str) -> Usage | None:
    """One of the library's limits as it stands, consuming nothing; None as for take_slots."""
    if not settings.RATE_LIMIT_ENABLED:
        return None
    return _decide(store=default_store(), tenant=tenant, bucket=bucket, count=0)


def report_usage(*, tenant: Tenant) -> dict[str, Usage]:
    """Both of the library's limits, {"api": …, "ingestion": …}, consuming nothing.

    With limiting off nothing is counted, so each shows its limit with nothing used. Raises
    StoreUnavailable when the store cannot be read.
    """
    if not settings.RATE_LIMIT_ENABLED:
        return {bucket: _unused(tenant=tenant, bucket=bucket) for bucket in RateLimitBucket.values}
    store = default_store()
    report = {}
    for bucket in RateLimitBucket.values:
        usage = _decide(store=store, tenant=tenant, bucket=bucket, count=0)
        if usage is None:
            raise StoreUnavailable
        report[bucket] = usage
    return report


def _unused(*, tenant: Tenant, bucket: str) -> Usage:
    limit = limit_for(tenant=tenant, bucket=bucket)
    now_us = _now_us() or round(time.time() * MICROSECONDS)
    strategy = settings.RATE_LIMIT_STRATEGY
    return Usage(
        strategy=strategy,
        limit=limit.requests,
        window_seconds=limit.window_seconds,
        allowed=True,
        used=0,
        now_us=now_us,
        window_start_us=fixed_window_start(now_us, limit) if strategy == FIXED else now_us - limit.window_us,
    )


def _duration_words(seconds: int) -> str:
    """A wait as a librarian says it: "40 seconds", "23 minutes", "2 hours 5 minutes"."""
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = -(-seconds // 60)
    if minutes <= 60:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours, minutes = divmod(minutes, 60)
    words = "1 hour" if hours == 1 else f"{hours} hours"
    if minutes:
        words += " 1 minute" if minutes == 1 else f" {minutes} minutes"
    return words


def _window_words(seconds: int) -> str:
    """ "this hour" for a window of 3600 s; "these 30 minutes" for 1800 s."""
    for length, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds == length:
            return f"this {unit}"
    return f"these {_duration_words(seconds)}"


class IngestionBudgetExceeded(RateLimited):
    """The library's ingestion budget cannot take `cost` more jobs now.

    On the API it is the 429 of RateLimited (same body, `Retry-After`); the admin shows
    `sentence`, the same in a librarian's words.
    """

    def __init__(self, *, usage: Usage, cost: int) -> None:
        super().__init__(wait=usage.retry_after_seconds)
        self.cost = cost
        self.limit = usage.limit
        self.used = usage.used
        self.window_seconds = usage.window_seconds

    @property
    def sentence(self) -> str:
        window = _window_words(self.window_seconds)
        remaining = max(self.limit - self.used, 0)
        if self.cost > self.limit:
            return (
                f"This counts as {self.cost} ingestion jobs, more than this library's {self.limit} "
                f"for {window}; ask for fewer works at a time."
            )
        wait = _duration_words(self.wait)
        if remaining == 0:
            return f"This library has used its {self.limit} ingestion jobs for {window}; try again in {wait}."
        return (
            f"This counts as {self.cost} ingestion jobs and this library has {remaining} of its "
            f"{self.limit} left for {window}; try again in {wait}."
        )


@contextmanager
def take_ingestion_slots(*, tenant: Tenant, count: int) -> Iterator[Usage | None]:
    """Take `count` ingestion slots for the jobs the block creates, or raise
    IngestionBudgetExceeded (a RateLimited).

    Use it inside the `transaction.atomic()` that creates the jobs: in the database store the
    slots commit or roll back with them; the Redis store gets them back when the block raises.
    """
    if not settings.RATE_LIMIT_ENABLED:
        yield None
        return
    store = default_store()
    usage = _decide(store=store, tenant=tenant, bucket=RateLimitBucket.INGESTION, count=count)
    if usage is not None and not usage.allowed:
        raise IngestionBudgetExceeded(usage=usage, cost=count)
    try:
        yield usage
    except BaseException:
        if usage is not None:
            try:
                store.give_back(usage)
            except (DatabaseError, RedisError) as exc:
                _store_failed(
                    exc,
                    store=store,
                    tenant=tenant,
                    bucket=RateLimitBucket.INGESTION,
                    action="slots not given back",
                )
        raise
