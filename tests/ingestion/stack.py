"""Start the real processes of a deployment for a test: migrate, a web server, a qcluster.

They run on a SQLite file of their own (the test database is in memory) against a fake
Open Library served on loopback; everything is stopped by process group afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.processes import PROJECT_ROOT, manage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    web: str
    api_key: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def wait_for_job(self, location: str, *, until: tuple[str, ...], timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        job = requests.get(location, headers=self.headers(), timeout=10).json()
        while job["status"] not in until and time.monotonic() < deadline:
            time.sleep(0.2)
            job = requests.get(location, headers=self.headers(), timeout=10).json()
        return job


@contextmanager
def running_stack(tmp_path: Path, open_library_url: str, **env_overrides: str) -> Iterator[Stack]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST") and key != "DATABASE_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="olcs.settings",
        DEBUG="true",  # development mode on the development keys, as pytest is
        DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        OPEN_LIBRARY_BASE_URL=open_library_url,
        OPEN_LIBRARY_MAX_RPS="50",
        LOG_LEVEL="WARNING",
        Q_WORKERS="1",
    )
    env.update(env_overrides)
    manage(env, "migrate", "--noinput")
    created = json.loads(manage(env, "create_tenant", "--name", "Stack Library", "--slug", "stack", "--json"))
    port = free_port()
    stack = Stack(web=f"http://127.0.0.1:{port}", api_key=created["api_key"], env=env)
    for name, args in (("worker", ["qcluster"]), ("web", ["runserver", f"127.0.0.1:{port}", "--noreload"])):
        stack.processes[name] = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{stack.web}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    try:
        yield stack
    finally:
        for process in stack.processes.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in stack.processes.values():
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
