"""Libraries, their API keys and their rate limits."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from olcs.api import EnvelopePagination, get_object, no_store
from olcs.http import Conflict, ServiceUnavailable
from olcs.schema import ErrorSerializer
from tenants import ratelimit, services
from tenants.access import is_platform, visible_tenants
from tenants.api import LibraryRateLimitMixin, TenantScopedMixin
from tenants.models import ApiKey, Scope
from tenants.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    RateLimitsSerializer,
    TenantCreatedSerializer,
    TenantCreateSerializer,
    TenantSerializer,
)


class TenantListView(LibraryRateLimitMixin, generics.GenericAPIView):
    """Libraries: platform operators see and create all; a tenant key sees its own.

    A tenant key's request counts against its library's API rate limit, as on every path of
    the library. Platform keys and librarians' sessions, which may see many libraries, are not
    limited here.
    """

    serializer_class = TenantSerializer
    pagination_class = EnvelopePagination

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None and key.tenant is not None:
            request.tenant = key.tenant
            request._request.tenant = key.tenant  # for the access log
            self.check_rate_limit(key.tenant)

    def get_queryset(self):
        return visible_tenants(self.request).order_by("slug")

    @extend_schema(responses=TenantSerializer(many=True), tags=["tenants"])
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TenantSerializer(page, many=True).data)

    @extend_schema(
        request=TenantCreateSerializer,
        responses={201: TenantCreatedSerializer, 409: ErrorSerializer},
        tags=["tenants"],
    )
    def post(self, request):
        if not is_platform(request):
            raise PermissionDenied(
                "Only platform keys and superusers can create libraries.", code="platform_only"
            )
        data = TenantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tenant, raw_key = services.create_tenant(**data.validated_data, created_by=request.user)
        except services.SlugTaken:
            raise Conflict("A library with this slug already exists.", code="slug_taken") from None
        tenant.api_key = raw_key
        response = no_store(Response(TenantCreatedSerializer(tenant).data, status=status.HTTP_201_CREATED))
        response["Location"] = request.build_absolute_uri(reverse("tenant-detail", args=[tenant.slug]))
        return response


class TenantDetailView(TenantScopedMixin, APIView):
    serializer_class = TenantSerializer

    @extend_schema(responses=TenantSerializer, tags=["tenants"])
    def get(self, request, slug: str):
        return Response(TenantSerializer(request.tenant).data)


class ApiKeyListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.KEYS_ADMIN, "POST": Scope.KEYS_ADMIN}
    serializer_class = ApiKeySerializer
    pagination_class = EnvelopePagination

    def get_queryset(self):
        return ApiKey.objects.for_tenant(self.request.tenant).order_by("-created_at", "-id")

    @extend_schema(responses=ApiKeySerializer(many=True), tags=["api keys"])
    def get(self, request, slug: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer}, tags=["api keys"]
    )
    def post(self, request, slug: str):
        # A key may mint only what it holds itself; platform keys and librarians' sessions are
        # bounded by their role instead.
        creator = request.auth if isinstance(request.auth, ApiKey) and not is_platform(request) else None
        data = ApiKeyCreateSerializer(data=request.data, context={"creator": creator})
        data.is_valid(raise_exception=True)
        api_key, raw_key = services.issue_api_key(
            tenant=request.tenant, created_by=request.user, **data.validated_data
        )
        api_key.api_key = raw_key
        response = no_store(Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED))
        response["Location"] = request.build_absolute_uri(
            reverse("api-key-detail", args=[request.tenant.slug, api_key.pk])
        )
        return response


class ApiKeyDetailView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.KEYS_ADMIN, "DELETE": Scope.KEYS_ADMIN}
    serializer_class = ApiKeySerializer

    def get_object(self) -> ApiKey:
        return get_object(
            ApiKey.objects.for_tenant(self.request.tenant),
            self.kwargs["key_id"],
            not_found="API key not found",
        )

    @extend_schema(responses=ApiKeySerializer, tags=["api keys"])
    def get(self, request, slug: str, key_id: str):
        return Response(ApiKeySerializer(self.get_object()).data)

    @extend_schema(responses={204: None}, tags=["api keys"])
    def delete(self, request, slug: str, key_id: str):
        services.revoke_api_key(api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RateLimitsView(TenantScopedMixin, APIView):
    """What the library has used of its API and ingestion limits.

    Any key of the library may ask (no scope needed), and asking is free: it does not count
    against the API limit, though it carries the X-RateLimit headers like every answer.
    """

    counts_against_rate_limit = False

    @extend_schema(responses={200: RateLimitsSerializer, 503: ErrorSerializer}, tags=["tenants"])
    def get(self, request, slug: str):
        try:
            report = ratelimit.report_usage(tenant=request.tenant)
        except ratelimit.StoreUnavailable:
            raise ServiceUnavailable(
                "The rate limit store is unavailable. Try again later.", code="service_unavailable"
            ) from None
        response = Response(RateLimitsSerializer(report).data)
        response["Cache-Control"] = "no-store"
        return response
