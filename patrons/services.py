"""Patron and submission workflows: recording a submission, resolving its books, erasure, and
the watchdog that never leaves a submission resolving for ever.

A submission's books resolve at once when the library's catalog has them (by ISBN, by work
key or a key merged into a work). The rest wait for a background task that asks Open Library
a constant number of questions however many books there are: one Books API request for every
unknown ISBN, one search for every unknown work, plus one request per edition key and per
work missing from the search index (merged or deleted upstream, rare). Books it finds are
added to the catalog through the ingestion's own `build_content` and `upsert_book`, from the
search answer alone; the next re-sync fetches their full work records (docs/privacy.md has
the privacy side, ADR 0016 the resolution).
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from catalog.models import Book, BookIsbn, BookVersion
from catalog.services import upsert_book
from ingestion.openlibrary import (
    MAX_BATCH,
    DeletedRecord,
    OpenLibraryClient,
    OpenLibraryError,
    OpenLibraryNotFound,
    WorkRecord,
)
from ingestion.services import build_content
from patrons import pii
from patrons.models import Patron, Submission, SubmissionItem
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_BOOKS = 50
# Attempts at resolving one submission before its pending books end not_found. With the
# backoff below (1, 2, 4, ... minutes, at most an hour apart) Open Library may be down for
# about two hours before that happens.
MAX_RESOLVE_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
# A submission no worker has taken this long after it was recorded is sent again.
DISPATCH_GRACE_SECONDS = 60

Kind = SubmissionItem.Kind
ItemStatus = SubmissionItem.Status
Status = Submission.Status


@dataclass(frozen=True)
class BookRequest:
    """One book of a submission as validated: an ISBN-13, or a normalised work or edition key."""

    kind: str
    input: str
    isbn13: str = ""
    open_library_key: str = ""


# --- Patrons -----------------------------------------------------------------------------------


def _matching_patron(tenant: Tenant, candidates: tuple[pii.KeyedHash, ...], *, lock: bool) -> Patron | None:
    """The library's patron with one of these email hashes, confirmed in constant time."""
    patrons = Patron.objects.for_tenant(tenant).filter(email_hash__in=[c.digest for c in candidates])
    if lock:
        # An erasure running now finishes first; then the row is gone and a new patron is made.
        patrons = patrons.select_for_update()
    # Newest key first: if a rolling deploy ever made two rows for one email, use the current one.
    for patron in patrons.order_by("-email_key_version", "id"):
        if pii.stored_hash_matches(
            digest=patron.email_hash, version=patron.email_key_version, candidates=candidates
        ):
            return patron
    return None


@sensitive_variables()
def find_patron(*, tenant: Tenant, email: pii.Personal) -> Patron | None:
    """The library's patron with this email (any case, surrounding spaces ignored), under any
    configured key; None when there is none, or when they were erased."""
    return _matching_patron(tenant, pii.email_candidates(tenant_id=tenant.pk, email=email), lock=False)


def _identify_patron(*, tenant: Tenant, digests: pii.PatronDigests, now: datetime) -> Patron:
    """The patron of these digests, created when new; a hash under an old key is upgraded.

    Runs inside the caller's transaction.
    """
    patron = _matching_patron(tenant, digests.email_candidates, lock=True)
    for _ in range(3):
        if patron is not None:
            break
        try:
            with transaction.atomic():
                return Patron.objects.create(
                    tenant=tenant,
                    email_hash=digests.email.digest,
                    email_key_version=digests.email.version,
                    name_hash=digests.name.digest,
                    name_key_version=digests.name.version,
                    email_masked=digests.email_masked,
                    created_at=now,
                    last_submitted_at=now,
                )
        except IntegrityError:
            # The same new email in a concurrent request: that request created the patron (or
            # it was erased since, and the next round creates it again).
            patron = _matching_patron(tenant, digests.email_candidates, lock=True)
    if patron is None:
        # Not the IntegrityError itself: its message quotes the hash.
        raise RuntimeError("could not create or find the patron; the request may be retried")
    # The name is the one given last; both hashes move to the newest key.
    updates = {
        "last_submitted_at": now,
        "name_hash": digests.name.digest,
        "name_key_version": digests.name.version,
        "email_masked": digests.email_masked,
    }
    if patron.email_key_version != digests.email.version:
        updates.update(email_hash=digests.email.digest, email_key_version=digests.email.version)
        logger.info(
            "patron hash upgraded to the newest key",
            extra={
                "patron_id": patron.pk,
                "from_version": patron.email_key_version,
                "to_version": digests.email.version,
            },
        )
    Patron.objects.filter(pk=patron.pk).update(**updates)
    for field, value in updates.items():
        setattr(patron, field, value)
    return patron


def erase_patron(*, patron: Patron) -> int:
    """Erase a patron: their hashes and masked email are deleted with the row, and their
    submissions stay, anonymised (no patron). Returns how many submissions were kept.

    The same email submitting again afterwards is a new patron: nothing links the two.
    """
    with transaction.atomic():
        # Locked first, so a submission being recorded for this patron either lands before
        # (and is anonymised here) or after (and makes a new patron).
        tenant_id = (
            Patron.objects.select_for_update()
            .filter(pk=patron.pk)
            .values_list("tenant_id", flat=True)
            .first()
        )
        if tenant_id is None:
            return 0
        kept = Submission.objects.filter(patron_id=patron.pk).update(patron=None)
        Patron.objects.filter(pk=patron.pk).delete()
    logger.info(
        "patron erased", extra={"patron_id": patron.pk, "tenant": tenant_id, "submissions_kept": kept}
    )
    return kept


# No patron has this id (ids start at 1): the erasure of an unknown email runs its statements on it.
NO_PATRON_ID = 0


@sensitive_variables()
def erase_patron_by_email(*, tenant: Tenant, email: pii.Personal) -> None:
    """Erase the library's patron with this email, if there is one (the patron-facing website's
    "forget me"); as `erase_patron` otherwise.

    Nothing tells whether the patron existed: the caller answers the same, and the same three
    statements run either way (the lookup, then the update and the delete, on an id no patron
    has when there was none), so the time does not tell either.
    """
    candidates = pii.email_candidates(tenant_id=tenant.pk, email=email)
    with transaction.atomic():
        patron = _matching_patron(tenant, candidates, lock=True)
        patron_id = patron.pk if patron is not None else NO_PATRON_ID
        kept = Submission.objects.filter(tenant=tenant, patron_id=patron_id).update(patron=None)
        # One DELETE, found or not: QuerySet.delete() would first select the rows, and then
        # only when there was one, update the submissions (done above) and delete.
        Patron.objects.filter(tenant=tenant, pk=patron_id)._raw_delete(using=Patron.objects.db)
    if patron is not None:
        logger.info(
            "patron erased",
            extra={"patron_id": patron_id, "tenant": tenant.pk, "submissions_kept": kept, "by": "email"},
        )


def key_version_report() -> dict:
    """How many patrons' hashes use each key version: an old key may be removed from
    HMAC_SECRET_KEYS once no patron uses it (docs/privacy.md, "Rotating the key")."""
    configured = pii.configured_key_versions()
    email_counts = dict(
        Patron.objects.order_by()
        .values("email_key_version")
        .annotate(n=Count("id"))
        .values_list("email_key_version", "n")
    )
    name_counts = dict(
        Patron.objects.order_by()
        .values("name_key_version")
        .annotate(n=Count("id"))
        .values_list("name_key_version", "n")
    )
    in_use = sorted(set(email_counts) | set(name_counts))
    newest = max(configured)
    return {
        "configured_versions": configured,
        "current_version": newest,
        "patrons": sum(email_counts.values()),
        "email_hashes": {str(v): email_counts.get(v, 0) for v in sorted(set(configured) | set(email_counts))},
        "name_hashes": {str(v): name_counts.get(v, 0) for v in sorted(set(configured) | set(name_counts))},
        "removable_versions": [v for v in configured if v != newest and v not in in_use],
        "missing_versions": [v for v in in_use if v not in configured],
    }


# --- Recording a submission ----------------------------------------------------------------------


@sensitive_variables()
def record_submission(
    *, tenant: Tenant, email: pii.Personal, name: pii.Personal, books: Sequence[BookRequest]
) -> Submission:
    """Record a patron's reading list: find or create the patron, link the books the catalog
    already has, and leave the rest to a background task (enqueued on commit).

    Never waits for Open Library. The submission is `complete` when every book was in the
    catalog, else `resolving`. `submission.item_list` holds its items.
    """
    if not 1 <= len(books) <= MAX_BOOKS:
        raise ValueError(f"a submission has 1 to {MAX_BOOKS} books, not {len(books)}")
    digests = pii.patron_digests(tenant_id=tenant.pk, email=email, name=name)
    now = timezone.now()
    items = [
        SubmissionItem(
            tenant=tenant,
            position=position,
            kind=book.kind,
            input=book.input[:200],
            isbn13=book.isbn13,
            open_library_key=book.open_library_key,
        )
        for position, book in enumerate(books)
    ]
    with transaction.atomic():
        patron = _identify_patron(tenant=tenant, digests=digests, now=now)
        link_catalog_books(tenant=tenant, items=items)
        complete = all(item.status == ItemStatus.RESOLVED for item in items)
        submission = Submission.objects.create(
            tenant=tenant,
            patron=patron,
            status=Status.COMPLETE if complete else Status.RESOLVING,
            created_at=now,
            resolved_at=now if complete else None,
            next_attempt_at=None if complete else now + timedelta(seconds=DISPATCH_GRACE_SECONDS),
        )
        for item in items:
            item.submission = submission
        SubmissionItem.objects.bulk_create(items)
        if not complete:
            transaction.on_commit(lambda: enqueue_resolution(submission.pk))
    logger.info(
        "submission recorded",
        extra={
            "submission_id": submission.pk,
            "patron_id": patron.pk,
            "tenant": tenant.pk,
            "books": len(items),
            "resolved_at_once": sum(item.status == ItemStatus.RESOLVED for item in items),
            "status": submission.status,
        },
    )
    submission.item_list = items
    return submission


def enqueue_resolution(submission_id: int) -> None:
    from django_q.tasks import async_task

    async_task(
        "patrons.tasks.resolve_submission",
        submission_id,
        task_name=f"submission-{submission_id}-{time.time_ns()}",
    )


# --- The catalog side: books the library already has --------------------------------------------


def _catalog_books_by_isbn(tenant: Tenant, isbns: Iterable[str]) -> dict[str, Book]:
    wanted = set(isbns)
    if not wanted:
        return {}
    rows = (
        BookIsbn.objects.for_tenant(tenant)
        .filter(isbn13__in=wanted)
        .select_related("book")
        .only("isbn13", "book__id", "book__title", "book__open_library_key", "book__tenant_id")
        .order_by("book_id")  # two books sharing an ISBN: the older one, every time
    )
    found: dict[str, Book] = {}
    for row in rows:
        found.setdefault(row.isbn13, row.book)
    return found


def catalog_books_by_work_key(tenant: Tenant, keys: Iterable[str]) -> dict[str, Book]:
    """The library's books for these work keys, also under keys merged into them upstream."""
    wanted = set(keys)
    if not wanted:
        return {}
    books = Book.objects.for_tenant(tenant).only(
        "id", "title", "open_library_key", "merged_keys", "tenant_id"
    )
    found = {book.open_library_key: book for book in books.filter(open_library_key__in=wanted)}
    missing = wanted - set(found)
    if missing:
        # merged_keys is a JSON list; its text contains the key in quotes. Portable (SQLite has
        # no JSON containment), and only asked for keys that are not a book's own key.
        match = reduce(operator.or_, (Q(merged_text__contains=f'"{key}"') for key in sorted(missing)))
        for book in books.annotate(merged_text=Cast("merged_keys", TextField())).filter(match).order_by("id"):
            for key in book.merged_keys:
                if key in missing:
                    found.setdefault(key, book)
    return found


def link_catalog_books(*, tenant: Tenant, items: Sequence[SubmissionItem]) -> list[SubmissionItem]:
    """Resolve the pending ISBN and work-key items the catalog has. Returns the items resolved.

    Edition keys are not in the catalog (it stores works), so they always wait for Open Library.
    """
    pending = [item for item in items if item.status == ItemStatus.PENDING]
    by_isbn = _catalog_books_by_isbn(tenant, (i.isbn13 for i in pending if i.kind == Kind.ISBN))
    by_key = catalog_books_by_work_key(tenant, (i.open_library_key for i in pending if i.kind == Kind.WORK))
    resolved = []
    for item in pending:
        book = by_isbn.get(item.isbn13) if item.kind == Kind.ISBN else by_key.get(item.open_library_key)
        if book is not None:
            item.book, item.status, item.error = book, ItemStatus.RESOLVED, ""
            resolved.append(item)
    return resolved


# --- Background resolution -------------------------------------------------------------------------


def _lease() -> timedelta:
    # A task runs at most Q_CLUSTER["timeout"] seconds; a claim older than that lost its worker.
    return timedelta(seconds=int(settings.Q_CLUSTER.get("timeout") or 600) + 30)


def _claim(submission_id: int) -> tuple[Submission, datetime] | None:
    """Take a resolving submission for this worker: (submission, claim time), or None when it
    is complete or a live worker holds it."""
    now = timezone.now()
    claimed = (
        Submission.objects.filter(pk=submission_id, status=Status.RESOLVING)
        .filter(Q(claimed_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(claimed_at=now, attempts=F("attempts") + 1, next_attempt_at=now + _lease())
    )
    if not claimed:
        return None
    submission = Submission.objects.select_related("tenant").get(pk=submission_id)
    if submission.attempts > MAX_RESOLVE_ATTEMPTS:
        # Every attempt so far lost its worker (killed, timed out): do not try for ever.
        _give_up(
            submission,
            claimed_at=now,
            error=f"The worker resolving this submission stopped {submission.attempts - 1} times.",
        )
        return None
    return submission, now


def resolve_submission(*, submission_id: int, client: OpenLibraryClient | None = None) -> str:
    """Resolve a submission's pending books from Open Library. Returns what happened:
    "complete", "retry" (Open Library failed; due again after a backoff), "gave_up" or "skipped".
    """
    claim = _claim(submission_id)
    if claim is None:
        return "skipped"
    submission, claimed_at = claim
    resolver = Resolver(submission)
    try:
        if client is not None:
            resolver.run(client)
        else:
            with OpenLibraryClient() as own_client:
                resolver.run(own_client)
    except OpenLibraryError as exc:
        resolver.save()
        return _attempt_failed(submission, claimed_at=claimed_at, error=f"Open Library: {exc}")
    except Exception as exc:
        logger.exception("submission resolution crashed", extra={"submission_id": submission.pk})
        resolver.save()
        return _attempt_failed(
            submission,
            claimed_at=claimed_at,
            error=f"Internal error ({type(exc).__name__}); see the server logs.",
        )
    resolver.save()
    return _complete(submission, claimed_at=claimed_at)


def _complete(submission: Submission, *, claimed_at: datetime) -> str:
    now = timezone.now()
    with transaction.atomic():
        updated = Submission.objects.filter(
            pk=submission.pk, status=Status.RESOLVING, claimed_at=claimed_at
        ).update(status=Status.COMPLETE, resolved_at=now, next_attempt_at=None, error="")
        if updated:
            # The resolver decides every item; this is only a backstop.
            SubmissionItem.objects.filter(submission_id=submission.pk, status=ItemStatus.PENDING).update(
                status=ItemStatus.NOT_FOUND, error="Not resolved."
            )
    counts = dict.fromkeys(ItemStatus.values, 0)
    for status in SubmissionItem.objects.filter(submission_id=submission.pk).values_list("status", flat=True):
        counts[status] += 1
    logger.info(
        "submission resolved",
        extra={
            "submission_id": submission.pk,
            "tenant": submission.tenant_id,
            "attempts": submission.attempts,
            **counts,
        },
    )
    return "complete" if updated else "skipped"


def _attempt_failed(submission: Submission, *, claimed_at: datetime, error: str) -> str:
    if submission.attempts >= MAX_RESOLVE_ATTEMPTS:
        _give_up(submission, claimed_at=claimed_at, error=error)
        return "gave_up"
    delay = min(FIRST_RETRY_SECONDS * 2 ** (submission.attempts - 1), MAX_RETRY_SECONDS)
    # claimed_at stays: until the backoff is over, a duplicate task cannot take it.
    Submission.objects.filter(pk=submission.pk, status=Status.RESOLVING, claimed_at=claimed_at).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay), error=error[:2000]
    )
    logger.warning(
        "submission resolution failed; retrying later",
        extra={"submission_id": submission.pk, "attempts": submission.attempts, "retry_in_seconds": delay},
    )
    return "retry"


def _give_up(submission: Submission, *, claimed_at: datetime | None, error: str) -> bool:
    """Finish a submission whose pending books could not be resolved: they end not_found."""
    now = timezone.now()
    message = f"{error} Gave up after {submission.attempts} attempts."
    with transaction.atomic():
        finishing = Submission.objects.filter(pk=submission.pk, status=Status.RESOLVING)
        if claimed_at is not None:
            finishing = finishing.filter(claimed_at=claimed_at)
        updated = finishing.update(
            status=Status.COMPLETE,
            resolved_at=now,
            next_attempt_at=None,
            error=message[:2000],
        )
        if updated:
            SubmissionItem.objects.filter(submission_id=submission.pk, status=ItemStatus.PENDING).update(
                status=ItemStatus.NOT_FOUND,
                error="Open Library could not be asked; see the submission's error.",
            )
    if updated:
        logger.error(
            "submission resolution gave up",
            extra={"submission_id": submission.pk, "attempts": submission.attempts},
        )
    return bool(updated)


def recover_stalled_submissions() -> dict[str, int]:
    """The watchdog: send again every resolving submission that is due (a task that was lost,
    a worker that died, a retry whose backoff is over); finish those out of attempts."""
    now = timezone.now()
    requeued = gave_up = 0
    due = Submission.objects.filter(status=Status.RESOLVING, next_attempt_at__lte=now).order_by(
        "next_attempt_at"
    )
    for submission in due.only("id", "attempts", "tenant_id"):
        if submission.attempts >= MAX_RESOLVE_ATTEMPTS:
            if _give_up(
                submission,
                claimed_at=None,
                error=f"Not resolved after {submission.attempts} attempts (workers lost or Open Library down).",
            ):
                gave_up += 1
        else:
            enqueue_resolution(submission.pk)
            requeued += 1
    return {"requeued": requeued, "gave_up": gave_up}


def _chunks(values: Sequence[str], size: int = MAX_BATCH) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class Resolver:
    """Decides every pending item of one submission: resolved (with its book) or not_found.

    Open Library is asked a constant number of questions: one Books API request per 100
    distinct ISBNs (ISBN -> edition -> work), one search per 100 unknown works (the fields a
    book is created from), and, rarely, one request per edition key or per work the search
    does not know under that key (merged or deleted upstream).
    """

    def __init__(self, submission: Submission) -> None:
        self.submission = submission
        self.tenant = submission.tenant
        self.items = list(
            SubmissionItem.objects.filter(submission=submission, status=ItemStatus.PENDING).order_by(
                "position"
            )
        )
        self.decided: dict[int, SubmissionItem] = {}

    def resolved(self, item: SubmissionItem, book: Book) -> None:
        item.book, item.status, item.error = book, ItemStatus.RESOLVED, ""
        self.decided[item.pk] = item

    def not_found(self, item: SubmissionItem, reason: str) -> None:
        item.book, item.status, item.error = None, ItemStatus.NOT_FOUND, reason
        self.decided[item.pk] = item

    def save(self) -> None:
        """Write the decided items (also after a failure: what was decided stays decided)."""
        if self.decided:
            SubmissionItem.objects.bulk_update(list(self.decided.values()), ["status", "book", "error"])
            self.decided.clear()

    def run(self, client: OpenLibraryClient) -> None:
        # The catalog may have them by now (another submission, an ingestion).
        for item in link_catalog_books(tenant=self.tenant, items=self.items):
            self.decided[item.pk] = item
        pending = [item for item in self.items if item.status == ItemStatus.PENDING]
        work_key_of: dict[int, str] = {i.pk: i.open_library_key for i in pending if i.kind == Kind.WORK}
        edition_of: dict[int, str] = {i.pk: i.open_library_key for i in pending if i.kind == Kind.EDITION}
        isbns_of_work: dict[str, set[str]] = {}

        isbn_items = [item for item in pending if item.kind == Kind.ISBN]
        records = {}
        for chunk in _chunks(list(dict.fromkeys(item.isbn13 for item in isbn_items))):
            records.update(client.books_by_isbns(chunk))
        for item in isbn_items:
            record = records.get(item.isbn13)
            if record is None:
                self.not_found(item, "Open Library has no edition with this ISBN.")
            elif record.work_keys:
                work_key_of[item.pk] = record.work_keys[0]
                isbns_of_work.setdefault(record.work_keys[0], set()).add(item.isbn13)
            else:
                edition_of[item.pk] = record.edition_key  # a Books API answer without its work

        work_of_edition = self.works_of_editions(client, edition_of.values())
        for item in pending:
            if item.pk in edition_of:
                work_key = work_of_edition.get(edition_of[item.pk])
                if work_key is None:
                    self.not_found(item, "Open Library has no work for this edition.")
                    continue
                work_key_of[item.pk] = work_key
                if item.kind == Kind.ISBN:
                    isbns_of_work.setdefault(work_key, set()).add(item.isbn13)

        books = self.books_for_works(client, list(dict.fromkeys(work_key_of.values())), isbns_of_work)
        for item in pending:
            if item.pk in work_key_of:
                book = books.get(work_key_of[item.pk])
                if book is not None:
                    self.resolved(item, book)
                else:
                    self.not_found(item, "Open Library has no such work.")

    def works_of_editions(
        self, client: OpenLibraryClient, edition_keys: Iterable[str]
    ) -> dict[str, str | None]:
        """{edition key: its work key, or None}. One request per edition: the client has no
        batch answer that links editions to works."""
        works: dict[str, str | None] = {}
        for key in dict.fromkeys(edition_keys):
            try:
                edition = client.get_edition(key)
            except OpenLibraryNotFound:
                works[key] = None
                continue
            works[key] = (
                None if isinstance(edition, DeletedRecord) or not edition.work_keys else edition.work_keys[0]
            )
        return works

    def books_for_works(
        self, client: OpenLibraryClient, keys: list[str], isbns_of_work: dict[str, set[str]]
    ) -> dict[str, Book]:
        """{work key: the library's book}, adding to the catalog the works it lacks."""
        found = catalog_books_by_work_key(self.tenant, keys)
        unknown = [key for key in keys if key not in found]
        docs = {}
        for chunk in _chunks(unknown):
            docs.update(client.search_works_by_keys(chunk))
        # Added meanwhile (another submission, an ingestion) while Open Library answered:
        # linked as they are, never overwritten with a search answer.
        found.update(self.books_under_keys([key for key in unknown if key in docs]))
        for key in unknown:
            if key in docs and key not in found:
                content = build_content(doc=docs[key], work=None)
                found[key] = self.add_book(key, content, isbns=isbns_of_work.get(key, ()))

        # Not in the search index under this key: merged into another work, deleted or unknown.
        # The work record says which (one request each; rare).
        finals: dict[str, WorkRecord] = {}
        for key in [key for key in unknown if key not in found]:
            try:
                work = client.get_work(key)
            except OpenLibraryNotFound:
                continue
            if not isinstance(work, DeletedRecord):
                finals[key] = work
        final_books = catalog_books_by_work_key(self.tenant, {work.key for work in finals.values()})
        final_docs = {}
        for chunk in _chunks(
            [k for k in dict.fromkeys(w.key for w in finals.values()) if k not in final_books]
        ):
            final_docs.update(client.search_works_by_keys(chunk))
        final_books.update(
            self.books_under_keys([w.key for w in finals.values() if w.key not in final_books])
        )
        for key, work in finals.items():
            if work.key not in final_books:
                content = build_content(doc=final_docs.get(work.key), work=work)
                final_books[work.key] = self.add_book(
                    work.key,
                    content,
                    merged_keys=(*work.redirected_from, key),
                    isbns=isbns_of_work.get(key, ()),
                )
            found[key] = final_books[work.key]
        return found

    def books_under_keys(self, keys: list[str]) -> dict[str, Book]:
        if not keys:
            return {}
        books = Book.objects.for_tenant(self.tenant).filter(open_library_key__in=keys)
        return {
            book.open_library_key: book for book in books.only("id", "title", "open_library_key", "tenant_id")
        }

    def add_book(
        self, key: str, content: dict, *, merged_keys: Iterable[str] = (), isbns: Iterable[str] = ()
    ) -> Book:
        """A new book from what Open Library answered.

        `upstream_modified` stays unset, so the next re-sync fetches the full work record
        (description, all subjects and covers) and records it as a new version.
        """
        # Open Library said these ISBNs are editions of this work: the next lookup finds them.
        content = {**content, "isbns": sorted({*content.get("isbns", []), *isbns})}
        book, _ = upsert_book(
            tenant=self.tenant,
            open_library_key=key,
            content=content,
            merged_keys=merged_keys,
            source=BookVersion.Source.INGESTION,
        )
        return book
