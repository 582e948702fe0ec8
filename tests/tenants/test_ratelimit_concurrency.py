"""The rate limit is exact under concurrency: several processes, each with several threads, hit
one library with a limit of 60 at once, and exactly 60 requests get through, per strategy.

Real processes (no pytest in them) with the real settings, on a real database or Redis. The
threads take slots of two buckets at once: `api` with the sliding log and `ingestion` with fixed
windows, both 60 per 10**8 s (a window no run can cross). On the database the children wait
2 ms between counting the sliding log and adding to it: without the per-library lock, runs then
overshoot every time instead of now and then. The Redis variant runs only when TEST_REDIS_URL
points at a Redis server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import TEST_REDIS_URL
from tests.processes import PROJECT_ROOT, child_env, manage, race_children

pytestmark = pytest.mark.slow

ENGINE = settings.DATABASES["default"]["ENGINE"]
PROCESSES = 4
THREADS = 4
ATTEMPTS = 10  # per thread and bucket: 160 attempts per bucket for 60 slots
LIMIT = 60
WINDOW = 10**8

CHILD = """
import json, sys, threading, time
from pathlib import Path

import django

django.setup()
from django.db import connection
from tenants.models import Tenant
from tenants.ratelimit import DatabaseStore, Limit, RedisStore

command, slug = sys.argv[1], sys.argv[2]
if command == "seed":
    tenant = Tenant.objects.create(name="Concurrency", slug=slug)
    print(tenant.pk)
    sys.exit(0)
if command == "drop":
    Tenant.objects.filter(slug=slug).delete()
    sys.exit(0)

store_url, prefix, tenant_id, go = sys.argv[3], sys.argv[4], int(sys.argv[5]), Path(sys.argv[6])
threads, attempts, limit = int(sys.argv[7]), int(sys.argv[8]), Limit(int(sys.argv[9]), int(sys.argv[10]))
store = DatabaseStore() if store_url == "database" else RedisStore(url=store_url, prefix=prefix)
if store_url == "database":
    # Widen the gap between counting the log and adding to it, so that requests which were not
    # serialised would overshoot on every run rather than on some.
    count_sliding = store._count_sliding

    def slow_count_sliding(cursor, **kwargs):
        usage = count_sliding(cursor, **kwargs)
        time.sleep(0.002)
        return usage

    store._count_sliding = slow_count_sliding
allowed = {"api": 0, "ingestion": 0}
errors = []
lock = threading.Lock()
connected = threading.Barrier(threads + 1)
go_now = threading.Event()


def hammer():
    try:
        # Connect first, so that every thread's first request really races the others'.
        if store_url == "database":
            connection.ensure_connection()
        else:
            store.client.ping()
        connected.wait()
        go_now.wait()
        for _ in range(attempts):
            for bucket, strategy in (("api", "sliding"), ("ingestion", "fixed")):
                usage = store.take(
                    tenant_id=tenant_id, bucket=bucket, limit=limit, strategy=strategy, count=1, now_us=None
                )
                if usage.allowed:
                    with lock:
                        allowed[bucket] += 1
    except BaseException as exc:
        errors.append(repr(exc))
    finally:
        connection.close()


workers = [threading.Thread(target=hammer) for _ in range(threads)]
for worker in workers:
    worker.start()
connected.wait()
print("ready", flush=True)
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        go_now.set()
        sys.exit("the go file never appeared")
    time.sleep(0.001)
go_now.set()
for worker in workers:
    worker.join()
if errors:
    sys.exit("\\n".join(errors))
print(json.dumps(allowed), flush=True)
"""


def run_child(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def hammer_in_processes(tmp_path: Path, env: dict[str, str], store: str, prefix: str, tenant_id: int) -> dict:
    """Start the children, let them all go at once; the allowed requests of each bucket, summed."""
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    command = [
        sys.executable,
        "-c",
        CHILD,
        "hammer",
        "-",
        store,
        prefix,
        str(tenant_id),
        str(go),
        *(str(n) for n in (THREADS, ATTEMPTS, LIMIT, WINDOW)),
    ]
    outputs = race_children(command, env, count=PROCESSES, go=go, timeout=120)
    totals = {"api": 0, "ingestion": 0}
    for out in outputs:
        for bucket, allowed in json.loads(out).items():
            totals[bucket] += allowed
    return totals


EXACT = {"api": LIMIT, "ingestion": LIMIT}


@pytest.mark.skipif(ENGINE != "django.db.backends.sqlite3", reason="the SQLite variant runs on SQLite")
def test_exactly_the_limit_is_allowed_on_sqlite(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = child_env(f"sqlite:///{database}")
    manage(env, "migrate", "--noinput", "--skip-checks")
    tenant_id = int(run_child(env, "seed", "concurrency"))

    assert hammer_in_processes(tmp_path, env, "database", "-", tenant_id) == EXACT

    import sqlite3

    with sqlite3.connect(database) as db:
        (logged,) = db.execute("SELECT SUM(weight) FROM tenants_ratelimithit WHERE bucket = 'api'").fetchone()
        (counted,) = db.execute(
            "SELECT used FROM tenants_ratelimitcounter WHERE bucket = 'ingestion'"
        ).fetchone()
    db.close()
    assert (logged, counted) == (LIMIT, LIMIT)


@pytest.mark.skipif(
    ENGINE != "django.db.backends.postgresql", reason="the PostgreSQL variant runs on PostgreSQL"
)
def test_exactly_the_limit_is_allowed_on_postgresql(tmp_path, db):
    # The children use the test database pytest-django created (`db` makes sure it exists) and
    # commit their rows outside this test's transaction, under a library of their own that the
    # last child deletes again.
    database = connection.settings_dict
    env = child_env(
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    slug = f"concurrency-{uuid.uuid4().hex[:8]}"
    tenant_id = int(run_child(env, "seed", slug))
    try:
        totals = hammer_in_processes(tmp_path, env, "database", "-", tenant_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT SUM(weight) FROM tenants_ratelimithit WHERE tenant_id = %s", [tenant_id])
            (logged,) = cursor.fetchone()
            cursor.execute(
                "SELECT used FROM tenants_ratelimitcounter WHERE tenant_id = %s AND bucket = 'ingestion'",
                [tenant_id],
            )
            (counted,) = cursor.fetchone()
    finally:
        run_child(env, "drop", slug)

    assert totals == EXACT
    assert (logged, counted) == (LIMIT, LIMIT)


@pytest.mark.skipif(not TEST_REDIS_URL, reason="set TEST_REDIS_URL to run against Redis")
def test_exactly_the_limit_is_allowed_on_redis(tmp_path):
    import redis

    env = child_env(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    prefix = f"olcs-test:{uuid.uuid4().hex}"
    client = redis.from_url(TEST_REDIS_URL)
    try:
        totals = hammer_in_processes(tmp_path, env, TEST_REDIS_URL, prefix, 1)
        logged = client.zcard(f"{prefix}:1:api")
        counted = int(client.hget(f"{prefix}:1:ingestion:fixed", "used"))
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)

    assert totals == EXACT
    assert (logged, counted) == (LIMIT, LIMIT)
