"""Fixtures for the reliability checks: a faulty Open Library on loopback, a database that
child processes (qcluster, gunicorn, writers) share with the test, and those processes,
always stopped by process group.

The shared database: on PostgreSQL the test database itself (the test is transactional, so
the children see its rows and it sees theirs, and everything is flushed afterwards); on SQLite
a migrated file of the test's own (the test database is in memory, out of the children's
reach), reached from the test through a database alias of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.utils import load_backend

from tests.processes import PROJECT_ROOT, child_env, manage
from tests.reliability.upstream import FaultyOpenLibrary

SQLITE = connection.vendor == "sqlite"
CHILD_ALIAS = "reliability_children"


@pytest.fixture
def upstream() -> Iterator[FaultyOpenLibrary]:
    server = FaultyOpenLibrary()
    yield server
    server.stop()


@pytest.fixture
def figures(request) -> Callable[..., None]:
    """Record a check's measured figures: appended as JSON lines to $RELIABILITY_FIGURES when set
    (the source of docs/reliability.md), else only attached to the test report."""

    def record(**values: object) -> None:
        entry = {"test": request.node.nodeid, "database": connection.vendor, **values}
        request.node.user_properties.append(("figures", entry))
        path = os.environ.get("RELIABILITY_FIGURES")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry, default=str) + "\n")

    return record


# --- The database the children use ------------------------------------------------------------


@dataclass
class ChildDatabase:
    url: str  # for the children's DATABASE_URL
    alias: str  # for this process: Model.objects.using(alias)

    def env(self, **overrides: str) -> dict[str, str]:
        env = child_env(self.url)
        env.update(overrides)
        return env


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, made once per session and copied for each test."""
    path = tmp_path_factory.mktemp("reliability") / "template.sqlite3"
    env = child_env(f"sqlite:///{path}")
    manage(env, "migrate", "--noinput", "--skip-checks")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture
def child_database(request, tmp_path) -> Iterator[ChildDatabase]:
    """Needs the test marked django_db(transaction=True): on PostgreSQL the children's rows must
    be visible here (no test transaction around them) and flushed afterwards."""
    marker = request.node.get_closest_marker("django_db")
    assert marker is not None and marker.kwargs.get("transaction"), (
        "mark the test django_db(transaction=True)"
    )
    if not SQLITE:
        settings = connection.settings_dict
        url = (
            f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST'] or '127.0.0.1'}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}"
        )
        yield ChildDatabase(url=url, alias="default")
        return
    template = request.getfixturevalue("sqlite_template")
    path = tmp_path / "shared.sqlite3"
    shutil.copyfile(template, path)
    # A connection made here, outside settings.DATABASES: Django's test case allows such
    # "dynamically created" connections, and they leave the test databases alone.
    settings = {**connections["default"].settings_dict, "NAME": str(path)}
    shared = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, CHILD_ALIAS)
    connections[CHILD_ALIAS] = shared
    try:
        yield ChildDatabase(url=f"sqlite:///{path}", alias=CHILD_ALIAS)
    finally:
        shared.close()
        del connections[CHILD_ALIAS]


# --- Child processes ---------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Children:
    """Processes started in their own sessions, so a whole group can be signalled and stopped."""

    directory: Path
    started: list[Child] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        log = self.directory / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name=name, process=process, log=log)
        self.started.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.started:
            with suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
        for child in self.started:
            with suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=3)
            # Whatever is left of the group (a qcluster's workers) goes too.
            with suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)


@pytest.fixture
def children(tmp_path, child_database) -> Iterator[Children]:
    # Depends on child_database so that every child is stopped before that database is flushed.
    started = Children(directory=tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = ""):
    """Poll `condition` until it returns something truthy; that value. Fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)
