"""django-q2 tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from ingestion.services import record_worker_heartbeat


def worker_heartbeat() -> str:
    return record_worker_heartbeat().last_seen_at.isoformat()
