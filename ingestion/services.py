"""Workflows of the background worker."""

from __future__ import annotations

import socket

from django.conf import settings
from django.utils import timezone

from ingestion.models import WorkerHeartbeat


def record_worker_heartbeat() -> WorkerHeartbeat:
    """Note that a worker is alive and processing tasks right now."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        cluster=settings.Q_CLUSTER["name"],
        defaults={"host": socket.gethostname()[:255], "last_seen_at": timezone.now()},
    )
    return heartbeat


def worker_state() -> str:
    """'ok' when a worker ran the heartbeat recently, 'stale' when too long ago, 'unknown'
    when no worker ever did."""
    last = WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True).first()
    if last is None:
        return "unknown"
    age = (timezone.now() - last).total_seconds()
    return "ok" if age <= settings.WORKER_HEARTBEAT_STALE_SECONDS else "stale"
