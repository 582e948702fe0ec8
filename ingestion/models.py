"""Background work: ingestion jobs and their logs, tracked queries, the worker's heartbeat and
the shared Open Library throttle."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tenants.models import Tenant, TenantQuerySet


class WorkerHeartbeat(models.Model):
    """Last time a worker ran the heartbeat task: proves scheduler, broker and worker all work."""

    cluster = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.cluster} on {self.host} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


class OpenLibraryThrottle(models.Model):
    """The next free request slot of one Open Library throttle, shared by every process.

    `next_slot_at` is a Unix time in seconds (float): the earliest moment the next request
    may be sent. See ingestion/throttle.py.
    """

    name = models.CharField(max_length=100, unique=True)
    next_slot_at = models.FloatField(default=0.0)

    class Meta:
        verbose_name = "Open Library throttle"

    def __str__(self) -> str:
        return f"{self.name}: next slot at {self.next_slot_at:.3f}"


class IngestionJobQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(status__in=[IngestionJob.Status.PENDING, IngestionJob.Status.RUNNING])


class IngestionJob(models.Model):
    class Kind(models.TextChoices):
        QUERY = "query", "Search query"
        KEYS = "keys", "Open Library keys"
        ISBNS = "isbns", "ISBNs"
        RESYNC = "resync", "Re-sync"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="ingestion_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    query = models.CharField(max_length=500, blank=True)
    open_library_keys = models.JSONField(default=list, blank=True)
    isbns = models.JSONField(default=list, blank=True)
    limit = models.PositiveIntegerField(default=50)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written while the job runs; a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When a task for this job was last put on the queue; the watchdog enqueues a pending job
    # again only once this is older than the stale window, so its runs do not pile up tasks.
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)
    works_found = models.PositiveIntegerField(default=0)
    works_created = models.PositiveIntegerField(default=0)
    works_updated = models.PositiveIntegerField(default=0)
    works_unchanged = models.PositiveIntegerField(default=0)
    works_failed = models.PositiveIntegerField(default=0)
    failed_items = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Where the runner is: the resolved work keys and how many are done (survives lost workers).
    cursor = models.JSONField(default=dict, blank=True, editable=False)

    objects = IngestionJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="ingestionjob_tenant_id_uniq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"], name="ingestionjob_status_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="ingestionjob_watchdog_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def works_processed(self) -> int:
        return self.works_created + self.works_updated + self.works_unchanged + self.works_failed


class IngestionLog(models.Model):
    class Level(models.TextChoices):
        DEBUG = "debug", "Debug"
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(IngestionJob, on_delete=models.CASCADE, related_name="logs")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    open_library_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="ingestionlog_tenant_id_uniq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "job", "created_at"], name="ingestionlog_job_idx"),
            models.Index(fields=["tenant", "level", "created_at"], name="ingestionlog_level_idx"),
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:80]}"


class TrackedQuery(models.Model):
    """A search a library ran: the periodic re-sync runs it again to find new works."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    query = models.CharField(max_length=500)
    limit = models.PositiveIntegerField(default=50)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["query"]
        verbose_name_plural = "tracked queries"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "query"], name="trackedquery_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="trackedquery_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return self.query
