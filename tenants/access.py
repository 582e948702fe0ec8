"""Who may act on which library, with which scopes: the one place these rules live."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.exceptions import NotFound

from tenants.models import ALL_SCOPES, ApiKey, Membership, Tenant

TENANT_NOT_FOUND = "Tenant not found"


@dataclass(frozen=True)
class KeyPrincipal:
    """The `request.user` of a request authenticated by an API key."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    @property
    def username(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def __str__(self) -> str:
        return self.username


def is_platform(request) -> bool:
    """Platform operators: a platform key or a Django superuser."""
    if isinstance(request.auth, ApiKey):
        return request.auth.is_platform
    user = getattr(request, "user", None) or AnonymousUser()
    return bool(user.is_authenticated and user.is_superuser)


def visible_tenants(request):
    """The libraries the caller may see at all."""
    if is_platform(request):
        return Tenant.objects.all()
    if isinstance(request.auth, ApiKey):
        return Tenant.objects.filter(pk=request.auth.tenant_id)
    user = request.user
    if user.is_authenticated and getattr(user, "pk", None):
        return Tenant.objects.filter(memberships__user=user)
    return Tenant.objects.none()


def scopes_for(request, tenant: Tenant) -> frozenset[str] | None:
    """The caller's scopes on `tenant`, or None when the tenant is not theirs to see."""
    if is_platform(request):
        return ALL_SCOPES
    if isinstance(request.auth, ApiKey):
        if request.auth.tenant_id == tenant.pk:
            return frozenset(request.auth.scopes)
        return None
    user = request.user
    if user.is_authenticated and getattr(user, "pk", None):
        membership = Membership.objects.filter(tenant=tenant, user=user).first()
        return membership.scopes if membership else None
    return None


def resolve_tenant(request, slug: str) -> tuple[Tenant, frozenset[str]]:
    """The tenant of the URL and the caller's scopes on it.

    An unknown slug and another library's slug give the same 404 after the same queries, so
    neither a key nor a librarian's session can probe which libraries exist, by answer or by time.
    """
    key = request.auth if isinstance(request.auth, ApiKey) else None
    user = getattr(request, "user", None) or AnonymousUser()
    if not isinstance(slug, str):
        tenant, scopes = None, None
    elif key is not None and key.tenant is not None and key.tenant.slug == slug:
        tenant = key.tenant  # loaded with the key: no second query for the usual case
        scopes = frozenset(key.scopes)
    elif key is None and not is_platform(request) and user.is_authenticated and getattr(user, "pk", None):
        # A librarian's session: the library and the membership in one query, so another
        # library's slug costs exactly what a missing slug costs (no timing tells them apart).
        membership = Membership.objects.filter(user=user, tenant__slug=slug).select_related("tenant").first()
        tenant, scopes = (membership.tenant, membership.scopes) if membership else (None, None)
    else:
        tenant = Tenant.objects.filter(slug=slug).first()
        scopes = scopes_for(request, tenant) if tenant is not None else None
    if scopes is None:
        raise NotFound(TENANT_NOT_FOUND)
    return tenant, scopes


# --- the library a librarian works in (the admin) ----------------------------------------------

SESSION_KEY = "olcs_library"


def visible_libraries(request: HttpRequest) -> QuerySet[Tenant]:
    """The libraries the user may open in the admin: all for a superuser, else their memberships."""
    user = request.user
    if user.is_superuser:
        return Tenant.objects.order_by("name", "slug")
    return Tenant.objects.filter(pk__in=Membership.objects.filter(user=user).values("tenant_id")).order_by(
        "name", "slug"
    )


def current_library(request: HttpRequest) -> Tenant | None:
    """The library the user is working in: their choice, or their only library; None to pick."""
    cached = getattr(request, "_olcs_current_library", False)
    if cached is not False:
        return cached
    libraries = visible_libraries(request)
    chosen = request.session.get(SESSION_KEY)
    library = None
    if request.user.is_superuser:
        request._olcs_can_pick = True
    else:
        # One query answers both questions for most librarians: which library, and whether
        # they have another to pick.
        first_two = list(libraries[:2])
        request._olcs_can_pick = len(first_two) > 1
        library = next((each for each in first_two if each.slug == chosen), None)
        if library is None and len(first_two) == 1:
            library = first_two[0]
    if library is None and chosen:
        library = libraries.filter(slug=chosen).first()
    request._olcs_current_library = library
    return library


def can_pick_library(request: HttpRequest) -> bool:
    """Whether the user has more than one library to work in (superusers always may pick)."""
    current_library(request)
    return request._olcs_can_pick
