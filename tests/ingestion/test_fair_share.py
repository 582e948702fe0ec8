"""Two libraries share the deployment's Open Library budget fairly: a real `manage.py qcluster`
with two workers, a local Open Library that answers in 50 ms, and OPEN_LIBRARY_MAX_RPS=10 for
the whole deployment.

Library A queues 12 jobs, then library B one of the same size. The tasks reach the broker in
that order, so B's is the 13th. Without a share per library the workers run the jobs in
rotation, slice by slice, and B finishes about last; with it (claim_job lets a library run
INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY=1 job at a time) B's job gets the second worker at once
and about half of the throttle's request slots, and finishes with A's first job.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from ingestion import services
from ingestion.models import IngestionJob
from tests.fake_openlibrary import FakeOpenLibrary
from tests.processes import PROJECT_ROOT, child_env, manage

Status = IngestionJob.Status
A_JOBS = 12
WORKS_PER_JOB = 20
AUTHOR = [("/authors/OL1A", "Ann Author")]

# Both libraries and every job are made before the cluster starts, so the queue holds A's 12
# tasks and then B's. Re-sync is off: the cluster's schedule must not add jobs of its own.
SETUP = """
import json
from django.db import transaction
from ingestion import services
from tenants.models import Tenant
from tenants.services import create_tenant

a, _ = create_tenant(name="Library A", slug="library-a")
b, _ = create_tenant(name="Library B", slug="library-b")
Tenant.objects.update(resync_enabled=False)
with transaction.atomic():
    jobs_a = services.create_jobs(tenant=a, requests=[
        {"kind": "keys", "open_library_keys": [f"/works/OL{1000 + WORKS * j + i}W" for i in range(WORKS)]}
        for j in range(JOBS)
    ], budget_exempt=True)
with transaction.atomic():
    job_b = services.create_job(
        tenant=b, kind="keys", open_library_keys=[f"/works/OL{9000 + i}W" for i in range(WORKS)],
        budget_exempt=True,
    )
print(json.dumps({"a": [job.pk for job in jobs_a], "b": job_b.pk}))
""".replace("WORKS", str(WORKS_PER_JOB)).replace("JOBS", str(A_JOBS))


class TimedOpenLibrary(FakeOpenLibrary):
    """The fake, noting when each request came and which library's works it names."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.timed: list[tuple[float, str]] = []
        self._timed_lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict[str, list[str]]):
        text = path + json.dumps(query)
        library = "b" if "/works/OL9" in text else "a" if "/works/OL1" in text else ""
        with self._timed_lock:
            self.timed.append((time.time(), library))
        return super().handle(method, path, query)


def jobs(database: str, ids: list[int]) -> dict[int, dict]:
    with sqlite3.connect(database, timeout=10) as db:
        rows = db.execute(
            "SELECT id, status, started_at, finished_at FROM ingestion_ingestionjob"
            " WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(ids)],
        ).fetchall()
    db.close()

    def when(value: str | None) -> float | None:
        return datetime.fromisoformat(value).timestamp() if value else None

    return {row[0]: {"status": row[1], "started": when(row[2]), "finished": when(row[3])} for row in rows}


# --- In one process: who may start, and who is woken ------------------------------------------


def keys_job(library, *numbers: int) -> IngestionJob:
    return services.create_job(
        tenant=library.tenant, kind="keys", open_library_keys=[f"/works/OL{n}W" for n in numbers]
    )


@pytest.mark.django_db
def test_a_librarys_second_job_waits_while_its_first_runs_but_another_librarys_does_not(
    library_a, library_b, fake_ol, run_on_commit
):
    for n in (1, 2, 3):
        fake_ol.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    first, second, other = keys_job(library_a, 1), keys_job(library_a, 2), keys_job(library_b, 3)

    assert services.claim_job(first.pk) is not None
    assert services.claim_job(second.pk) is None  # library A has its job running
    assert services.claim_job(other.pk) is not None  # library B is not held up by A
    second.refresh_from_db()
    assert second.status == Status.PENDING
    # A cancel (or any end) of the running job wakes the library's next one.
    run_on_commit(lambda: services.cancel_job(job=first))
    second.refresh_from_db()
    assert second.status == Status.COMPLETED


@pytest.mark.django_db
def test_a_finished_job_wakes_its_librarys_oldest_waiting_job(library_a, fake_ol, run_on_commit):
    for n in (1, 2, 3):
        fake_ol.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    jobs = [keys_job(library_a, n) for n in (1, 2, 3)]  # their tasks were taken and dropped

    run_on_commit(lambda: services.run_job(job_id=jobs[0].pk))

    assert [job.status for job in IngestionJob.objects.order_by("id")] == [Status.COMPLETED] * 3


@pytest.mark.django_db
def test_a_job_whose_worker_died_does_not_hold_its_librarys_turn(library_a, settings):
    lost, waiting = keys_job(library_a, 1), keys_job(library_a, 2)
    stale = timezone.now() - timedelta(seconds=settings.INGESTION_JOB_STALE_SECONDS + 1)
    IngestionJob.objects.filter(pk=lost.pk).update(status=Status.RUNNING, heartbeat_at=stale)

    assert services.claim_job(waiting.pk) is not None


# --- A real cluster ------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_librarys_backlog_does_not_starve_another_librarys_job(tmp_path):
    fake = TimedOpenLibrary(latency=0.05)
    for n in [*(1000 + k for k in range(A_JOBS * WORKS_PER_JOB)), *(9000 + k for k in range(WORKS_PER_JOB))]:
        fake.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    base_url, stop_fake = fake.serve()
    database = tmp_path / "fair.sqlite3"
    env = child_env(f"sqlite:///{database}")
    env.update(
        OPEN_LIBRARY_BASE_URL=base_url,
        OPEN_LIBRARY_MAX_RPS="10",
        Q_WORKERS="2",
        INGESTION_SLICE_SECONDS="1",
    )
    manage(env, "migrate", "--noinput", "--skip-checks")
    created = json.loads(manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    a_ids, b_id = created["a"], created["b"]
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = jobs(str(database), [*a_ids[:3], b_id])
            if all(state[job_id]["status"] in ("completed", "failed") for job_id in (b_id, a_ids[2])):
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"jobs not finished in time: {state}")
    finally:
        with suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(cluster.pid, signal.SIGKILL)
        stop_fake()

    b, a_first, a_third = state[b_id], state[a_ids[0]], state[a_ids[2]]
    assert [b["status"], a_third["status"]] == ["completed", "completed"]
    # B's one job ends well before A's backlog: before A's third job, about with A's first.
    assert b["finished"] < a_third["finished"]
    # While both libraries had a job running, the throttle's slots went about half to each.
    both = [library for at, library in fake.timed if b["started"] <= at <= b["finished"] and library]
    share_b = both.count("b") / len(both)
    assert 0.35 <= share_b <= 0.65, (both.count("a"), both.count("b"))
    origin = min(job["started"] for job in state.values())
    print(
        json.dumps(
            {
                "check": "fair share of the Open Library throttle between two libraries",
                "b_started_s": round(b["started"] - origin, 2),
                "b_finished_s": round(b["finished"] - origin, 2),
                "a_first_finished_s": round(a_first["finished"] - origin, 2),
                "a_third_finished_s": round(a_third["finished"] - origin, 2),
                "requests_while_both_ran": {"a": both.count("a"), "b": both.count("b")},
            }
        )
    )
