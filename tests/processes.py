"""Child processes of the tests: their environment, `manage.py` commands, and races for one budget."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def child_env(database_url: str) -> dict[str, str]:
    """The environment of a child process: this one's, on `database_url`, without test switches.

    In development mode (DEBUG=true), as pytest is: without pytest a child on the development
    keys would otherwise refuse to start.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("TESTING", "REDIS_URL", "DB_CONN_MAX_AGE", "SQLITE_BUSY_TIMEOUT_SECONDS"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="olcs.settings", LOG_LEVEL="WARNING", DEBUG="true"
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `manage.py *args` in a child with `env`; its standard output (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def race_children(
    command: list[str],
    env: dict[str, str],
    *,
    count: int,
    go: Path,
    timeout: float,
    prepare: Callable[[], None] = lambda: None,
) -> list[str]:
    """Start `count` children, wait until each prints "ready", then create the `go` file so
    they all start at once; their standard outputs.

    `prepare` runs while the children start up (they must touch nothing before `go`).
    """
    children = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    try:
        prepare()
        for child in children:
            ready = child.stdout.readline().strip()
            assert ready == "ready", child.stderr.read()
        go.touch()
        outputs = [child.communicate(timeout=timeout) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert [child.returncode for child in children] == [0] * count, [err for _, err in outputs]
    return [out for out, _ in outputs]
