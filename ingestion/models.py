"""Background work: the worker's heartbeat (ingestion jobs come with the ingestion issue)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """Last time a worker ran the heartbeat task: proves scheduler, broker and worker all work."""

    cluster = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.cluster} on {self.host} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"
