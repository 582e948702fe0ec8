"""Workflows for libraries, their keys and their librarians."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import ALL_SCOPES, ApiKey, Membership, Tenant, hash_api_key

logger = logging.getLogger(__name__)


class SlugTaken(Exception):
    """Another library already uses this slug."""


@transaction.atomic
def create_tenant(*, name: str, slug: str, created_by=None) -> tuple[Tenant, str]:
    """Create a library and its first API key (every tenant scope). Returns (tenant, raw key).

    Raises SlugTaken on a duplicate slug; the caller validates the slug's format.
    """
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(name=name.strip(), slug=slug)
    except IntegrityError as exc:
        raise SlugTaken(slug) from exc
    _, raw_key = issue_api_key(
        tenant=tenant, name="Initial key", scopes=sorted(ALL_SCOPES), created_by=created_by
    )
    logger.info("tenant created", extra={"tenant": tenant.slug})
    return tenant, raw_key


def issue_api_key(
    *,
    tenant: Tenant | None,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    created_by=None,
) -> tuple[ApiKey, str]:
    """Create a key for a tenant (or a platform key when tenant is None). Returns (key, raw key).

    The raw key exists only in the return value: the database keeps its SHA-256.
    """
    unknown = set(scopes) - ALL_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}")
    raw_key, prefix = ApiKey.generate()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name.strip(),
        prefix=prefix,
        key_hash=hash_api_key(raw_key),
        scopes=[] if tenant is None else sorted(set(scopes)),
        expires_at=expires_at,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    logger.info(
        "api key issued",
        extra={"tenant": tenant.slug if tenant else None, "key_prefix": prefix},
    )
    return api_key, raw_key


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; revoking twice keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    logger.info("api key revoked", extra={"key_prefix": api_key.prefix})
    return api_key


# --- Memberships ------------------------------------------------------------------------------


class LastLibraryAdmin(Exception):
    """The change would leave a library without a library admin."""

    def __init__(self, tenant: Tenant):
        super().__init__(
            f"This is the last library admin of {tenant.name}: make another member a library admin first."
        )


def _check_admin_remains(membership: Membership, *, leaving: bool) -> None:
    """Raise LastLibraryAdmin when `membership` is its library's only admin and is leaving the role.

    Locks the library's admin memberships, so two admins removing each other at once cannot
    both succeed.
    """
    if not leaving:
        return
    admins = list(
        Membership.objects.select_for_update()
        .filter(tenant_id=membership.tenant_id, role=Membership.Role.ADMIN)
        .values_list("pk", flat=True)
    )
    if admins == [membership.pk]:
        raise LastLibraryAdmin(membership.tenant)


@transaction.atomic
def change_membership_role(*, membership: Membership, role: str) -> Membership:
    """Give a member another role; refused for the library's last admin (LastLibraryAdmin)."""
    stored = Membership.objects.select_for_update().get(pk=membership.pk)
    _check_admin_remains(
        stored, leaving=stored.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN
    )
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    return membership


@transaction.atomic
def remove_membership(*, membership: Membership) -> None:
    """Remove a member from a library; refused for the library's last admin (LastLibraryAdmin)."""
    _check_admin_remains(membership, leaving=membership.role == Membership.Role.ADMIN)
    membership.delete()


def is_last_library_admin(membership: Membership) -> bool:
    if membership.role != Membership.Role.ADMIN:
        return False
    return not (
        Membership.objects.filter(tenant_id=membership.tenant_id, role=Membership.Role.ADMIN)
        .exclude(pk=membership.pk)
        .exists()
    )
