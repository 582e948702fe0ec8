"""The one Redis client of the project: one connection pool per URL and timeouts, shared by
every caller in the process (the rate limiter, the Open Library throttle)."""

from __future__ import annotations

import functools

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry


@functools.lru_cache(maxsize=16)
def redis_client(
    url: str, *, timeout: float, connect_timeout: float | None = None, fail_fast: bool = False
) -> redis.Redis:
    """A client of the Redis at `url`, cached per (url, timeouts, fail_fast); it connects lazily.

    `timeout` bounds each command and, unless `connect_timeout` is given, each connect.
    `fail_fast`: one retry, at once, only when a pooled connection broke (it may have died with a
    Redis restart), instead of redis-py's retries with backoff, for a caller that must answer
    within about one timeout when Redis is down or does not answer.
    """
    options: dict[str, object] = {
        "socket_connect_timeout": timeout if connect_timeout is None else connect_timeout,
        "socket_timeout": timeout,
    }
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return redis.from_url(url, **options)
