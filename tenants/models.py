"""Libraries (tenants), their API keys and their librarians."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from olcs.keys import KEY_PREFIX_MARK

# `\Z`, not `$`: `$` also matches before a final newline, which let "newline\n" make a second
# library. PostgreSQL's and Python's regular expressions (SQLite's REGEXP) both read `\Z` so.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,62}\Z"
SLUG_HELP = (
    "2-63 characters: lowercase letters, digits and single hyphens, "
    "starting and ending with a letter or digit."
)
validate_tenant_slug = RegexValidator(
    SLUG_PATTERN,
    message="Enter a valid slug: " + SLUG_HELP,
    code="invalid_slug",
)


class Scope(models.TextChoices):
    CATALOG_READ = "catalog:read", "Read the catalog and ingestion jobs"
    INGESTION_WRITE = "ingestion:write", "Start and manage ingestion"
    SUBMISSIONS_WRITE = "submissions:write", "Send patrons' reading lists"
    SUBMISSIONS_READ = "submissions:read", "Read submissions and patrons"
    KEYS_ADMIN = "keys:admin", "Manage this library's API keys"


ALL_SCOPES: frozenset[str] = frozenset(Scope.values)


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.CharField(
        max_length=63, unique=True, validators=[validate_tenant_slug], help_text=SLUG_HELP
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    resync_enabled = models.BooleanField(
        default=True, help_text="Re-ingest this library's tracked queries and works periodically."
    )
    resync_interval_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the deployment's RE_SYNC_INTERVAL_HOURS."
    )
    # The library's own rate limits (tenants/ratelimit.py); empty: the deployment's defaults.
    # Superusers set them in the admin; librarians see them.
    api_rate_limit_requests = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="API requests per window. Empty: the deployment's API_RATE_LIMIT_REQUESTS.",
    )
    api_rate_limit_window_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Empty: the deployment's API_RATE_LIMIT_WINDOW_SECONDS.",
    )
    ingestion_rate_limit_requests = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Ingestion jobs per window. Empty: the deployment's INGESTION_RATE_LIMIT_REQUESTS.",
    )
    ingestion_rate_limit_window_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Empty: the deployment's INGESTION_RATE_LIMIT_WINDOW_SECONDS.",
    )

    class Meta:
        ordering = ["slug"]
        verbose_name = "library"
        verbose_name_plural = "libraries"
        constraints = [
            models.CheckConstraint(condition=Q(slug__regex=SLUG_PATTERN), name="tenant_slug_format"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 1}),
                    name=f"tenant_{name}_positive",
                )
                for name in (
                    "api_rate_limit_requests",
                    "api_rate_limit_window_seconds",
                    "ingestion_rate_limit_requests",
                    "ingestion_rate_limit_window_seconds",
                )
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def clean(self) -> None:
        super().clean()
        # Each re-sync re-reads the library's catalog from Open Library, whose budget every
        # library shares: a library cannot ask for one more often than the deployment allows.
        floor = settings.RE_SYNC_MIN_INTERVAL_HOURS
        if self.resync_interval_hours is not None and self.resync_interval_hours < floor:
            raise ValidationError(
                {
                    "resync_interval_hours": (
                        f"A re-sync may run at most every {floor} hours (RE_SYNC_MIN_INTERVAL_HOURS); "
                        f"enter {floor} or more, or leave it empty for the deployment's "
                        f"{settings.RE_SYNC_INTERVAL_HOURS} hours."
                    )
                }
            )


class TenantQuerySet(models.QuerySet):
    """Base for every tenant-owned model: the one place that scopes rows to a tenant."""

    def for_tenant(self, tenant: Tenant | int) -> TenantQuerySet:
        tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
        return self.filter(tenant_id=tenant_id)

    def for_tenants(self, tenant_ids) -> TenantQuerySet:
        return self.filter(tenant_id__in=tenant_ids)


class ApiKeyQuerySet(TenantQuerySet):
    def usable(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash cannot be brute-forced; a slow password
    # hash would only add latency to every request.
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    """A bearer credential: of one tenant with scopes, or a platform key (no tenant)."""

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="Empty for a platform key.",
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, editable=False, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "id"], name="apikey_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.is_expired

    @classmethod
    def generate(cls) -> tuple[str, str]:
        """Return (raw key, display prefix). The raw key is never stored."""
        public = secrets.token_hex(4)
        raw = f"{KEY_PREFIX_MARK}_{public}_{secrets.token_urlsafe(32)}"
        return raw, f"{KEY_PREFIX_MARK}_{public}"

    def touch(self) -> None:
        """Record use, at most once per resolution window, with one conditional UPDATE."""
        now = timezone.now()
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        if self.last_used_at is not None and now - self.last_used_at < resolution:
            return
        ApiKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - resolution)
        ).update(last_used_at=now)
        self.last_used_at = now


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Library admin"
        LIBRARIAN = "librarian", "Librarian"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.LIBRARIAN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["tenant__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_uniq"),
            models.UniqueConstraint(fields=["tenant", "id"], name="membership_tenant_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant.slug} ({self.get_role_display()})"

    @property
    def scopes(self) -> frozenset[str]:
        if self.role == self.Role.ADMIN:
            return ALL_SCOPES
        return ALL_SCOPES - {Scope.KEYS_ADMIN}


# --- Rate limits (tenants/ratelimit.py) -------------------------------------------------------


class RateLimitBucket(models.TextChoices):
    API = "api", "API requests"
    INGESTION = "ingestion", "Ingestion jobs"


class RateLimitCounter(models.Model):
    """One library's counter for one limit, in the database store.

    With the fixed-window strategy it is the count itself (`used` in the window starting at
    `window_start_us`), taken with one upsert. With the sliding log it is the row a decision
    locks (PostgreSQL), so that two requests of one library never count the log at once.
    Times are Unix microseconds: exact integer arithmetic, the same unit as the Redis store.
    """

    # Indexed by the (tenant, bucket, ...) index below, not by one of its own.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.CharField(max_length=20, choices=RateLimitBucket.choices)
    window_start_us = models.BigIntegerField(default=0)
    used = models.PositiveIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "bucket"], name="ratelimitcounter_tenant_bucket_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.bucket}: {self.used} since {self.window_start_us}"


class RateLimitHit(models.Model):
    """One admitted request (a batch: `weight` jobs) in a library's sliding log, database store.

    A decision deletes the library's hits older than the window before counting, so a bucket
    never holds more than its limit's worth of rows.
    """

    # Indexed by the (tenant, bucket, ...) index below, not by one of its own.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.CharField(max_length=20, choices=RateLimitBucket.choices)
    at_us = models.BigIntegerField(help_text="Unix time in microseconds.")
    weight = models.PositiveIntegerField(default=1)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "bucket", "at_us"], name="ratelimithit_tenant_bucket_at")]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=1), name="ratelimithit_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.bucket} at {self.at_us}"
