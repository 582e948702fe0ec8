"""A job is never left running for ever: lost workers, the attempt limit, the watchdog,
cancellation mid-run, and slices handed from task to task."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from catalog.models import Book
from ingestion import services
from ingestion.models import IngestionJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def works(fake_ol):
    for n in range(1, 6):
        fake_ol.add_work(f"/works/OL{n}W", f"Work {n}", authors=[("/authors/OL1A", "Ann Author")])
    return fake_ol


def keys_job(library, **fields) -> IngestionJob:
    keys = [f"/works/OL{n}W" for n in range(1, 6)]
    return IngestionJob.objects.create(tenant=library.tenant, kind="keys", open_library_keys=keys, **fields)


def test_running_job_with_a_fresh_heartbeat_is_not_taken_twice(library_a, works):
    job = keys_job(library_a, status="running", heartbeat_at=timezone.now(), attempts=0)

    assert services.run_job(job_id=job.pk) == "skipped"
    assert works.requests == []


def test_job_of_a_dead_worker_resumes_where_it_stopped(library_a, works):
    job = keys_job(library_a)
    original_save = services.JobRunner.save_progress
    calls = {"n": 0}

    def die_after_two_works(runner):
        original_save(runner)
        calls["n"] += 1
        if calls["n"] == 3:  # resolve + two works
            raise SystemExit("worker killed")

    with (
        mock.patch.object(services.JobRunner, "save_progress", die_after_two_works),
        pytest.raises(SystemExit),
    ):
        services.run_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.cursor["position"] == 2
    # The broker redelivers after the worker's timeout: the heartbeat is old by then.
    IngestionJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    works.requests.clear()

    assert services.run_job(job_id=job.pk) == "completed"
    job.refresh_from_db()
    assert job.attempts == 1
    assert job.works_created == 5 and job.works_found == 5
    assert Book.objects.for_tenant(library_a.tenant).count() == 5
    # Only the three works not yet done were fetched again.
    assert works.count("/works/") == 3


def test_job_gives_up_after_the_attempt_limit(library_a, works, settings):
    settings.INGESTION_JOB_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(hours=1)
    job = keys_job(library_a, status="running", heartbeat_at=old, attempts=2)

    assert services.run_job(job_id=job.pk) == "skipped"

    job.refresh_from_db()
    assert job.status == "failed"
    assert "stopped 3 times" in job.error
    assert job.finished_at is not None
    assert works.requests == []


def test_watchdog_requeues_stalled_jobs_and_fails_exhausted_ones(
    library_a, works, settings, django_capture_on_commit_callbacks
):
    settings.INGESTION_JOB_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(hours=1)
    stalled = keys_job(library_a, status="running", heartbeat_at=old, attempts=0)
    exhausted = keys_job(library_a, status="running", heartbeat_at=old, attempts=2)
    forgotten = keys_job(library_a)
    IngestionJob.objects.filter(pk=forgotten.pk).update(created_at=old)
    fresh = keys_job(library_a, status="running", heartbeat_at=timezone.now())

    with mock.patch.object(services, "enqueue_job") as enqueue:
        result = services.recover_stalled_jobs()

    assert result == {"requeued": 2, "failed": 1}
    assert sorted(call.args[0] for call in enqueue.call_args_list) == sorted([stalled.pk, forgotten.pk])
    exhausted.refresh_from_db()
    fresh.refresh_from_db()
    assert exhausted.status == "failed" and "giving up" in exhausted.error
    assert fresh.status == "running"


def test_cancel_while_running_stops_the_job_and_wins(library_a, works):
    job = keys_job(library_a)
    original_save = services.JobRunner.save_progress

    def cancel_midway(runner):
        if runner.job.cursor.get("position") == 2:
            IngestionJob.objects.filter(pk=runner.job.pk).update(
                status="cancelled", finished_at=timezone.now()
            )
        original_save(runner)

    with mock.patch.object(services.JobRunner, "save_progress", cancel_midway):
        assert services.run_job(job_id=job.pk) == "cancelled"

    job.refresh_from_db()
    assert job.status == "cancelled"
    assert Book.objects.for_tenant(library_a.tenant).count() == 2


def test_a_job_runs_in_slices_handed_from_task_to_task(
    library_a, works, settings, run_on_commit, monkeypatch
):
    settings.INGESTION_SLICE_SECONDS = 0  # every slice ends after one work
    monkeypatch.setattr(services, "KEY_BATCH", 2)

    job, callbacks = run_on_commit(
        lambda: services.create_job(
            tenant=library_a.tenant, kind="keys", open_library_keys=[f"/works/OL{n}W" for n in range(1, 6)]
        )
    )

    job.refresh_from_db()
    assert job.status == "completed"
    assert job.works_created == 5
    assert len(callbacks) == 5  # 5 works, one per slice (batches of 2 split): four hand-overs


def test_rerunning_a_finished_job_does_nothing(library_a, works):
    job = keys_job(library_a)
    assert services.run_job(job_id=job.pk) == "completed"
    works.requests.clear()

    assert services.run_job(job_id=job.pk) == "skipped"
    assert works.requests == []


def test_unexpected_crash_marks_the_job_failed(library_a, works):
    job = keys_job(library_a)

    with mock.patch.object(services, "upsert_book", side_effect=RuntimeError("boom")):
        assert services.run_job(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert job.status == "failed"
    assert "RuntimeError" in job.error and "boom" not in job.error


def test_every_declared_schedule_exists_once_after_migrate(db):
    from django_q.models import Schedule

    from ingestion.schedules import SCHEDULES, ensure_schedules

    ensure_schedules()
    ensure_schedules()

    for spec in SCHEDULES:
        schedule = Schedule.objects.get(name=spec["name"])
        assert schedule.func == spec["func"]
        assert schedule.minutes == spec["minutes"]
    assert {"resync-due-libraries", "recover-stalled-jobs", "worker-heartbeat"} <= {
        s["name"] for s in SCHEDULES
    }


@pytest.fixture
def real_queue(monkeypatch):
    """Tasks go to the database queue (django_q's OrmQ) instead of running at once."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "SYNC", False)
    return OrmQ.objects


@pytest.mark.parametrize("status", ["pending", "running"])
def test_the_watchdog_enqueues_a_job_again_only_after_the_stale_window(
    library_a, library_b, works, settings, real_queue, status
):
    """15 jobs lost by the broker: three watchdog runs leave 15 tasks, not 45, and a job is sent
    again once its last enqueue is older than the stale window (the runner's own formula)."""
    old = timezone.now() - services.stale_after() - timedelta(minutes=1)
    jobs = [
        keys_job(library, status=status, heartbeat_at=old if status == "running" else None)
        for library in (library_a, library_b)
        for _ in range(8 if library is library_a else 7)
    ]
    IngestionJob.objects.filter(pk__in=[job.pk for job in jobs]).update(created_at=old)

    runs = [services.recover_stalled_jobs() for _ in range(3)]

    assert [run["requeued"] for run in runs] == [15, 0, 0]
    assert real_queue.count() == 15
    # Each job's last enqueue is recorded; set them back past the stale window: sent once more.
    assert IngestionJob.objects.filter(enqueued_at__isnull=True).count() == 0
    IngestionJob.objects.update(enqueued_at=timezone.now() - services.stale_after() + timedelta(minutes=1))
    assert services.recover_stalled_jobs()["requeued"] == 0
    IngestionJob.objects.update(enqueued_at=old)
    assert services.recover_stalled_jobs()["requeued"] == 15
    assert services.recover_stalled_jobs()["requeued"] == 0
    assert real_queue.count() == 30
