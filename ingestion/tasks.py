"""django-q2 tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from ingestion import services


def run_ingestion_job(job_id: int) -> str:
    return services.run_job(job_id=job_id)


def resync_due_tenants() -> list[int]:
    return services.resync_due_tenants()


def recover_stalled_jobs() -> dict[str, int]:
    return services.recover_stalled_jobs()


def worker_heartbeat() -> str:
    return services.record_worker_heartbeat().last_seen_at.isoformat()
