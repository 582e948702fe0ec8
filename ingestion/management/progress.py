"""Following a job from the command line: a progress bar until it finishes."""

from __future__ import annotations

import time

from ingestion.models import IngestionJob

BAR_WIDTH = 30
PENDING_HINT_SECONDS = 15


def describe(job: IngestionJob) -> str:
    done = job.works_processed
    total = max(job.works_found, done)
    filled = int(BAR_WIDTH * done / total) if total else 0
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return (
        f"[{bar}] {done}/{total} works  created {job.works_created}  updated {job.works_updated}  "
        f"unchanged {job.works_unchanged}  failed {job.works_failed}  ({job.status})"
    )


def follow(job: IngestionJob, write, *, interactive: bool, poll_seconds: float = 0.5) -> IngestionJob:
    """Poll a job until it finishes, writing its progress; returns the finished job."""
    started = time.monotonic()
    hinted = False
    last = ""
    while True:
        job.refresh_from_db()
        line = describe(job)
        if line != last:
            write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
            last = line
        if job.is_finished:
            if interactive:
                write("", ending="\n")
            return job
        if (
            job.status == IngestionJob.Status.PENDING
            and not hinted
            and time.monotonic() - started > PENDING_HINT_SECONDS
        ):
            write("\nStill pending: is the worker running (manage.py qcluster)?", ending="\n")
            hinted = True
        time.sleep(poll_seconds)
