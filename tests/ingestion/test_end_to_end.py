"""The real thing: a web server and a django-q2 cluster in their own processes, a fake Open
Library on loopback, and an ingestion posted over HTTP that the worker completes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.fake_openlibrary import FakeOpenLibrary

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs its processes on a SQLite file of its own",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stack(tmp_path):
    fake = FakeOpenLibrary()
    fake.add_work(
        "/works/OL27448W",
        "The Lord of the Rings",
        authors=[("/authors/OL26320A", "J.R.R. Tolkien")],
        description="One ring.",
        isbns=["9780618640157"],
        first_publish_year=1954,
    )
    fake.add_work("/works/OL262758W", "The Hobbit", authors=[("/authors/OL26320A", "J.R.R. Tolkien")])
    base_url, stop_fake = fake.serve()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST") and key != "DATABASE_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="olcs.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
        OPEN_LIBRARY_BASE_URL=base_url,
        OPEN_LIBRARY_MAX_RPS="50",
        LOG_LEVEL="WARNING",
        Q_WORKERS="1",
    )
    python = sys.executable

    def manage(*args: str) -> str:
        result = subprocess.run(
            [python, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("migrate", "--noinput")
    created = json.loads(manage("create_tenant", "--name", "End to End", "--slug", "e2e", "--json"))
    port = free_port()
    processes = [
        subprocess.Popen(
            [python, "manage.py", "qcluster"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ),
        subprocess.Popen(
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ),
    ]
    web = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{web}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    try:
        yield {"web": web, "key": created["api_key"], "fake": fake}
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        stop_fake()


def test_an_ingestion_posted_over_http_is_completed_by_a_real_worker(stack):
    headers = {"Authorization": f"Bearer {stack['key']}"}
    response = requests.post(
        f"{stack['web']}/tenants/e2e/ingestion/",
        json={"query": "author:Tolkien"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]

    deadline = time.monotonic() + 60
    job = response.json()
    while job["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = requests.get(location, headers=headers, timeout=10).json()

    assert job["status"] == "completed", job
    assert job["works_found"] == 2 and job["works_created"] == 2
    logs = requests.get(
        f"{stack['web']}/tenants/e2e/ingestion/logs?job_id={job['id']}", headers=headers, timeout=10
    )
    assert any("Completed" in entry["message"] for entry in logs.json()["items"])
    assert stack["fake"].count("/works/OL27448W") == 1
