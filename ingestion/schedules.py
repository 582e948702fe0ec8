"""Every periodic task of OLCS, declared here and nowhere else.

Created or updated by name after each `migrate`, so deploying a change to a schedule is
just deploying the code.
"""

from __future__ import annotations

from django.utils import timezone

MINUTES = "I"  # django_q.models.Schedule.MINUTES

SCHEDULES: list[dict] = [
    {
        # Proves scheduler, broker and worker all work; /health reads its result.
        "name": "worker-heartbeat",
        "func": "ingestion.tasks.worker_heartbeat",
        "schedule_type": MINUTES,
        "minutes": 1,
    },
    {
        # Starts a re-sync for each library whose interval (RE_SYNC_INTERVAL_HOURS or the
        # library's own) has passed; checking often lets each library keep its own interval.
        "name": "resync-due-libraries",
        "func": "ingestion.tasks.resync_due_tenants",
        "schedule_type": MINUTES,
        "minutes": 15,
    },
    {
        # Resumes or fails jobs whose worker died, whatever the broker.
        "name": "recover-stalled-jobs",
        "func": "ingestion.tasks.recover_stalled_jobs",
        "schedule_type": MINUTES,
        "minutes": 5,
    },
    {
        # Sends again submissions whose task was lost or whose worker died, and retries those
        # that Open Library failed once their backoff is over (patrons.services).
        "name": "recover-stalled-submissions",
        "func": "patrons.tasks.recover_stalled_submissions",
        "schedule_type": MINUTES,
        "minutes": 1,
    },
]


def ensure_schedules() -> list[str]:
    from django_q.models import Schedule

    names = []
    for spec in SCHEDULES:
        fields = {key: value for key, value in spec.items() if key != "name"}
        schedule, created = Schedule.objects.update_or_create(name=spec["name"], defaults=fields)
        if created or schedule.next_run is None:
            Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now())
        names.append(schedule.name)
    return names


def ensure_schedules_after_migrate(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedules()
