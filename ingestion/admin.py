"""Librarians start ingestions, follow them live, read their logs, cancel or retry them."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.identifiers import is_valid_isbn
from ingestion import services
from ingestion.models import IngestionJob, IngestionLog, TrackedQuery
from ingestion.serializers import IngestionRequestSerializer
from olcs.admin import ReadOnlyRows
from olcs.http import flatten_errors
from tenants.admin import TenantScopedAdmin
from tenants.ratelimit import IngestionBudgetExceeded

Status = IngestionJob.Status


class StartIngestionForm(forms.ModelForm):
    """What a librarian types: one search, or a list of keys or ISBNs (one per line)."""

    KIND_FIELDS = {"query": "query", "keys": "open_library_keys", "isbns": "isbns"}

    kind = forms.ChoiceField(
        choices=[("query", "Search query"), ("keys", "Open Library keys"), ("isbns", "ISBNs")],
        initial="query",
    )
    what = forms.CharField(
        label="Search, keys or ISBNs",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="A query like author:Tolkien, subject:fantasy, title:dune or free text; "
        "or one key / ISBN per line (commas work too).",
    )
    limit = forms.IntegerField(min_value=1, max_value=1000, initial=50, help_text="Most works to ingest.")

    class Meta:
        model = IngestionJob
        fields = ["tenant"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if settings.INGESTION_BUDGET_WORKS_PER_JOB:
            self.fields["limit"].help_text = (
                "Most works to ingest. Against the library's ingestion budget a job counts as one job "
                f"per {settings.INGESTION_BUDGET_WORKS_PER_JOB} works it asks for (this limit for a "
                "search, else the keys or ISBNs listed)."
            )

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, what = cleaned.get("kind"), (cleaned.get("what") or "").strip()
        if not kind or not what:
            return cleaned
        field = self.KIND_FIELDS[kind]
        value = what if kind == "query" else self.split_items(kind, what)
        request = IngestionRequestSerializer(data={field: value, "limit": cleaned.get("limit") or 50})
        if not request.is_valid():
            for name, problems in flatten_errors(request.errors).items():
                self.add_error("what", f"{name}: {' '.join(problems)}")
            return cleaned
        cleaned["request"] = request.validated_data
        tenant = cleaned.get("tenant")
        if tenant is not None:
            # Answered here, with the librarian's input kept, rather than after saving; the
            # service decides again when it creates the job (save_model).
            try:
                if kind == "query":
                    with transaction.atomic():
                        services.check_tracked_query_room(
                            tenant=tenant, queries=[request.validated_data["query"]]
                        )
                services.check_budget(tenant=tenant, requests=[request.validated_data])
            except services.TooManyTrackedQueries as exc:
                self.add_error(None, str(exc.detail))
            except IngestionBudgetExceeded as exc:
                self.add_error(None, exc.sentence)
        return cleaned

    @staticmethod
    def split_items(kind: str, what: str) -> list[str]:
        """One item per line or comma, or per word. An ISBN is often written with spaces
        ("978 0 618 64015 7"): a line that is one valid ISBN stays whole."""
        items: list[str] = []
        for line in re.split(r"[,\n]", what):
            if kind == "isbns" and is_valid_isbn(line):
                items.append(line.strip())
            else:
                items.extend(line.split())
        return items


def refusal(exc: IngestionBudgetExceeded | services.TooManyTrackedQueries) -> str:
    """Why a job was not created, in a librarian's words."""
    return exc.sentence if isinstance(exc, IngestionBudgetExceeded) else str(exc.detail)


class IngestionLogInline(ReadOnlyRows, admin.TabularInline):
    model = IngestionLog
    fields = ("created_at", "level", "open_library_key", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at", "-id")
    max_num = 0
    verbose_name_plural = "Log (newest first)"

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Librarians hold memberships, not Django's model permissions: whoever may see the
        # job may read its log.
        return self.admin_site.get_model_admin(IngestionJob).has_view_permission(request, obj)


@admin.register(IngestionJob)
class IngestionJobAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "tenant",
        "kind",
        "request_summary",
        "status_badge",
        "progress",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    list_select_related = ("tenant",)
    search_fields = ("query",)
    ordering = ("-created_at", "-id")
    actions = ["cancel_selected", "retry_selected"]
    inlines = [IngestionLogInline]
    readonly_fields = (
        "tenant",
        "kind",
        "status_badge",
        "request_summary",
        "limit",
        "progress",
        "works_found",
        "works_created",
        "works_updated",
        "works_unchanged",
        "works_failed",
        "failed_items",
        "error",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "retry_of",
    )
    change_form_template = "admin/ingestion/ingestionjob/change_form.html"

    # Jobs are started through the form, never edited.
    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = StartIngestionForm
            kwargs["fields"] = ["tenant", "kind", "what", "limit"]
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["tenant", "kind", "what", "limit"]
        return list(self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_inline_instances(self, request: HttpRequest, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: IngestionJob, form, change: bool) -> None:
        data = form.cleaned_data["request"]
        with transaction.atomic():
            job = services.create_job(
                tenant=obj.tenant,
                kind=data["kind"],
                query=data.get("query", ""),
                open_library_keys=data.get("open_library_keys", ()),
                isbns=data.get("isbns", ()),
                limit=data["limit"],
            )
        obj.pk = job.pk
        obj.__dict__.update({k: v for k, v in job.__dict__.items() if not k.startswith("_")})

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except (IngestionBudgetExceeded, services.TooManyTrackedQueries) as exc:
            # The form checked both; only a job started meanwhile (another tab, the API) gets
            # here. The add view's transaction rolled back: nothing was created.
            self.message_user(request, refusal(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def log_addition(self, request, obj, message):
        return None  # the job itself is the record of who started what

    @admin.display(description="Request")
    def request_summary(self, job: IngestionJob) -> str:
        if job.kind == IngestionJob.Kind.QUERY:
            return job.query
        items = job.open_library_keys or job.isbns
        if job.kind == IngestionJob.Kind.RESYNC:
            return "tracked queries and works"
        shown = ", ".join(items[:3])
        return shown + (f" … (+{len(items) - 3})" if len(items) > 3 else "")

    @admin.display(description="Status", ordering="status")
    def status_badge(self, job: IngestionJob) -> str:
        colours = {
            "pending": "#777",
            "running": "#205493",
            "completed": "#2e8540",
            "failed": "#c00",
            "cancelled": "#a66",
        }
        return format_html(
            '<strong style="color:{}">{}</strong>', colours.get(job.status, "#000"), job.get_status_display()
        )

    @admin.display(description="Progress")
    def progress(self, job: IngestionJob) -> str:
        total = max(job.works_found, job.works_processed)
        percent = int(100 * job.works_processed / total) if total else (100 if job.is_finished else 0)
        return format_html(
            '<progress max="100" value="{}"></progress> {}/{} · {} new · {} changed · {} same · {} failed',
            percent,
            job.works_processed,
            total,
            job.works_created,
            job.works_updated,
            job.works_unchanged,
            job.works_failed,
        )

    # --- cancel and retry: actions on the list, buttons on the job page ----------------------

    @admin.action(description="Cancel selected jobs")
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        cancelled = 0
        for job in queryset.select_related("tenant"):
            if not self.has_tenant_role(request, self.edit_roles, job):
                continue
            try:
                services.cancel_job(job=job)
                cancelled += 1
            except services.JobNotCancellable:
                pass
        self.message_user(
            request, f"{cancelled} job(s) cancelled.", messages.SUCCESS if cancelled else messages.WARNING
        )

    @admin.action(description="Retry failed items of selected jobs")
    def retry_selected(self, request: HttpRequest, queryset) -> None:
        started = 0
        refused: dict[int, str] = {}  # library -> why its retries were refused
        for job in queryset.select_related("tenant"):
            if not self.has_tenant_role(request, self.edit_roles, job) or job.tenant_id in refused:
                continue
            try:
                with transaction.atomic():
                    services.retry_job(job=job)
                started += 1
            except services.NothingToRetry:
                pass
            except IngestionBudgetExceeded as exc:
                refused[job.tenant_id] = f"{job.tenant.name}: {exc.sentence}"
        self.message_user(
            request, f"{started} retry job(s) started.", messages.SUCCESS if started else messages.WARNING
        )
        for sentence in refused.values():
            self.message_user(request, sentence, messages.ERROR)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="ingestion_job_cancel",
            ),
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="ingestion_job_retry",
            ),
            *super().get_urls(),
        ]

    def _job_for_action(self, request: HttpRequest, object_id: str) -> IngestionJob:
        # The admin's one lookup by URL id: another library's job, or an id that is no number
        # ("²", forty digits), is a 404 like a missing one.
        job = self.get_object(request, unquote(object_id))
        if request.method != "POST" or not self.has_tenant_role(request, self.edit_roles, job):
            raise PermissionError
        return job

    def cancel_view(self, request: HttpRequest, object_id: str):
        try:
            job = self._job_for_action(request, object_id)
        except PermissionError:
            return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[object_id]))
        try:
            services.cancel_job(job=job)
            self.message_user(request, "Job cancelled.", messages.SUCCESS)
        except services.JobNotCancellable:
            self.message_user(request, f"The job is {job.status}; it cannot be cancelled.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[job.pk]))

    def retry_view(self, request: HttpRequest, object_id: str):
        try:
            job = self._job_for_action(request, object_id)
        except PermissionError:
            return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[object_id]))
        try:
            with transaction.atomic():
                retry = services.retry_job(job=job)
        except services.NothingToRetry as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[job.pk]))
        except IngestionBudgetExceeded as exc:
            self.message_user(request, exc.sentence, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[job.pk]))
        self.message_user(request, f"Retry job {retry.pk} started.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:ingestion_ingestionjob_change", args=[retry.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {
            **(extra_context or {}),
            "job": job,
            "can_act": self.has_tenant_role(request, self.edit_roles, job),
            # Running jobs refresh themselves so a librarian can watch progress.
            "auto_refresh_seconds": 3 if not job.is_finished else None,
        }
        return super().change_view(request, object_id, form_url, extra)


class TrackedQueryForm(forms.ModelForm):
    """Every re-sync runs a tracked query again: it obeys the rules of a query typed to ingest."""

    class Meta:
        model = TrackedQuery
        fields = ["tenant", "query", "limit"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if "query" not in cleaned or "limit" not in cleaned:
            return cleaned
        request = IngestionRequestSerializer(data={"query": cleaned["query"], "limit": cleaned["limit"]})
        if not request.is_valid():
            for name, problems in flatten_errors(request.errors).items():
                self.add_error(name if name in self.fields else None, " ".join(problems))
            return cleaned
        cleaned["query"] = request.validated_data["query"]
        tenant = cleaned.get("tenant")
        adding = self.instance.pk is None or self.instance.tenant_id != getattr(tenant, "pk", None)
        if tenant is not None and adding:
            try:
                with transaction.atomic():
                    services.check_tracked_query_room(tenant=tenant, queries=[cleaned["query"]])
            except services.TooManyTrackedQueries as exc:
                self.add_error(None, str(exc.detail))
        return cleaned


@admin.register(TrackedQuery)
class TrackedQueryAdmin(TenantScopedAdmin):
    list_display = ("query", "tenant", "limit", "created_at", "last_run_at")
    list_select_related = ("tenant",)
    search_fields = ("query",)
    readonly_fields = ("created_at", "last_run_at")
    fields = ("tenant", "query", "limit", "created_at", "last_run_at")
    form = TrackedQueryForm
