"""Submissions and patrons API: send a reading list, follow its resolution, list and erase patrons."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from olcs.api import EnvelopePagination, get_object, is_object_id, parse_choice_param
from patrons import services
from patrons.models import Patron, Submission, SubmissionItem
from patrons.serializers import (
    PatronEraseSerializer,
    PatronSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
)
from tenants.api import TenantScopedMixin
from tenants.models import Scope

SUBMISSION_NOT_FOUND = "Submission not found"
PATRON_NOT_FOUND = "Patron not found"


def submissions_with_books(tenant) -> QuerySet[Submission]:
    """A library's submissions with their patron and their items' books: three queries a page."""
    items = (
        SubmissionItem.objects.select_related("book")
        .only(
            "id",
            "submission_id",
            "position",
            "input",
            "status",
            "open_library_key",
            "book_id",
            "book__id",
            "book__title",
            "book__open_library_key",
        )
        .order_by("position")
    )
    return (
        Submission.objects.for_tenant(tenant)
        .select_related("patron")
        .only("id", "status", "created_at", "patron__id", "patron__email_masked")
        .prefetch_related(Prefetch("items", queryset=items, to_attr="item_list"))
        .order_by("-created_at", "-id")
    )


def patrons_with_counts(tenant) -> QuerySet[Patron]:
    return (
        Patron.objects.for_tenant(tenant)
        .only("id", "tenant_id", "email_masked", "created_at", "last_submitted_at")
        .annotate(submission_count=Count("submissions"))
        .order_by("-created_at", "-id")
    )


def submission_location(request, submission: Submission) -> str:
    return request.build_absolute_uri(reverse("submission-detail", args=[request.tenant.slug, submission.pk]))


class SubmissionListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.SUBMISSIONS_READ, "POST": Scope.SUBMISSIONS_WRITE}
    serializer_class = SubmissionSerializer
    pagination_class = EnvelopePagination

    def get_serializer_class(self):
        # The browsable API's form shows what to send, not what comes back.
        return SubmissionCreateSerializer if self.request.method == "POST" else SubmissionSerializer

    def get_queryset(self):
        submissions = submissions_with_books(self.request.tenant)
        params = self.request.query_params
        if wanted := parse_choice_param(self.request, "status", Submission.Status.values):
            submissions = submissions.filter(status=wanted)
        patron_id = params.get("patron_id")
        if patron_id:
            if not is_object_id(patron_id):
                raise ValidationError({"patron_id": ["Not a patron id."]})
            submissions = submissions.filter(patron_id=patron_id)
        return submissions

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Submission.Status.values),
            OpenApiParameter("patron_id", str, description="Only this patron's submissions."),
        ],
        responses=SubmissionSerializer(many=True),
        tags=["submissions"],
    )
    def get(self, request, slug: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SubmissionSerializer(page, many=True).data)

    @extend_schema(
        request=SubmissionCreateSerializer,
        responses={201: SubmissionSerializer, 202: SubmissionSerializer},
        description=(
            "201 when every book was already in the library's catalog (`complete`); 202 while the "
            "others are looked up on Open Library in the background (`resolving`): follow the "
            "`Location` until the submission is `complete`."
        ),
        tags=["submissions"],
    )
    @method_decorator(sensitive_variables())
    def post(self, request, slug: str):
        data = SubmissionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = services.record_submission(tenant=request.tenant, **data.validated_data)
        complete = submission.status == Submission.Status.COMPLETE
        response = Response(
            SubmissionSerializer(submission).data,
            status=status.HTTP_201_CREATED if complete else status.HTTP_202_ACCEPTED,
        )
        response["Location"] = submission_location(request, submission)
        return response


class SubmissionDetailView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.SUBMISSIONS_READ}
    serializer_class = SubmissionSerializer

    @extend_schema(responses=SubmissionSerializer, tags=["submissions"])
    def get(self, request, slug: str, submission_id: str):
        submissions = submissions_with_books(request.tenant)
        submission = get_object(submissions, submission_id, not_found=SUBMISSION_NOT_FOUND)
        return Response(SubmissionSerializer(submission).data)


class PatronListView(TenantScopedMixin, generics.GenericAPIView):
    required_scopes = {"GET": Scope.SUBMISSIONS_READ}
    serializer_class = PatronSerializer
    pagination_class = EnvelopePagination

    @extend_schema(responses=PatronSerializer(many=True), tags=["patrons"])
    def get(self, request, slug: str):
        page = self.paginate_queryset(patrons_with_counts(request.tenant))
        return self.get_paginated_response(PatronSerializer(page, many=True).data)


class PatronEraseView(TenantScopedMixin, generics.GenericAPIView):
    """The patron-facing website's "forget me": erase by email, without learning who exists."""

    required_scopes = {"POST": Scope.SUBMISSIONS_WRITE}
    serializer_class = PatronEraseSerializer

    @extend_schema(
        request=PatronEraseSerializer,
        responses={204: None},
        description=(
            "Erase the library's patron with this email (any case, surrounding spaces ignored), as "
            "`DELETE patrons/{id}` does. 204 whether or not there was one, in the same time: the "
            "answer never tells whether an email is a patron's."
        ),
        tags=["patrons"],
    )
    @method_decorator(sensitive_variables())
    def post(self, request, slug: str):
        data = PatronEraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.erase_patron_by_email(tenant=request.tenant, email=data.validated_data["email"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PatronDetailView(TenantScopedMixin, generics.GenericAPIView):
    # Erasing by id needs both submission scopes: the website's key (submissions:write) would
    # otherwise erase every patron by counting ids. It erases by email (PatronEraseView).
    required_scopes = {
        "GET": Scope.SUBMISSIONS_READ,
        "DELETE": (Scope.SUBMISSIONS_READ, Scope.SUBMISSIONS_WRITE),
    }
    serializer_class = PatronSerializer

    def get_patron(self) -> Patron:
        patrons = patrons_with_counts(self.request.tenant)
        return get_object(patrons, self.kwargs["patron_id"], not_found=PATRON_NOT_FOUND)

    @extend_schema(responses=PatronSerializer, tags=["patrons"])
    def get(self, request, slug: str, patron_id: str):
        return Response(PatronSerializer(self.get_patron()).data)

    @extend_schema(
        responses={204: None},
        description=(
            "Erase the patron: their hashes and masked email are destroyed; their submissions "
            "stay, anonymised (`patron` null). The same email later makes a new patron. Needs "
            "both `submissions:read` and `submissions:write`."
        ),
        tags=["patrons"],
    )
    def delete(self, request, slug: str, patron_id: str):
        services.erase_patron(patron=self.get_patron())
        return Response(status=status.HTTP_204_NO_CONTENT)
