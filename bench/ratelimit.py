"""Rate limiter benchmark: exactness under contention, and the latency the limiter adds.

1. Exactness: 6 processes x 8 threads hammer one library whose limit is 60 per hour, through the
   limiter's store directly, once per strategy (sliding log, fixed window). Exactly 60 must be
   allowed each time.
2. Latency of one decision (p50/p95, one thread): allowed requests spread over 50 libraries
   (60 per minute each, the default; none is refused), and refused requests of a library over
   its limit.
3. Latency added to a request, in-process (Django test client, GET /tenants/{slug} of 20 or
   more libraries): the same requests with limiting on and off, and the limiter's own time inside them
   (the request difference is within the noise of a shared machine; the limiter's time is not).

    .venv/bin/python bench/ratelimit.py                                  # SQLite file in a temp dir
    DATABASE_URL=postgres://olcs:olcs@127.0.0.1:5432/olcs_ratelimit_bench .venv/bin/python bench/ratelimit.py
    .venv/bin/python bench/ratelimit.py --redis redis://127.0.0.1:6399/0  # Redis (the database holds the libraries)

The PostgreSQL database must exist (`createdb`); the bench migrates it. Redis keys get a
prefix of their own and are deleted at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT = 60
HOUR = 3600


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "olcs.settings")
    # In-process on the development keys: development mode, as before DEBUG defaulted to false.
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("TESTING", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["RATE_LIMIT_ENABLED"] = "true"
    import django

    django.setup()


def make_store(redis_url: str | None, prefix: str):
    from tenants.ratelimit import DatabaseStore, RedisStore

    return RedisStore(url=redis_url, prefix=prefix) if redis_url else DatabaseStore()


def hammer(database_url: str, redis_url: str | None, prefix: str, tenant_id: int, strategy: str,
           threads: int, attempts: int, go: str, results) -> None:  # fmt: skip
    """One process: `threads` threads, each trying `attempts` times once `go` exists."""
    setup_django(database_url)
    from django.db import connection

    from tenants.ratelimit import Limit

    store = make_store(redis_url, prefix)
    allowed = 0
    lock = threading.Lock()
    connected = threading.Barrier(threads + 1)
    go_now = threading.Event()

    def run() -> None:
        nonlocal allowed
        if redis_url:
            store.client.ping()
        else:
            connection.ensure_connection()
        connected.wait()
        go_now.wait()
        mine = 0
        for _ in range(attempts):
            usage = store.take(
                tenant_id=tenant_id,
                bucket="api",
                limit=Limit(LIMIT, HOUR),
                strategy=strategy,
                count=1,
                now_us=None,
            )
            mine += usage.allowed
        with lock:
            allowed += mine
        connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    connected.wait()
    while not os.path.exists(go):
        time.sleep(0.001)
    go_now.set()
    for worker in workers:
        worker.join()
    results.put(allowed)


def exactness(args, database_url: str, prefix: str) -> list[tuple[str, int, int, float]]:

    rows = []
    context = multiprocessing.get_context("spawn")
    for strategy in ("sliding", "fixed"):
        tenant = new_library(f"bench-exact-{strategy}-{uuid.uuid4().hex[:6]}")
        results = context.Queue()
        go = os.path.join(tempfile.mkdtemp(prefix="olcs-bench-go-"), "go")
        processes = [
            context.Process(
                target=hammer,
                args=(
                    database_url,
                    args.redis,
                    prefix,
                    tenant.pk,
                    strategy,
                    args.threads,
                    args.attempts,
                    go,
                    results,
                ),
            )
            for _ in range(args.processes)
        ]
        for process in processes:
            process.start()
        time.sleep(args.warmup)  # every process set up and connected before the race starts
        started = time.perf_counter()
        Path(go).touch()
        allowed = sum(results.get(timeout=300) for _ in processes)
        elapsed = time.perf_counter() - started
        for process in processes:
            process.join()
        rows.append((strategy, args.processes * args.threads * args.attempts, allowed, elapsed))
    return rows


def new_library(slug: str):
    from tenants.models import Tenant

    return Tenant.objects.create(name=slug, slug=slug)


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples_ms, n=100)
    return statistics.median(samples_ms), cuts[94]


def decision_latency(args, store) -> list[tuple[str, float, float]]:
    from tenants.ratelimit import Limit

    rows = []
    tag = uuid.uuid4().hex[:6]
    tenants = [new_library(f"bench-lat-{tag}-{n}") for n in range(50)]
    over = new_library(f"bench-over-{tag}")
    for strategy, bucket in (("sliding", "api"), ("fixed", "ingestion")):
        allowed_ms = []
        for n in range(args.samples):
            tenant = tenants[n % len(tenants)]
            started = time.perf_counter()
            usage = store.take(
                tenant_id=tenant.pk,
                bucket=bucket,
                limit=Limit(LIMIT, 60),
                strategy=strategy,
                count=1,
                now_us=None,
            )
            allowed_ms.append((time.perf_counter() - started) * 1000)
            assert usage.allowed, "a library went over its limit: use fewer samples"
        refused_ms = []
        for _ in range(LIMIT + args.samples // 4):
            started = time.perf_counter()
            usage = store.take(
                tenant_id=over.pk,
                bucket=bucket,
                limit=Limit(LIMIT, HOUR),
                strategy=strategy,
                count=1,
                now_us=None,
            )
            refused_ms.append((time.perf_counter() - started) * 1000)
        assert not usage.allowed
        rows.append((f"{strategy}, allowed", *percentiles(allowed_ms[len(tenants) :])))
        rows.append((f"{strategy}, refused", *percentiles(refused_ms[LIMIT:])))
    return rows


def http_latency(args, label: str = "") -> list[tuple[str, float, float]]:
    """Requests with limiting off and on, interleaved in rounds so that a slow spell of the
    machine hits both alike; and the limiter's own time inside the requests that had it."""
    from django.conf import settings
    from django.test import Client

    from tenants import ratelimit
    from tenants.services import issue_api_key

    tag = uuid.uuid4().hex[:6]
    clients = []
    # Enough libraries that none reaches the default limit of 60 a minute.
    for n in range(max(20, args.http_requests // 40)):
        tenant = new_library(f"bench-http-{tag}-{n}")
        _, raw_key = issue_api_key(tenant=tenant, name="bench", scopes=["catalog:read"])
        clients.append((f"/tenants/{tenant.slug}", Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")))
    in_limiter: list[float] = []
    take_slots = ratelimit.take_slots

    def timed_take_slots(**kwargs):
        started = time.perf_counter()
        try:
            return take_slots(**kwargs)
        finally:
            in_limiter.append((time.perf_counter() - started) * 1000)

    ratelimit.take_slots = timed_take_slots
    measured: dict[str, list[float]] = {"off": [], "on": []}
    per_round = len(clients) * 10
    try:
        for round_ in range(max(args.http_requests // per_round, 2)):
            for mode in ("off", "on"):
                settings.RATE_LIMIT_ENABLED = mode == "on"
                for n in range(per_round):
                    path, client = clients[n % len(clients)]
                    started = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.status_code
                    assert ("X-RateLimit-Remaining" in response) == (mode == "on")
                    if round_:  # the first round warms up
                        measured[mode].append(elapsed)
    finally:
        ratelimit.take_slots = take_slots
        settings.RATE_LIMIT_ENABLED = True
    return [
        (f"request, limiting off{label}", *percentiles(measured["off"])),
        (f"request, limiting on{label}", *percentiles(measured["on"])),
        (f"the limiter in it{label}", *percentiles(in_limiter[per_round:])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", help="a Redis URL: measure the Redis store instead of the database")
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--attempts", type=int, default=25, help="per thread")
    parser.add_argument("--samples", type=int, default=2000, help="decisions timed per strategy")
    parser.add_argument("--http-requests", type=int, default=1000, help="requests timed per mode")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds for the processes to start")
    args = parser.parse_args()

    database_url = (
        os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='olcs-bench-')}/bench.sqlite3"
    )
    setup_django(database_url)
    from django.core.management import call_command
    from django.db import connection

    from tenants import ratelimit

    call_command("migrate", verbosity=0)
    prefix = f"olcs-bench:{uuid.uuid4().hex}"
    store = make_store(args.redis, prefix)
    # The HTTP requests use the store under test, under the bench's own Redis keys.
    ratelimit.default_store = lambda: store
    store_name = f"Redis ({args.redis})" if args.redis else connection.vendor
    print(f"store: {store_name}   strategy for HTTP: {ratelimit.settings.RATE_LIMIT_STRATEGY}", flush=True)

    try:
        print(
            f"\nexactness: {args.processes} processes x {args.threads} threads x {args.attempts} attempts, "
            f"one library, limit {LIMIT} per hour",
            flush=True,
        )
        connection.close()
        for strategy, attempts, allowed, elapsed in exactness(args, database_url, prefix):
            verdict = "exact" if allowed == LIMIT else "WRONG"
            print(f"  {strategy:8} {attempts} attempts -> {allowed} allowed ({verdict}) in {elapsed:.2f} s")

        print(f"\none decision, one thread ({args.samples} samples), ms", flush=True)
        print(f"  {'':36} {'p50':>7} {'p95':>7}")
        for name, p50, p95 in decision_latency(args, store):
            print(f"  {name:36} {p50:7.3f} {p95:7.3f}")

        print(
            f"\nHTTP in-process, GET /tenants/{{slug}}, {args.http_requests} requests per mode, ms",
            flush=True,
        )
        rows = http_latency(args)
        if connection.vendor == "sqlite" and not args.redis:
            # SQLite checkpoints the WAL when the last connection to the file closes, and with
            # CONN_MAX_AGE=0 each request closes its own: after a write (the limiter's) that is
            # about 1.5 ms more. A server seldom holds the only connection (the worker polls the
            # same file), so measure with one more connection open too.
            import sqlite3

            other = sqlite3.connect(connection.settings_dict["NAME"])
            other.execute("SELECT 1 FROM tenants_tenant").fetchall()
            rows += http_latency(args, label=" (+1 connection)")
            other.close()
        print(f"  {'':36} {'p50':>7} {'p95':>7}")
        for name, p50, p95 in rows:
            print(f"  {name:36} {p50:7.3f} {p95:7.3f}")
    finally:
        if args.redis:
            for key in store.client.scan_iter(f"{prefix}:*"):
                store.client.delete(key)


if __name__ == "__main__":
    main()
