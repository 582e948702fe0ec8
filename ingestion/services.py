"""Ingestion workflows: creating jobs, running them on the worker, re-sync, and the watchdog.

A job runs in slices: each django-q2 task works for at most INGESTION_SLICE_SECONDS, saves
its position and enqueues the next slice. A worker that dies mid-slice (SIGKILL, timeout)
leaves the job `running` with an old heartbeat; the broker's redelivery or the watchdog
resumes it from its saved position, and after INGESTION_JOB_MAX_ATTEMPTS lost workers the
job fails with a reason instead of being retried for ever.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.identifiers import InvalidIsbn, normalize_isbn, parse_open_library_key
from catalog.models import Book
from catalog.services import UpsertOutcome, upsert_book
from ingestion.models import IngestionJob, IngestionLog, TrackedQuery, WorkerHeartbeat
from ingestion.openlibrary import (
    DeletedRecord,
    OpenLibraryClient,
    OpenLibraryError,
    OpenLibraryNotFound,
    SearchDoc,
    WorkRecord,
)
from olcs.http import Conflict
from tenants.models import RateLimitBucket, Tenant
from tenants.ratelimit import IngestionBudgetExceeded, limit_for, take_ingestion_slots

logger = logging.getLogger(__name__)

QUERY_FIELDS = ("author", "subject", "title")
SEARCH_PAGE_SIZE = 100
KEY_BATCH = 100
MAX_LIST_ITEMS = 200  # subjects beyond this are noise in a catalog record
# A work fetched without search lists its editions (for ISBNs and languages) in at most this
# many pages: 500 editions, and the edition count is Open Library's own total in any case.
EDITIONS_PAGE_SIZE = 100
EDITIONS_MAX_PAGES = 5

Status = IngestionJob.Status
Kind = IngestionJob.Kind


# --- Heartbeat of the worker itself ---------------------------------------------------


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


# --- Creating jobs ----------------------------------------------------------------------


def parse_query(query: str) -> tuple[str, str]:
    """`author:Tolkien` → ("author", "Tolkien"); anything else is free text ("q", query)."""
    prefix, sep, rest = query.partition(":")
    if sep and prefix.strip().lower() in QUERY_FIELDS and rest.strip():
        return prefix.strip().lower(), rest.strip()
    return "q", query.strip()


def job_cost(*, tenant: Tenant, request: Mapping) -> int:
    """How many ingestion jobs one job request counts as against the library's budget.

    One, as the contract counts jobs. An operator who sets INGESTION_BUDGET_WORKS_PER_JOB makes
    it one per that many works the job asks for (a query's limit, the keys and ISBNs given), at
    least one and never more than the library's whole limit, so any single job fits once the
    window is clear. A re-sync counts as one: its cost follows upstream changes, which nobody
    knows in advance, and its interval has a floor.
    """
    kind = request["kind"]
    if kind == Kind.RESYNC or not settings.INGESTION_BUDGET_WORKS_PER_JOB:
        return 1
    if kind == Kind.QUERY:
        works = request.get("limit") or settings.INGESTION_DEFAULT_LIMIT
    else:
        works = len(request.get("open_library_keys", ())) + len(request.get("isbns", ()))
    cost = max(1, math.ceil(works / settings.INGESTION_BUDGET_WORKS_PER_JOB))
    return min(cost, limit_for(tenant=tenant, bucket=RateLimitBucket.INGESTION).requests)


class TooManyTrackedQueries(Conflict):
    """409: the library tracks MAX_TRACKED_QUERIES_PER_LIBRARY queries already."""

    def __init__(self, *, tracked: int) -> None:
        super().__init__(
            f"This library already tracks {tracked} queries, the most it may (every re-sync runs each "
            "of them again); delete one under Tracked queries in the admin before ingesting a new search.",
            code="too_many_tracked_queries",
        )
        self.tracked = tracked


def check_tracked_query_room(*, tenant: Tenant, queries: Iterable[str]) -> None:
    """Raise TooManyTrackedQueries if tracking `queries` would take the library over the bound.

    Queries it tracks already cost nothing. Call it inside the transaction that adds them,
    which this locks the library's row for, so two requests cannot both take the last place.
    """
    wanted = set(queries)
    if not wanted:
        return
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    tracked = TrackedQuery.objects.for_tenant(tenant)
    new = wanted - set(tracked.filter(query__in=wanted).values_list("query", flat=True))
    if not new:
        return
    count = tracked.count()
    if count + len(new) > settings.MAX_TRACKED_QUERIES_PER_LIBRARY:
        raise TooManyTrackedQueries(tracked=count)


def create_jobs(
    *, tenant: Tenant, requests: Sequence[Mapping], budget_exempt: bool = False
) -> list[IngestionJob]:
    """Record jobs for one library, charged to its ingestion budget all together or not at all.

    Every path that creates Open Library work comes here: the API, the admin, retries and
    re-syncs pay (`job_cost`); only the operator's management commands pass
    `budget_exempt=True`. Raises IngestionBudgetExceeded (a 429 on the API) when they do not
    fit, and TooManyTrackedQueries when a query would be one tracked query too many; either
    way nothing is created. Each job is enqueued once the surrounding transaction commits.
    """
    cost = sum(job_cost(tenant=tenant, request=request) for request in requests)
    with transaction.atomic():
        check_tracked_query_room(
            tenant=tenant,
            queries=[request["query"] for request in requests if request["kind"] == Kind.QUERY],
        )
        with nullcontext() if budget_exempt else take_ingestion_slots(tenant=tenant, count=cost):
            return [_record_job(tenant=tenant, **request) for request in requests]


def create_job(
    *,
    tenant: Tenant,
    kind: str,
    query: str = "",
    open_library_keys: Iterable[str] = (),
    isbns: Iterable[str] = (),
    limit: int | None = None,
    retry_of: IngestionJob | None = None,
    budget_exempt: bool = False,
) -> IngestionJob:
    """Record one job (see create_jobs: it is charged to the library's ingestion budget)."""
    request = {
        "kind": kind,
        "query": query,
        "open_library_keys": list(open_library_keys),
        "isbns": list(isbns),
        "limit": limit,
        "retry_of": retry_of,
    }
    [job] = create_jobs(tenant=tenant, requests=[request], budget_exempt=budget_exempt)
    return job


def check_budget(*, tenant: Tenant, requests: Sequence[Mapping]) -> None:
    """Raise IngestionBudgetExceeded if these jobs would not fit now, taking nothing.

    For forms, which must answer before anything is saved; the same decision as create_jobs'
    (its slots are taken and handed straight back).
    """

    class DryRun(Exception):
        pass

    cost = sum(job_cost(tenant=tenant, request=request) for request in requests)
    try:
        with transaction.atomic(), take_ingestion_slots(tenant=tenant, count=cost):
            raise DryRun
    except DryRun:
        pass


def _record_job(
    *,
    tenant: Tenant,
    kind: str,
    query: str = "",
    open_library_keys: Iterable[str] = (),
    isbns: Iterable[str] = (),
    limit: int | None = None,
    retry_of: IngestionJob | None = None,
) -> IngestionJob:
    job = IngestionJob.objects.create(
        tenant=tenant,
        kind=kind,
        query=query,
        open_library_keys=list(open_library_keys),
        isbns=list(isbns),
        limit=limit or settings.INGESTION_DEFAULT_LIMIT,
        retry_of=retry_of,
    )
    if kind == Kind.QUERY:
        TrackedQuery.objects.update_or_create(tenant=tenant, query=query, defaults={"limit": job.limit})
    log(job, "info", f"Job created ({job.get_kind_display()}).")
    transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


def enqueue_job(job_id: int) -> None:
    """Put a task for the job on the queue, and note when: the watchdog reads it."""
    from django_q.tasks import async_task

    # Written before the task is sent: a synchronous task (tests) may finish the job inside it.
    IngestionJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    async_task(
        "ingestion.tasks.run_ingestion_job", job_id, task_name=f"ingestion-job-{job_id}-{time.time_ns()}"
    )


class JobNotCancellable(Exception):
    pass


class NothingToRetry(Exception):
    pass


def cancel_job(*, job: IngestionJob) -> IngestionJob:
    """Cancel a pending or running job; a running one stops before its next work."""
    updated = IngestionJob.objects.filter(pk=job.pk, status__in=[Status.PENDING, Status.RUNNING]).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if not updated:
        raise JobNotCancellable(job.status)
    log(job, "warning", "Job cancelled.")
    # A job cancelled between two slices has no task left to wake the library's next one.
    wake_next_job(tenant_id=job.tenant_id)
    return job


def retry_job(*, job: IngestionJob, budget_exempt: bool = False) -> IngestionJob:
    """One new job for what failed in a finished job, or all of it if it failed as a whole.

    Failed items are work keys and ISBNs (an ISBN job can fail on both); the retry carries
    both lists and is an ISBN job when any ISBN failed, else a keys job. It is charged to the
    library's ingestion budget like any job (create_jobs).
    """
    if not job.is_finished:
        raise NothingToRetry("The job has not finished.")
    failed_keys = [item for item in job.failed_items if item.startswith("/")]
    failed_isbns = [item for item in job.failed_items if not item.startswith("/")]
    if failed_keys or failed_isbns:
        return create_job(
            tenant=job.tenant,
            kind=Kind.ISBNS if failed_isbns else Kind.KEYS,
            open_library_keys=failed_keys,
            isbns=failed_isbns,
            retry_of=job,
            budget_exempt=budget_exempt,
        )
    if job.status == Status.FAILED:
        return create_job(
            tenant=job.tenant,
            kind=job.kind,
            query=job.query,
            open_library_keys=job.open_library_keys,
            isbns=job.isbns,
            limit=job.limit,
            retry_of=job,
            budget_exempt=budget_exempt,
        )
    raise NothingToRetry("Nothing failed in this job.")


def log(job: IngestionJob, level: str, message: str, open_library_key: str = "") -> None:
    IngestionLog.objects.create(
        tenant_id=job.tenant_id,
        job=job,
        level=level,
        message=message[:2000],
        open_library_key=open_library_key,
    )
    getattr(logger, "warning" if level == "warning" else "error" if level == "error" else "info")(
        message, extra={"job_id": job.pk, "tenant": job.tenant_id, "open_library_key": open_library_key}
    )


# --- Running jobs -----------------------------------------------------------------------


def stale_after() -> timedelta:
    """A running job whose heartbeat is older than this has lost its worker."""
    return timedelta(seconds=settings.INGESTION_JOB_STALE_SECONDS)


def claim_job(job_id: int) -> IngestionJob | None:
    """Take a job for this worker, or None when it is finished, another worker holds it, or
    its library already runs its share of jobs (the job then waits its turn: the library's
    running job wakes the next one when it ends, see wake_next_job)."""
    gave_up = False
    with transaction.atomic():
        job = IngestionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        now = timezone.now()
        if job.status == Status.RUNNING and job.heartbeat_at and now - job.heartbeat_at < stale_after():
            if not job.cursor.get("handoff"):
                return None
        elif job.status == Status.RUNNING:
            job.attempts += 1  # the previous worker died mid-slice
            if job.attempts >= settings.INGESTION_JOB_MAX_ATTEMPTS:
                _finish(
                    job,
                    Status.FAILED,
                    error=(
                        f"The worker running this job stopped {job.attempts} times (killed or timed out); "
                        "giving up. Retry the job to try again."
                    ),
                )
                gave_up = True
        tenant_id = job.tenant_id
        if gave_up:
            job = None
        elif job.status == Status.PENDING and not _library_has_turn(job, now):
            return None
        else:
            job.cursor.pop("handoff", None)
            job.status = Status.RUNNING
            job.started_at = job.started_at or now
            job.heartbeat_at = now
            job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "cursor"])
    if gave_up:
        wake_next_job(tenant_id=tenant_id)
    return job


def _library_has_turn(job: IngestionJob, now) -> bool:
    """Whether a pending job may start: its library runs fewer jobs than
    INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY right now.

    One library's backlog then holds at most that many workers, so another library's job
    gets a worker (and its turn at the shared Open Library throttle) as soon as one is free,
    instead of queueing behind the backlog. Only starting jobs wait: a job already running
    keeps its turn between slices, and one whose worker died does not hold its library's.
    The library's row is locked so that two workers cannot both start its last free place.
    """
    most = settings.INGESTION_MAX_RUNNING_JOBS_PER_LIBRARY
    if not most:
        return True
    Tenant.objects.select_for_update().filter(pk=job.tenant_id).first()
    running = (
        IngestionJob.objects.for_tenant(job.tenant_id)
        .filter(status=Status.RUNNING, heartbeat_at__gte=now - stale_after())
        .exclude(pk=job.pk)
        .count()
    )
    return running < most


def wake_next_job(*, tenant_id: int) -> None:
    """Enqueue the library's oldest waiting job, once the surrounding transaction commits.

    Called whenever one of its jobs ends; a job woken while the library still has no free
    place simply waits again (claim_job), so waking too often is harmless.
    """
    waiting = (
        IngestionJob.objects.for_tenant(tenant_id)
        .filter(status=Status.PENDING)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )
    if waiting is not None:
        transaction.on_commit(lambda: enqueue_job(waiting))


def run_job(*, job_id: int, client: OpenLibraryClient | None = None) -> str:
    """Run one slice of a job. Returns what happened, for the task result."""
    job = claim_job(job_id)
    if job is None:
        return "skipped"
    runner = JobRunner(job, client or OpenLibraryClient())
    try:
        done = runner.run()
    except JobCancelled:
        wake_next_job(tenant_id=job.tenant_id)
        return "cancelled"
    except OpenLibraryError as exc:
        log(job, "error", f"Open Library: {exc}")
        _finish(job, Status.FAILED, error=f"Open Library error: {exc}")
        wake_next_job(tenant_id=job.tenant_id)
        return "failed"
    except Exception as exc:
        logger.exception("ingestion job crashed", extra={"job_id": job.pk})
        _finish(job, Status.FAILED, error=f"Internal error ({type(exc).__name__}); see the server logs.")
        wake_next_job(tenant_id=job.tenant_id)
        return "failed"
    if not done:
        # Slice used up: hand over to a fresh task so no single task nears the timeout.
        job.cursor["handoff"] = True
        IngestionJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(cursor=job.cursor)
        transaction.on_commit(lambda: enqueue_job(job.pk))
        return "continued"
    processed_ok = job.works_created + job.works_updated + job.works_unchanged
    # The library's next waiting job (claim_job) takes this one's place.
    if job.works_failed and not processed_ok:
        _finish(job, Status.FAILED, error=f"All {job.works_failed} items failed; see the job's log.")
        wake_next_job(tenant_id=job.tenant_id)
        return "failed"
    _finish(job, Status.COMPLETED)
    wake_next_job(tenant_id=job.tenant_id)
    return "completed"


def _finish(job: IngestionJob, status: str, error: str = "") -> None:
    """Finish a job unless it was cancelled meanwhile (a cancel always wins)."""
    now = timezone.now()
    fields = {
        "status": status,
        "finished_at": now,
        "heartbeat_at": now,
        "error": error[:2000],
        "attempts": job.attempts,
        "works_found": job.works_found,
        "works_created": job.works_created,
        "works_updated": job.works_updated,
        "works_unchanged": job.works_unchanged,
        "works_failed": job.works_failed,
        "failed_items": job.failed_items,
        "cursor": job.cursor,
    }
    IngestionJob.objects.filter(pk=job.pk).exclude(status=Status.CANCELLED).update(**fields)
    if status != Status.CANCELLED and job.kind == Kind.QUERY:
        TrackedQuery.objects.filter(tenant_id=job.tenant_id, query=job.query).update(last_run_at=now)
    for field, value in fields.items():
        setattr(job, field, value)
    if status == Status.COMPLETED:
        log(
            job,
            "info",
            f"Completed: {job.works_found} found, {job.works_created} created, {job.works_updated} updated, "
            f"{job.works_unchanged} unchanged, {job.works_failed} failed.",
        )
    elif status == Status.FAILED and error:
        log(job, "error", f"Failed: {error}")


class JobCancelled(Exception):
    pass


class JobRunner:
    """Resolves a job's request into work keys, then ingests them in batches."""

    def __init__(self, job: IngestionJob, client: OpenLibraryClient) -> None:
        self.job = job
        self.client = client
        self.tenant = job.tenant
        self.deadline = time.monotonic() + settings.INGESTION_SLICE_SECONDS
        self.search_failed = False  # the current batch's search failed: do not ask it again

    # The job row is the only state: the position survives a lost worker.
    def save_progress(self) -> None:
        job = self.job
        job.heartbeat_at = timezone.now()
        updated = IngestionJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            heartbeat_at=job.heartbeat_at,
            cursor=job.cursor,
            works_found=job.works_found,
            works_created=job.works_created,
            works_updated=job.works_updated,
            works_unchanged=job.works_unchanged,
            works_failed=job.works_failed,
            failed_items=job.failed_items,
        )
        if not updated:
            raise JobCancelled()

    def fail_item(self, item: str, message: str) -> None:
        self.job.works_failed += 1
        if item not in self.job.failed_items:
            self.job.failed_items.append(item)
        log(self.job, "error", message, open_library_key=item if item.startswith("/") else "")

    def run(self) -> bool:
        """True when the job is done, False when this slice ran out of time."""
        cursor = self.job.cursor
        if "work_keys" not in cursor:
            keys = self.resolve()
            if keys is None:
                return False  # the slice ended while resolving; cursor["resolving"] says where
            cursor.pop("resolving", None)
            cursor["work_keys"] = keys
            cursor["position"] = 0
            self.job.works_found = len(cursor["work_keys"])
            log(self.job, "info", f"Found {self.job.works_found} works to ingest.")
            self.save_progress()
        keys: list[str] = cursor["work_keys"]
        while cursor["position"] < len(keys):
            batch = keys[cursor["position"] : cursor["position"] + KEY_BATCH]
            self.ingest_batch(batch)
            # Checked after at least one work, so every slice makes progress however short it is.
            if cursor["position"] < len(keys) and time.monotonic() > self.deadline:
                return False
        return True

    # --- Resolving the request into work keys -----------------------------------------

    # Resolving can take many requests (a re-sync runs every tracked query again, page by
    # page), so it is done in steps that survive the slice: cursor["resolving"] holds which
    # queries and pages are done and the keys found so far, saved after every page, and a
    # slice ends after the page in flight once its time is up. None: not done yet.

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def resolve(self) -> list[str] | None:
        job = self.job
        if job.kind == Kind.QUERY:
            state = job.cursor.setdefault("resolving", {})
            try:
                if not self.resolve_query(state, job.query, job.limit):
                    return None
            except OpenLibraryError as exc:
                # Nothing to fall back on: the search is what the job is.
                raise OpenLibraryError(
                    f"the search {job.query!r:.200} could not be run: {exc}",
                    url=exc.url,
                    status=exc.status,
                    retryable=exc.retryable,
                ) from exc
            return state["keys"][: job.limit]
        if job.kind in (Kind.KEYS, Kind.ISBNS):
            # A retry of an ISBN job may carry both lists.
            keys = self.resolve_keys(job.open_library_keys) if job.open_library_keys else []
            isbn_keys = self.resolve_isbns(job.isbns) if job.isbns else []
            return list(dict.fromkeys([*keys, *isbn_keys]))
        if job.kind == Kind.RESYNC:
            return self.resolve_resync()
        raise ValueError(f"unknown job kind {job.kind!r}")

    def resolve_query(self, state: dict, query: str, limit: int) -> bool:
        """Page through a search into state["keys"], resuming at state["page"]; True once done.

        Progress is saved after every page; False when the slice ended before the last one.
        """
        field, value = parse_query(query)
        page_size = min(SEARCH_PAGE_SIZE, limit)
        keys: list[str] = state.setdefault("keys", [])
        state.setdefault("page", 1)
        while not state.get("done"):
            result = self.client.search(field=field, value=value, page=state["page"], limit=page_size)
            seen = set(keys)
            for doc in result.docs:
                if doc.work_key not in seen:
                    keys.append(doc.work_key)
                    seen.add(doc.work_key)
                self.doc_cache[doc.work_key] = doc
            if not result.docs or state["page"] * page_size >= result.num_found or len(keys) >= limit:
                state["done"] = True
            else:
                state["page"] += 1
            self.save_progress()
            if not state.get("done") and self.out_of_time():
                return False
        return True

    def resolve_keys(self, raw_keys: list[str]) -> list[str]:
        keys: dict[str, None] = {}
        for raw in raw_keys:
            kind, key = parse_open_library_key(raw)
            if kind == "work":
                keys.setdefault(key, None)
                continue
            try:
                edition = self.client.get_edition(key)
            except OpenLibraryNotFound:
                self.fail_item(key, f"Edition {key} not found on Open Library.")
                continue
            except OpenLibraryError as exc:
                self.fail_item(key, f"Edition {key} could not be fetched: {exc}")
                continue
            if isinstance(edition, DeletedRecord) or not edition.work_keys:
                self.fail_item(key, f"Edition {key} has no work on Open Library.")
                continue
            keys.setdefault(edition.work_keys[0], None)
        return list(keys)

    def resolve_isbns(self, isbns: list[str]) -> list[str]:
        keys: dict[str, None] = {}
        wanted = list(dict.fromkeys(isbns))
        for start in range(0, len(wanted), KEY_BATCH):
            chunk = wanted[start : start + KEY_BATCH]
            try:
                found = self.client.search_works_by_isbns(chunk)
            except OpenLibraryError as exc:
                # Search is the part of Open Library that has outages: ask for each ISBN's
                # edition instead (/isbn/…), which names its work.
                log(
                    self.job,
                    "warning",
                    f"Open Library's search failed for {len(chunk)} ISBNs; looking each up on its own: {exc}",
                )
                found = {}
            for isbn in chunk:
                doc = found.get(isbn)
                if doc is not None:
                    keys.setdefault(doc.work_key, None)
                    self.doc_cache[doc.work_key] = doc
                    continue
                try:
                    edition = self.client.edition_for_isbn(isbn)
                except OpenLibraryNotFound:
                    self.fail_item(isbn, f"ISBN {isbn} not found on Open Library.")
                    continue
                except OpenLibraryError as exc:
                    self.fail_item(isbn, f"ISBN {isbn} could not be looked up: {exc}")
                    continue
                if isinstance(edition, DeletedRecord) or not edition.work_keys:
                    self.fail_item(isbn, f"ISBN {isbn} has no work on Open Library.")
                    continue
                keys.setdefault(edition.work_keys[0], None)
        return list(keys)

    def resolve_resync(self) -> list[str] | None:
        """The library's tracked queries, one after the other and page by page, then every
        book it holds. state["queries"]: the tracked queries not done yet (their ids, taken
        when the re-sync started); state["current"]: the paging of the first of them."""
        state = self.job.cursor.setdefault("resolving", {})
        if "queries" not in state:
            state["queries"] = list(
                TrackedQuery.objects.for_tenant(self.tenant).order_by("id").values_list("id", flat=True)
            )
            state["keys"] = []
        while state["queries"]:
            tracked = TrackedQuery.objects.for_tenant(self.tenant).filter(pk=state["queries"][0]).first()
            current = state.setdefault("current", {})
            if tracked is not None:
                try:
                    if not self.resolve_query(current, tracked.query, tracked.limit):
                        return None
                except OpenLibraryError as exc:
                    log(self.job, "warning", f"Tracked query {tracked.query!r} skipped: {exc}")
                    current["keys"] = []
                else:
                    TrackedQuery.objects.filter(pk=tracked.pk).update(last_run_at=timezone.now())
                seen = set(state["keys"])
                for key in current.get("keys", [])[: tracked.limit]:
                    if key not in seen:
                        state["keys"].append(key)
                        seen.add(key)
            state["queries"].pop(0)
            state.pop("current", None)
            self.save_progress()
            if state["queries"] and self.out_of_time():
                return None
        keys = dict.fromkeys(state["keys"])
        existing = (
            Book.objects.for_tenant(self.tenant).order_by("id").values_list("open_library_key", flat=True)
        )
        keys.update(dict.fromkeys(existing))
        return list(keys)

    # --- Ingesting works --------------------------------------------------------------

    @property
    def doc_cache(self) -> dict[str, SearchDoc]:
        if not hasattr(self, "_docs"):
            self._docs: dict[str, SearchDoc] = {}
        return self._docs

    def search_docs(self, keys: list[str]) -> dict[str, SearchDoc]:
        """Search docs of `keys` in one request, kept in doc_cache; {} when the search fails.

        Search is the part of Open Library that has outages, and one request names a whole
        batch: its failure must not fail the works in it. A work without a doc is then
        fetched on its own from the works, editions and authors endpoints (doc_from_records).
        After a failure the rest of the batch does not ask search again.
        """
        if self.search_failed:
            return {}
        try:
            found = self.client.search_works_by_keys(keys)
        except OpenLibraryError as exc:
            self.search_failed = True
            log(
                self.job,
                "warning",
                f"Open Library's search failed for {len(keys)} works; fetching each on its own instead: {exc}",
            )
            return {}
        self.doc_cache.update(found)
        return found

    def ingest_batch(self, keys: list[str]) -> None:
        self.search_failed = False
        missing = [key for key in keys if key not in self.doc_cache]
        if missing:
            self.search_docs(missing)
        known = {
            book.open_library_key: book
            for book in Book.objects.for_tenant(self.tenant)
            .filter(open_library_key__in=keys)
            .only(
                "id",
                "open_library_key",
                "upstream_modified",
                "description",
                "subjects",
                "cover_id",
                "title",
                "subtitle",
                "content_hash",
            )
        }
        for key in keys:
            self.ingest_one(key, self.doc_cache.get(key), known.get(key))
            self.job.cursor["position"] += 1
            self.save_progress()
            # Per work, not per batch: a slow Open Library (retries, Retry-After waits) can make
            # one work take minutes, and a batch of 100 would outlast the task timeout.
            if time.monotonic() > self.deadline:
                return

    def ingest_one(self, key: str, doc: SearchDoc | None, book: Book | None) -> None:
        job = self.job
        source = "resync" if job.kind == Kind.RESYNC else "ingestion"
        try:
            if (
                book is not None
                and doc is not None
                and doc.last_modified is not None
                and book.upstream_modified == doc.last_modified
            ):
                # The work record itself did not change upstream: its fields are what we have.
                content = build_content(doc=doc, work=None, fallback=book)
                _, outcome = upsert_book(
                    tenant=self.tenant,
                    open_library_key=key,
                    content=content,
                    upstream_modified=doc.last_modified,
                    job=job,
                    source=source,
                )
            else:
                work = self.client.get_work(key)
                if isinstance(work, DeletedRecord):
                    log(
                        job,
                        "warning",
                        f"Work {key} is deleted on Open Library; skipped.",
                        open_library_key=key,
                    )
                    return
                if work.key != key:
                    log(job, "info", f"Work {key} was merged into {work.key} upstream.", open_library_key=key)
                    doc = self.doc_cache.get(work.key) or self.search_docs([work.key]).get(work.key)
                if doc is None:
                    doc = self.doc_from_records(work)
                content = build_content(doc=doc, work=work)
                _, outcome = upsert_book(
                    tenant=self.tenant,
                    open_library_key=work.key,
                    content=content,
                    merged_keys=(*work.redirected_from, key),
                    upstream_modified=doc.last_modified,
                    job=job,
                    source=source,
                )
        except OpenLibraryNotFound:
            self.fail_item(key, f"Work {key} not found on Open Library.")
            return
        except OpenLibraryError as exc:
            self.fail_item(key, f"Work {key} could not be fetched: {exc}")
            return
        if outcome == UpsertOutcome.CREATED:
            job.works_created += 1
        elif outcome == UpsertOutcome.UPDATED:
            job.works_updated += 1
            log(job, "info", f"Work {key} changed upstream: new version.", open_library_key=key)
        else:
            job.works_unchanged += 1

    def doc_from_records(self, work: WorkRecord) -> SearchDoc:
        """What search would say of a work, from its editions and authors: ISBNs, languages
        and the edition count come from the editions, names from the author records.

        For a work search did not answer for (an outage, or not indexed yet), so that it is
        ingested as complete as through search. OpenLibraryError when the editions cannot be
        listed: a book without them would be stored incomplete as if it were whole.
        """
        listed = self.client.work_editions(work.key, limit=EDITIONS_PAGE_SIZE, max_pages=EDITIONS_MAX_PAGES)
        authors = self.fetch_authors(work.author_keys)
        isbns = [isbn for edition in listed.editions for isbn in (*edition.isbn_13, *edition.isbn_10)]
        languages = [code for edition in listed.editions for code in edition.languages]
        dates = [work.first_publish_date, *(edition.publish_date for edition in listed.editions)]
        years = [year for year in map(_year_of, dates) if year is not None]
        return SearchDoc(
            work_key=work.key,
            title=work.title,
            subtitle=work.subtitle,
            author_names=tuple(author["name"] for author in authors),
            author_keys=tuple(author["open_library_key"] for author in authors),
            first_publish_year=min(years) if years else None,
            cover_id=work.cover_ids[0] if work.cover_ids else None,
            edition_count=listed.total,
            isbns=tuple(dict.fromkeys(isbns)),
            subjects=work.subjects,
            languages=tuple(dict.fromkeys(languages)),
            last_modified=work.last_modified,
        )

    def fetch_authors(self, author_keys: Iterable[str]) -> list[dict]:
        authors = []
        for author_key in author_keys:
            try:
                record = self.client.get_author(author_key)
            except OpenLibraryError as exc:
                log(self.job, "warning", f"Author {author_key} could not be fetched: {exc}")
                continue
            if not isinstance(record, DeletedRecord):
                authors.append({"name": record.name, "open_library_key": record.key})
        return authors


def build_content(
    *,
    doc: SearchDoc | None,
    work: WorkRecord | None,
    authors: list[dict] | None = None,
    fallback: Book | None = None,
) -> dict:
    """A book's content from a search doc (authors, ISBNs, languages, counts) and the work
    record (description, subjects, covers); `fallback` stands in for an unchanged work."""
    if work is not None:
        title, subtitle, description = work.title, work.subtitle, work.description
        subjects = list(work.subjects) or (list(doc.subjects) if doc else [])
        cover_id = work.cover_ids[0] if work.cover_ids else (doc.cover_id if doc else None)
    elif fallback is not None:
        title, subtitle, description = fallback.title, fallback.subtitle, fallback.description
        subjects, cover_id = list(fallback.subjects), fallback.cover_id
    else:
        title, subtitle, description = doc.title, doc.subtitle, None
        subjects, cover_id = list(doc.subjects), doc.cover_id
    if authors is None and doc is not None:
        authors = [
            {"name": name, "open_library_key": key}
            for name, key in zip(doc.author_names, doc.author_keys, strict=False)
        ]
    year = doc.first_publish_year if doc is not None else None
    if year is None and work is not None and work.first_publish_date:
        digits = "".join(ch if ch.isdigit() else " " for ch in work.first_publish_date).split()
        year = next((int(d) for d in digits if len(d) == 4), None)
    return {
        "title": (title or (doc.title if doc else "") or "").strip(),
        "subtitle": (subtitle or (doc.subtitle if doc else None) or None),
        "description": description or None,
        "authors": authors or [],
        "subjects": list(dict.fromkeys(s.strip() for s in subjects if s and s.strip()))[:MAX_LIST_ITEMS],
        "languages": sorted(set(doc.languages)) if doc else [],
        "first_publish_year": year,
        "cover_id": cover_id if cover_id and cover_id > 0 else None,
        "isbns": _canonical_isbns(doc.isbns if doc else []),
        "edition_count": (doc.edition_count or 0) if doc else 0,
    }


def _year_of(date: str | None) -> int | None:
    """The first four-digit number of a date as Open Library gives it ("1954", "October 1, 1988")."""
    if not date:
        return None
    digits = "".join(ch if ch.isdigit() else " " for ch in date).split()
    return next((int(d) for d in digits if len(d) == 4), None)


def _canonical_isbns(raw: Iterable[str]) -> list[str]:
    isbns = set()
    for value in raw:
        try:
            isbns.add(normalize_isbn(value))
        except InvalidIsbn:
            continue
    return sorted(isbns)


# --- Re-sync and the watchdog -------------------------------------------------------------


class ResyncInProgress(Exception):
    def __init__(self, job: IngestionJob):
        super().__init__(f"A re-sync is already {job.status} (job {job.pk}).")
        self.job = job


def start_resync(*, tenant: Tenant, budget_exempt: bool = False) -> IngestionJob:
    """A re-sync job for one library: its tracked queries again, and every book it holds.

    Raises ResyncInProgress while the library has one pending or running: two re-syncs
    would only race over the same books. Charged to the library's ingestion budget like any
    job (create_jobs), unless an operator's command asks otherwise.
    """
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        running = IngestionJob.objects.for_tenant(tenant).filter(kind=Kind.RESYNC).active().first()
        if running is not None:
            raise ResyncInProgress(running)
        return create_job(
            tenant=tenant, kind=Kind.RESYNC, limit=settings.INGESTION_MAX_LIMIT, budget_exempt=budget_exempt
        )


def resync_interval_hours(tenant: Tenant) -> int:
    """The library's re-sync interval: its own or the deployment's, never under the floor
    (RE_SYNC_MIN_INTERVAL_HOURS), whatever was stored before the floor existed."""
    hours = tenant.resync_interval_hours or settings.RE_SYNC_INTERVAL_HOURS
    return max(hours, settings.RE_SYNC_MIN_INTERVAL_HOURS)


def resync_due_tenants() -> list[int]:
    """Start a re-sync for every library whose interval has passed and that has none running.

    A library over its ingestion budget is skipped this round, with a log line, and tried
    again on the next (the schedule runs every 15 minutes); nothing is lost.
    """
    started = []
    now = timezone.now()
    for tenant in Tenant.objects.filter(resync_enabled=True).order_by("id"):
        jobs = IngestionJob.objects.for_tenant(tenant).filter(kind=Kind.RESYNC)
        if jobs.active().exists():
            continue
        last = jobs.order_by("-created_at").values_list("created_at", flat=True).first()
        hours = resync_interval_hours(tenant)
        if last is not None and now - last < timedelta(hours=hours) - timedelta(minutes=5):
            continue
        try:
            with transaction.atomic():
                started.append(start_resync(tenant=tenant).pk)
        except IngestionBudgetExceeded as exc:
            logger.warning(
                "scheduled re-sync of %s skipped: its ingestion budget is used up; tried again next round",
                tenant.slug,
                extra={"tenant": tenant.slug, "retry_after_seconds": exc.wait},
            )
        except ResyncInProgress:
            continue  # one was started since the check above
    return started


def recover_stalled_jobs() -> dict[str, int]:
    """The watchdog: re-enqueue jobs whose worker vanished, fail those out of attempts.

    A job is sent again only when its last enqueue is older than the stale window too: the
    task sent by the previous run may simply be waiting in the queue, and sending one per run
    would pile up a task per job per run (15 jobs, 3 runs: 45 tasks).
    """
    now = timezone.now()
    cutoff = now - stale_after()
    requeued = failed = 0
    not_sent_lately = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff)
    for job in IngestionJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff):
        if job.attempts + 1 >= settings.INGESTION_JOB_MAX_ATTEMPTS:
            job.attempts += 1
            _finish(
                job,
                Status.FAILED,
                error=f"The worker running this job stopped {job.attempts} times; giving up.",
            )
            failed += 1
        elif job.enqueued_at is None or job.enqueued_at < cutoff:
            enqueue_job(job.pk)
            requeued += 1
    # A pending job whose task was lost (e.g. a broker without redelivery) is simply sent again:
    # claim_job makes a duplicate harmless.
    pending = IngestionJob.objects.filter(status=Status.PENDING, created_at__lt=cutoff).filter(
        not_sent_lately
    )
    for job_id in pending.values_list("id", flat=True):
        enqueue_job(job_id)
        requeued += 1
    return {"requeued": requeued, "failed": failed}


def resync_state(*, tenant: Tenant) -> dict:
    jobs = IngestionJob.objects.for_tenant(tenant).filter(kind=Kind.RESYNC)
    last_job = jobs.order_by("-created_at", "-id").first()
    hours = resync_interval_hours(tenant)
    last_run_at = last_job.created_at if last_job else None
    next_run_at = None
    if tenant.resync_enabled:
        next_run_at = (last_run_at + timedelta(hours=hours)) if last_run_at else timezone.now()
    return {
        "enabled": tenant.resync_enabled,
        "interval_hours": hours,
        "last_run_at": last_run_at,
        "next_run_at": next_run_at,
        "tracked_queries": TrackedQuery.objects.for_tenant(tenant).count(),
        "tracked_works": Book.objects.for_tenant(tenant).count(),
        "last_job_id": str(last_job.pk) if last_job else None,
    }
