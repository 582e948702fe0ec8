"""Patrons and their reading-list submissions.

A patron is known only by keyed hashes of their email and name and a masked email
(patrons/pii.py); erasing a patron deletes the row, and their submissions stay, anonymised
(`patron` null). A submission lists 1-50 books by ISBN or Open Library key; each item resolves
to a book of the library's catalog, at once or in the background (patrons/services.py).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Book, BookQuerySet
from patrons.pii import MASKED_MAX_LENGTH
from tenants.models import Tenant, TenantQuerySet

HASH_LENGTH = 64  # hex HMAC-SHA256


class Patron(models.Model):
    """Someone who sent a reading list to one library. Never their email or name in clear."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="patrons")
    email_hash = models.CharField(max_length=HASH_LENGTH, editable=False)
    email_key_version = models.PositiveSmallIntegerField(editable=False)
    name_hash = models.CharField(max_length=HASH_LENGTH, editable=False)
    name_key_version = models.PositiveSmallIntegerField(editable=False)
    email_masked = models.CharField(max_length=MASKED_MAX_LENGTH, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_submitted_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One patron per email and library; the hash carries the library, so this is also
            # what makes two concurrent first submissions of one email create one patron.
            models.UniqueConstraint(fields=["tenant", "email_hash"], name="patron_tenant_email_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="patron_tenant_id_uniq"),
            models.CheckConstraint(
                condition=Q(email_key_version__gte=1, name_key_version__gte=1),
                name="patron_key_version_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at", "id"], name="patron_tenant_created_idx"),
            # The key report counts patrons per version (manage.py patron_keys).
            models.Index(fields=["email_key_version"], name="patron_key_version_idx"),
        ]

    def __str__(self) -> str:
        # Admin log entries keep this text after an erasure: an id, nothing personal.
        return f"Patron {self.pk}"


class Submission(models.Model):
    class Status(models.TextChoices):
        RESOLVING = "resolving", "Resolving"
        COMPLETE = "complete", "Complete"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="submissions")
    patron = models.ForeignKey(
        Patron,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="submissions",
        help_text="Empty once the patron was erased.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESOLVING)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Background resolution (patrons/services.py): attempts made, when the last one started
    # (a worker claimed it), and when it is due again while resolving (a retry's backoff, or
    # the end of the lease of the worker holding it).
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="submission_tenant_id_uniq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "created_at", "id"], name="submission_tenant_created_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="submission_recovery_idx"),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk}"


class SubmissionItem(models.Model):
    """One requested book of a submission, in the order the patron gave them."""

    class Kind(models.TextChoices):
        ISBN = "isbn", "ISBN"
        WORK = "work", "Work key"
        EDITION = "edition", "Edition key"

    class Status(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        PENDING = "pending", "Pending"
        NOT_FOUND = "not_found", "Not found"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    input = models.CharField(max_length=200, help_text="What was sent, trimmed.")
    isbn13 = models.CharField(max_length=13, blank=True)
    open_library_key = models.CharField(max_length=40, blank=True, help_text="The requested key, normalised.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    book = models.ForeignKey(
        Book, on_delete=models.SET_NULL, null=True, blank=True, related_name="submission_items"
    )
    error = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["submission", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "submission", "position"], name="submissionitem_position_uniq"
            ),
            models.UniqueConstraint(fields=["tenant", "id"], name="submissionitem_tenant_id_uniq"),
            models.CheckConstraint(
                condition=Q(kind="isbn", isbn13__regex=r"^97[89][0-9]{10}$")
                | (~Q(kind="isbn") & ~Q(open_library_key="")),
                name="submissionitem_has_request",
            ),
        ]
        indexes = [
            # "Most requested books": items per book of a library.
            models.Index(fields=["tenant", "book"], name="submissionitem_book_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.input} ({self.status})"


class RequestedBookManager(models.Manager.from_queryset(BookQuerySet)):
    def get_queryset(self) -> BookQuerySet:
        # Joined from the submission items (filter before annotate: one join, counted): only the
        # requested books are read and grouped, not every book of the library.
        return (
            super()
            .get_queryset()
            .filter(submission_items__isnull=False)
            .annotate(
                request_count=models.Count("submission_items"),
                patron_count=models.Count("submission_items__submission__patron", distinct=True),
            )
        )


class RequestedBook(Book):
    """The catalog seen from the patrons' side: the books submissions asked for, with how
    many items and patrons asked (`request_count`, `patron_count`)."""

    objects = RequestedBookManager()

    class Meta:
        proxy = True
        verbose_name = "most requested book"
        verbose_name_plural = "most requested books"
