"""The embedded SQLite settings (WAL, IMMEDIATE transactions, busy timeout) under concurrent writers.

Real processes with the real settings (no pytest in them), on a real database file: several
processes, each with several threads, do read-then-write transactions on one counter at once.
Without IMMEDIATE, a deferred transaction that read the counter fails with "database is locked"
when it tries to write after another writer committed; with it, writers queue on the lock.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="the embedded SQLite settings apply only when the database is SQLite",
    ),
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
THREADS = 4
ITERATIONS = 50
SLUG = "counter"


def child_env(database: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("TESTING", "SQLITE_BUSY_TIMEOUT_SECONDS", "DB_CONN_MAX_AGE", "REDIS_URL"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=f"sqlite:///{database}",  # an absolute path: sqlite:////tmp/.../db.sqlite3
        DJANGO_SETTINGS_MODULE="olcs.settings",
        LOG_LEVEL="WARNING",
        DEBUG="true",  # development mode on the development keys, as pytest is
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_concurrent_read_then_write_transactions_neither_fail_nor_lose_updates(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = child_env(database)
    migrated = run(["manage.py", "migrate", "--noinput"], env)
    assert migrated.returncode == 0, migrated.stderr
    seeded = run(["-m", "tests.tenants.sqlite_writer", "seed", "--slug", SLUG], env)
    assert seeded.returncode == 0, seeded.stderr

    go = tmp_path / "go"
    command = [
        sys.executable,
        *["-m", "tests.tenants.sqlite_writer", "write", "--slug", SLUG],
        *["--threads", str(THREADS), "--iterations", str(ITERATIONS), "--go", str(go)],
    ]
    writers = []
    for number in range(PROCESSES):
        stderr = (tmp_path / f"writer-{number}.err").open("w")
        writers.append(
            (
                subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
                ),
                stderr,
            )
        )
    try:
        # Every process is set up before any writes, so all of them contend for the whole run.
        for number, (process, _) in enumerate(writers):
            ready = process.stdout.readline().strip()
            assert ready == "ready", (tmp_path / f"writer-{number}.err").read_text()
        go.touch()
        for process, _ in writers:
            process.wait(timeout=60)
    finally:
        for process, stderr in writers:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            stderr.close()

    errors = [(tmp_path / f"writer-{number}.err").read_text() for number in range(PROCESSES)]
    assert not any("database is locked" in text for text in errors), "\n".join(errors)
    assert [process.returncode for process, _ in writers] == [0] * PROCESSES, "\n".join(errors)

    with sqlite3.connect(database) as db:
        (journal_mode,) = db.execute("PRAGMA journal_mode").fetchone()
        (counter,) = db.execute("SELECT name FROM tenants_tenant WHERE slug = ?", [SLUG]).fetchone()
        (keys,) = db.execute(
            "SELECT COUNT(*) FROM tenants_apikey JOIN tenants_tenant t ON t.id = tenant_id WHERE t.slug = ?",
            [SLUG],
        ).fetchone()
    db.close()
    writes = PROCESSES * THREADS * ITERATIONS
    assert journal_mode == "wal"
    assert int(counter) == writes, f"lost updates: {writes - int(counter)}"
    assert keys == writes
