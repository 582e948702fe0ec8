"""Workers dying under real jobs: a real `manage.py qcluster` on the test's database, jobs
created by the real `ingest` command, a local Open Library that kills (SIGKILL) the very worker
process asking for a chosen work record, or keeps it waiting past the task timeout.

How the pieces fit (django-q2 1.11, database broker):
- A task stays in the queue (OrmQ) locked for Q_RETRY_SECONDS when a worker takes it, and is
  deleted (acknowledged) when its result is saved. A worker killed by SIGKILL saves nothing, so
  the task is delivered again after Q_RETRY_SECONDS; django-q2 counts no attempt for it
  (its `max_attempts` never stops such a task).
- A task past Q_TIMEOUT_SECONDS gets SIGALRM, which raises a SystemExit subclass in it: the
  failure is saved and, with `ack_failures`, acknowledged, so it is NOT delivered again. The
  job's heartbeat stops; the `recover-stalled-jobs` watchdog resumes it.
- The job counts its lost workers (`attempts`, claim_job) and fails with a reason after
  INGESTION_JOB_MAX_ATTEMPTS.

tests/ingestion/test_job_recovery.py covers claim_job and the watchdog in one process, and
tests/ingestion/test_end_to_end.py kills a whole worker pool once (SQLite only); these tests
kill exactly the worker running the job, on SQLite and PostgreSQL, and check the catalog.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
from django_q.models import OrmQ, Task

from catalog.models import Book, BookVersion
from ingestion.models import IngestionJob
from tenants.models import Tenant
from tests.reliability.conftest import manage, wait_until
from tests.reliability.upstream import Fault, client_pid, parent_pid

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AUTHOR = [("/authors/OL1A", "Ann Author")]
# Short broker and watchdog times so a redelivery happens within seconds; the order of the
# production defaults is kept: Q_RETRY_SECONDS > Q_TIMEOUT_SECONDS, and a job is stale
# (INGESTION_JOB_STALE_SECONDS) before its task is delivered again.
CLUSTER_ENV = {
    "Q_WORKERS": "2",
    "Q_TIMEOUT_SECONDS": "8",
    "Q_RETRY_SECONDS": "10",
    "INGESTION_JOB_STALE_SECONDS": "4",
    "OPEN_LIBRARY_MAX_RPS": "1000",
    "OPEN_LIBRARY_BACKOFF_BASE_SECONDS": "0.05",
}


class WorkerKiller:
    """Kills, with SIGKILL, the process that asks `upstream` for `path` (the first `times` times)."""

    def __init__(self, upstream, path: str, *, times: int) -> None:
        self.server_port = int(upstream.url.rsplit(":", 1)[1])
        self.path = path
        self.times = times
        self.killed: list[dict] = []  # pid, its parent (the cluster's sentinel), when
        self._lock = threading.Lock()
        upstream.on_request = self

    def __call__(self, request) -> None:
        if request.path != self.path:
            return
        with self._lock:
            if len(self.killed) >= self.times:
                return
            pid = client_pid(request.client_port, self.server_port)
            assert pid is not None and pid != os.getpid()
            self.killed.append({"pid": pid, "parent": parent_pid(pid), "at": time.monotonic()})
            os.kill(pid, signal.SIGKILL)


def start_cluster(children, child_database, upstream, **overrides: str):
    env = child_database.env(OPEN_LIBRARY_BASE_URL=upstream.url, **{**CLUSTER_ENV, **overrides})
    return children.start("qcluster", ["manage.py", "qcluster"], env), env


def make_library(child_database, slug: str) -> Tenant:
    # Re-sync off: the cluster's resync schedule must not start jobs of its own in this library.
    return Tenant.objects.using(child_database.alias).create(name=slug, slug=slug, resync_enabled=False)


def ingest(env: dict[str, str], slug: str, *keys: str) -> int:
    """Create a job with the real command, which enqueues it for the cluster; its id."""
    out = manage(env, "ingest", "--tenant", slug, "--keys", *keys)
    return int(re.search(r"Job (\d+) created", out).group(1))


def job_when(alias: str, job_id: int, *statuses: str, timeout: float) -> IngestionJob:
    return wait_until(
        lambda: IngestionJob.objects.using(alias).filter(pk=job_id, status__in=statuses).first(),
        timeout=timeout,
        what=f"job {job_id} to be {'/'.join(statuses)}",
    )


def versions_by_key(alias: str, tenant: Tenant) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for key, version in (
        BookVersion.objects.using(alias)
        .filter(tenant=tenant)
        .order_by("book__open_library_key", "version")
        .values_list("book__open_library_key", "version")
    ):
        versions.setdefault(key, []).append(version)
    return versions


def tasks_of(alias: str, job_id: int) -> list[Task]:
    return list(
        Task.objects.using(alias).filter(name__startswith=f"ingestion-job-{job_id}-").order_by("started")
    )


def test_a_worker_killed_mid_job_is_replaced_and_the_job_finishes_exactly_once(
    child_database, children, upstream, figures
):
    alias = child_database.alias
    for n in range(1, 7):
        upstream.fake.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    killer = WorkerKiller(upstream, "/works/OL4W.json", times=1)  # three works in, mid-job
    tenant = make_library(child_database, "killed")
    cluster, env = start_cluster(children, child_database, upstream)

    job_id = ingest(env, tenant.slug, *[f"OL{n}W" for n in range(1, 7)])
    wait_until(lambda: killer.killed, timeout=120, what="the worker to ask for OL4W")
    job = IngestionJob.objects.using(alias).get(pk=job_id)
    assert job.status == "running" and job.cursor["position"] == 3, (job.status, job.cursor)
    job = job_when(alias, job_id, "completed", "failed", timeout=120)
    recovered_after = time.monotonic() - killer.killed[0]["at"]

    assert job.status == "completed", job.error
    assert (job.works_found, job.works_created, job.works_updated, job.works_failed) == (6, 6, 0, 0)
    assert job.attempts == 1  # one lost worker, counted once
    # Every book written once: one book and one version each, nothing duplicated.
    assert Book.objects.using(alias).filter(tenant=tenant).count() == 6
    assert versions_by_key(alias, tenant) == {f"/works/OL{n}W": [1] for n in range(1, 7)}
    # The resumed task started at the saved position: the three works done were not fetched again.
    assert [len(upstream.hits(f"/works/OL{n}W.json")) for n in range(1, 7)] == [1, 1, 1, 2, 1, 1]
    # The killed process was one of the cluster's workers; the cluster itself lives on.
    assert parent_pid(killer.killed[0]["parent"]) == cluster.process.pid
    assert cluster.process.poll() is None
    wait_until(lambda: "reincarnated worker" in cluster.output(), timeout=30, what="the cluster's log line")
    assert "after death" in cluster.output()
    # django-q2 recorded only the delivery that finished (its monitor saves it just after the
    # job ends); the queue is empty.
    tasks = wait_until(lambda: tasks_of(alias, job_id), timeout=30, what="the task's result")
    assert [(task.success, task.result) for task in tasks] == [(True, "completed")]
    assert tasks[0].attempt_count == 1
    wait_until(lambda: not OrmQ.objects.using(alias).exists(), timeout=30, what="an empty queue")
    figures(
        check="SIGKILL of the worker mid-job",
        works=6,
        versions=sum(len(v) for v in versions_by_key(alias, tenant).values()),
        job_attempts=job.attempts,
        django_q_attempts=tasks[0].attempt_count,
        recovered_seconds=round(recovered_after, 1),
        q_retry_seconds=int(CLUSTER_ENV["Q_RETRY_SECONDS"]),
    )


def test_a_poison_job_that_kills_every_worker_stops_at_the_attempt_limit(
    child_database, children, upstream, figures
):
    alias = child_database.alias
    for n in range(11, 15):
        upstream.fake.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    # Every worker that fetches OL13W dies, as if that work's processing ran it out of memory.
    killer = WorkerKiller(upstream, "/works/OL13W.json", times=100)
    tenant = make_library(child_database, "poison")
    cluster, env = start_cluster(children, child_database, upstream, INGESTION_JOB_MAX_ATTEMPTS="2")
    started = time.monotonic()

    job_id = ingest(env, tenant.slug, "OL11W", "OL12W", "OL13W")
    job = job_when(alias, job_id, "completed", "failed", timeout=150)
    gave_up_after = time.monotonic() - started

    assert job.status == "failed"
    assert job.error == (
        "The worker running this job stopped 2 times (killed or timed out); giving up. Retry the job to try again."
    )
    assert job.attempts == 2
    assert len(killer.killed) == 2  # the first delivery and one redelivery; the next one gave up
    assert len({kill["pid"] for kill in killer.killed}) == 2
    assert (job.works_created, job.works_failed) == (2, 0)  # what was done before stays done, once
    assert versions_by_key(alias, tenant) == {"/works/OL11W": [1], "/works/OL12W": [1]}
    assert job.logs.using(alias).filter(level="error", message__startswith="Failed: The worker").count() == 1
    # The delivery that gave up is the only one django-q2 recorded; nothing is left queued.
    tasks = wait_until(lambda: tasks_of(alias, job_id), timeout=30, what="the task's result")
    assert [(task.success, task.result) for task in tasks] == [(True, "skipped")]
    wait_until(lambda: not OrmQ.objects.using(alias).exists(), timeout=30, what="an empty queue")
    assert cluster.output().count("reincarnated worker") == 2

    # The cluster is still up and works: a normal job afterwards completes.
    assert cluster.process.poll() is None
    after = ingest(env, tenant.slug, "OL14W")
    assert job_when(alias, after, "completed", "failed", timeout=120).status == "completed"
    assert cluster.process.poll() is None
    figures(
        check="poison job killing its worker every time",
        worker_deaths=len(killer.killed),
        job_attempts=job.attempts,
        ingestion_job_max_attempts=2,
        gave_up_seconds=round(gave_up_after, 1),
        error=job.error,
    )


def test_a_task_past_its_timeout_is_stopped_and_the_job_resumed_by_the_watchdog(
    child_database, children, upstream, figures
):
    alias = child_database.alias
    for n in range(21, 24):
        upstream.fake.add_work(f"/works/OL{n}W", f"Volume {n}", authors=AUTHOR)
    # Open Library keeps the worker waiting (its read timeout is longer) past the task timeout, once.
    upstream.faults["/works/OL22W.json"] = Fault("hang", seconds=60, times=1)
    tenant = make_library(child_database, "timeout")
    cluster, env = start_cluster(
        children,
        child_database,
        upstream,
        Q_TIMEOUT_SECONDS="4",
        Q_RETRY_SECONDS="6",
        INGESTION_JOB_STALE_SECONDS="2",
        OPEN_LIBRARY_READ_TIMEOUT_SECONDS="60",
    )

    job_id = ingest(env, tenant.slug, "OL21W", "OL22W", "OL23W")
    wait_until(lambda: upstream.hits("/works/OL22W.json"), timeout=120, what="the request that hangs")
    hung_at = upstream.hits("/works/OL22W.json")[0].at
    (timed_out,) = wait_until(lambda: tasks_of(alias, job_id), timeout=60, what="the timed-out task's result")
    stopped_after = time.monotonic() - hung_at

    assert timed_out.success is False
    assert "Task exceeded maximum timeout value (4 seconds)" in timed_out.result
    # Acknowledged as a failure: not delivered again. The job is left to the watchdog.
    assert not OrmQ.objects.using(alias).exists()
    job = IngestionJob.objects.using(alias).get(pk=job_id)
    assert job.status == "running" and job.cursor["position"] == 1
    time.sleep(2.5)  # INGESTION_JOB_STALE_SECONDS: the heartbeat is old now
    assert "'requeued': 1" in manage(
        env, "shell", "-c", "from ingestion.tasks import recover_stalled_jobs; print(recover_stalled_jobs())"
    )
    job = job_when(alias, job_id, "completed", "failed", timeout=120)

    assert job.status == "completed", job.error
    assert job.attempts == 1
    assert (job.works_found, job.works_created, job.works_failed) == (3, 3, 0)
    assert versions_by_key(alias, tenant) == {f"/works/OL{n}W": [1] for n in (21, 22, 23)}
    assert [len(upstream.hits(f"/works/OL{n}W.json")) for n in (21, 22, 23)] == [1, 2, 1]
    assert "after timeout" in cluster.output() or "reincarnated worker" in cluster.output()
    assert cluster.process.poll() is None
    figures(
        check="task past its timeout",
        q_timeout_seconds=4,
        stopped_after_seconds=round(stopped_after, 1),
        job_attempts=job.attempts,
        task_result=timed_out.result.split(" : ")[0],
    )
