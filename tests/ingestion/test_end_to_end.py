"""The real thing: a web server and a django-q2 cluster in their own processes, a fake Open
Library on loopback, and jobs posted over HTTP that the worker completes — also when the
worker is killed with SIGKILL in the middle of one."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests
from django.conf import settings

from tests.fake_openlibrary import FakeOpenLibrary
from tests.ingestion.stack import running_stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASE_URL.startswith("postgres"),
        reason="the processes run on a SQLite file of their own",
    ),
]
TOLKIEN = ("/authors/OL26320A", "J.R.R. Tolkien")


@pytest.fixture
def fake():
    fake = FakeOpenLibrary()
    fake.add_work("/works/OL27448W", "The Lord of the Rings", authors=[TOLKIEN], isbns=["9780618640157"])
    fake.add_work("/works/OL262758W", "The Hobbit", authors=[TOLKIEN])
    base_url, stop = fake.serve()
    fake.base_url = base_url
    yield fake
    stop()


def test_an_ingestion_posted_over_http_is_completed_by_a_real_worker(tmp_path, fake):
    with running_stack(tmp_path, fake.base_url) as stack:
        response = requests.post(
            f"{stack.web}/tenants/stack/ingestion/",
            json={"query": "author:Tolkien"},
            headers=stack.headers(),
            timeout=10,
        )
        assert response.status_code == 202, response.text
        job = stack.wait_for_job(response.headers["Location"], until=("completed", "failed"))

        assert job["status"] == "completed", job
        assert job["works_found"] == 2 and job["works_created"] == 2
        logs = requests.get(
            f"{stack.web}/tenants/stack/ingestion/logs?job_id={job['id']}",
            headers=stack.headers(),
            timeout=10,
        )
        assert any("Completed" in entry["message"] for entry in logs.json()["items"])
        assert fake.count("/works/OL27448W") == 1


def worker_pids(cluster_pid: int) -> list[int]:
    """The cluster's processes below its sentinel (the ones that run tasks)."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(cluster_pid)], capture_output=True, text=True
    ).stdout
    children = [int(pid) for pid in out.split()]
    grandchildren = []
    for child in children:
        more = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(child)], capture_output=True, text=True
        ).stdout
        grandchildren += [int(pid) for pid in more.split()]
    return grandchildren or children


def test_a_job_whose_worker_is_killed_is_finished_exactly_once(tmp_path, fake):
    for n in range(1, 9):
        fake.add_work(f"/works/OL{n}00W", f"Slow volume {n}", authors=[TOLKIEN])
    fake.latency = 0.5  # each work takes a while: time to kill the worker mid-job

    overrides = {"Q_TIMEOUT_SECONDS": "30", "Q_RETRY_SECONDS": "4", "INGESTION_JOB_STALE_SECONDS": "2"}
    with running_stack(tmp_path, fake.base_url, **overrides) as stack:
        keys = [f"OL{n}00W" for n in range(1, 9)]
        response = requests.post(
            f"{stack.web}/tenants/stack/ingestion/",
            json={"open_library_keys": keys},
            headers=stack.headers(),
            timeout=10,
        )
        location = response.headers["Location"]
        job = stack.wait_for_job(location, until=("running",), timeout=30)
        deadline = time.monotonic() + 30
        while job["works_created"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            job = requests.get(location, headers=stack.headers(), timeout=10).json()
        assert job["status"] == "running" and 2 <= job["works_created"] < 8, job

        for pid in worker_pids(stack.processes["worker"].pid):
            os.kill(pid, signal.SIGKILL)

        job = stack.wait_for_job(location, until=("completed", "failed"), timeout=90)

    assert job["status"] == "completed", job
    assert job["works_found"] == 8
    assert job["works_created"] == 8  # each work created once, none counted twice
    for n in range(1, 9):
        assert fake.count(f"/works/OL{n}00W.json") <= 2


def test_a_search_outage_naming_one_work_fails_only_it_on_a_real_worker(tmp_path, fake):
    """Every request naming The Hobbit answers 503, the batched search included: the worker
    fetches The Lord of the Rings on its own, fails The Hobbit alone, and a retry runs only it."""
    fake.make_unavailable("OL262758W")

    with running_stack(tmp_path, fake.base_url, OPEN_LIBRARY_BACKOFF_BASE_SECONDS="0.05") as stack:
        response = requests.post(
            f"{stack.web}/tenants/stack/ingestion/",
            json={"open_library_keys": ["OL27448W", "OL262758W"]},
            headers=stack.headers(),
            timeout=10,
        )
        assert response.status_code == 202, response.text
        job = stack.wait_for_job(response.headers["Location"], until=("completed", "failed"))
        assert job["status"] == "completed", job
        assert (job["works_created"], job["works_failed"]) == (1, 1)

        fake.unavailable.clear()
        retry = requests.post(
            f"{stack.web}/tenants/stack/ingestion/jobs/{job['id']}/retry", headers=stack.headers(), timeout=10
        )
        assert retry.status_code == 202, retry.text
        assert retry.json()["open_library_keys"] == ["/works/OL262758W"]
        retried = stack.wait_for_job(retry.headers["Location"], until=("completed", "failed"))

    assert (retried["status"], retried["works_created"]) == ("completed", 1), retried
    assert fake.count("/works/OL27448W/editions.json") == 1  # fetched without search, once
    assert fake.count("/works/OL27448W.json") == 1
