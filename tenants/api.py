"""Building blocks every tenant-scoped API view uses: tenant resolution, rate limit, scopes."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.metadata import SimpleMetadata

from olcs.http import RateLimited
from tenants import ratelimit
from tenants.access import resolve_tenant
from tenants.models import RateLimitBucket


class LibraryRateLimitMixin:
    """Counts a request against a library's API rate limit (429 over it) and puts the
    X-RateLimit headers on the answer, errors included."""

    # Read by the OpenAPI schema (olcs.schema): the X-RateLimit headers, and 429 when counting.
    library_rate_limited = True
    # False for the rate-limits report: it shows the library's usage without adding to it.
    counts_against_rate_limit = True
    rate_limit_usage: ratelimit.Usage | None = None

    def check_rate_limit(self, tenant) -> None:
        if self.counts_against_rate_limit:
            usage = ratelimit.take_slots(tenant=tenant, bucket=RateLimitBucket.API)
        else:
            usage = ratelimit.read_usage(tenant=tenant, bucket=RateLimitBucket.API)
        self.rate_limit_usage = usage
        if usage is not None and not usage.allowed:
            raise RateLimited(wait=usage.retry_after_seconds)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.rate_limit_usage is not None:
            for name, value in self.rate_limit_usage.headers().items():
                response[name] = value
        return response


class ScopedMetadata(SimpleMetadata):
    """OPTIONS describes only the methods the caller's scopes allow: a key that may read
    submissions is not shown what a submission's body holds."""

    def determine_actions(self, request, view) -> dict:
        actions = super().determine_actions(request, view)
        granted = getattr(view, "granted_scopes", frozenset())
        return {
            method: fields for method, fields in actions.items() if set(view.scopes_needed(method)) <= granted
        }


class TenantScopedMixin(LibraryRateLimitMixin):
    """Resolves `request.tenant` from the URL's slug and the caller, counts the request against
    the library's API rate limit, then checks the scope.

    Order of answers: no or bad credentials → 401; a library that is not the caller's (or
    does not exist) → 404 "Tenant not found"; over the rate limit → 429; the caller's scopes
    are too small → 403. `required_scopes` maps an HTTP method to the scope(s) it needs; see
    `scopes_needed` for the methods it does not name.
    Every answer after the tenant is known, errors included, carries the X-RateLimit headers.
    """

    # Read by the OpenAPI schema (olcs.schema): a library in the path, 404 when not the caller's.
    tenant_scoped = True
    # A method's scope, or a tuple of scopes it needs together.
    required_scopes: dict[str, str | tuple[str, ...]] = {}
    metadata_class = ScopedMetadata
    granted_scopes: frozenset[str] = frozenset()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tenant, scopes = resolve_tenant(request, kwargs.get("slug"))
        request.tenant = tenant
        request._request.tenant = tenant  # for the access log
        self.check_rate_limit(tenant)
        self.granted_scopes = scopes
        needed = self.scopes_needed(request.method)
        if not set(needed) <= scopes:
            names = " and ".join(f"'{scope}'" for scope in needed)
            plural = "scopes" if len(needed) > 1 else "scope"
            raise PermissionDenied(f"This request needs the {names} {plural}.", code="insufficient_scope")

    @classmethod
    def scopes_needed(cls, method: str) -> tuple[str, ...]:
        """The scopes a request with `method` needs, whatever the method.

        HEAD is GET. OPTIONS, and any method the endpoint does not declare (which it answers
        405), need GET's scopes, or when there is no GET every scope the endpoint declares: a
        caller who may not use an endpoint learns nothing about it, not even its methods.
        """
        declared = {
            name: (value,) if isinstance(value, str) else tuple(value)
            for name, value in cls.required_scopes.items()
        }
        method = "GET" if method == "HEAD" else method
        if method in declared:
            return declared[method]
        if "GET" in declared:
            return declared["GET"]
        return tuple(sorted({scope for scopes in declared.values() for scope in scopes}))
