"""Ingestion API: start jobs (single and batch), follow, cancel and retry them, read logs, re-sync."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ingestion import services
from ingestion.models import IngestionJob, IngestionLog
from ingestion.serializers import (
    IngestionBatchSerializer,
    IngestionJobBatchSerializer,
    IngestionJobSerializer,
    IngestionLogSerializer,
    IngestionRequestSerializer,
    ResyncStateSerializer,
)
from olcs.api import EnvelopePagination, get_object, is_object_id, parse_choice_param
from olcs.http import Conflict
from olcs.schema import ErrorSerializer
from tenants.api import TenantScopedMixin
from tenants.models import Scope

JOB_NOT_FOUND = "Ingestion job not found"


def job_location(request, job: IngestionJob) -> str:
    return request.build_absolute_uri(reverse("ingestion-job-detail", args=[request.tenant.slug, job.pk]))


def _create_jobs(request, validated: list[dict]) -> list[IngestionJob]:
    # The service charges the library's ingestion budget: a batch that does not fit is a 429
    # that creates nothing.
    return services.create_jobs(
        tenant=request.tenant,
        requests=[
            {
                "kind": item["kind"],
                "query": item.get("query", ""),
                "open_library_keys": item.get("open_library_keys", ()),
                "isbns": item.get("isbns", ()),
                "limit": item["limit"],
            }
            for item in validated
        ],
    )


class IngestionCreateView(TenantScopedMixin, APIView):
    required_scopes = {"POST": Scope.INGESTION_WRITE}

    @extend_schema(
        request=IngestionRequestSerializer, responses={202: IngestionJobSerializer}, tags=["ingestion"]
    )
    def post(self, request, slug: str):
        data = IngestionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        [job] = _create_jobs(request, [data.validated_data])
        response = Response(IngestionJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = job_location(request, job)
        return response


class IngestionBatchView(TenantScopedMixin, APIView):
    required_scopes = {"POST": Scope.INGESTION_WRITE}

    @extend_schema(
        request=IngestionBatchSerializer, responses={202: IngestionJobBatchSerializer}, tags=["ingestion"]
    )
    def post(self, request, slug: str):
        data = IngestionBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        jobs = _create_jobs(request, data.validated_data["requests"])
        return Response(
            {"items": IngestionJobSerializer(jobs, many=True).data}, status=status.HTTP_202_ACCEPTED
        )


class JobScopedMixin(TenantScopedMixin):
    def get_job(self) -> IngestionJob:
        jobs = IngestionJob.objects.for_tenant(self.request.tenant)
        return get_object(jobs, self.kwargs["job_id"], not_found=JOB_NOT_FOUND)


class JobListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = IngestionJobSerializer
    pagination_class = EnvelopePagination

    def get_queryset(self):
        jobs = IngestionJob.objects.for_tenant(self.request.tenant).order_by("-created_at", "-id")
        if wanted := parse_choice_param(self.request, "status", IngestionJob.Status.values):
            jobs = jobs.filter(status=wanted)
        return jobs

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=IngestionJob.Status.values)],
        responses=IngestionJobSerializer(many=True),
        tags=["ingestion"],
    )
    def get(self, request, slug: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IngestionJobSerializer(page, many=True).data)


class JobDetailView(JobScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ}

    @extend_schema(responses=IngestionJobSerializer, tags=["ingestion"])
    def get(self, request, slug: str, job_id: str):
        return Response(IngestionJobSerializer(self.get_job()).data)


class JobCancelView(JobScopedMixin, APIView):
    required_scopes = {"POST": Scope.INGESTION_WRITE}

    @extend_schema(
        request=None, responses={200: IngestionJobSerializer, 409: ErrorSerializer}, tags=["ingestion"]
    )
    def post(self, request, slug: str, job_id: str):
        try:
            job = services.cancel_job(job=self.get_job())
        except services.JobNotCancellable as exc:
            raise Conflict(
                f"The job is {exc.args[0]}; only a pending or running job can be cancelled.",
                code="not_cancellable",
            ) from None
        return Response(IngestionJobSerializer(job).data)


class JobRetryView(JobScopedMixin, APIView):
    required_scopes = {"POST": Scope.INGESTION_WRITE}

    @extend_schema(
        request=None, responses={202: IngestionJobSerializer, 409: ErrorSerializer}, tags=["ingestion"]
    )
    def post(self, request, slug: str, job_id: str):
        job = self.get_job()
        try:
            retry = services.retry_job(job=job)
        except services.NothingToRetry as exc:
            raise Conflict(str(exc), code="nothing_to_retry") from None
        response = Response(IngestionJobSerializer(retry).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = job_location(request, retry)
        return response


class LogListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.CATALOG_READ}
    serializer_class = IngestionLogSerializer
    pagination_class = EnvelopePagination

    def get_queryset(self):
        entries = IngestionLog.objects.for_tenant(self.request.tenant).order_by("-created_at", "-id")
        params = self.request.query_params
        job_id = params.get("job_id")
        if job_id:
            if not is_object_id(job_id):
                raise ValidationError({"job_id": ["Not a job id."]})
            entries = entries.filter(job_id=job_id)
        if level := parse_choice_param(self.request, "level", IngestionLog.Level.values):
            entries = entries.filter(level=level)
        return entries

    @extend_schema(
        parameters=[
            OpenApiParameter("job_id", str),
            OpenApiParameter("level", str, enum=IngestionLog.Level.values),
        ],
        responses=IngestionLogSerializer(many=True),
        tags=["ingestion"],
    )
    def get(self, request, slug: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IngestionLogSerializer(page, many=True).data)


class ResyncView(TenantScopedMixin, APIView):
    required_scopes = {"GET": Scope.CATALOG_READ, "POST": Scope.INGESTION_WRITE}

    @extend_schema(responses=ResyncStateSerializer, tags=["ingestion"])
    def get(self, request, slug: str):
        return Response(ResyncStateSerializer(services.resync_state(tenant=request.tenant)).data)

    @extend_schema(
        request=None, responses={202: IngestionJobSerializer, 409: ErrorSerializer}, tags=["ingestion"]
    )
    def post(self, request, slug: str):
        try:
            job = services.start_resync(tenant=request.tenant)
        except services.ResyncInProgress as exc:
            raise Conflict(str(exc), code="resync_in_progress") from None
        response = Response(IngestionJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = job_location(request, job)
        return response
