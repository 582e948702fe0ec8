"""Librarians see patrons by masked email only, erase them, read submissions, and see which
books patrons ask for most. Every page is scoped to the librarian's libraries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from olcs.admin import ReadOnlyRows
from patrons import pii, services
from patrons.models import Patron, RequestedBook, Submission, SubmissionItem
from tenants.admin import TenantScopedAdmin


class FindPatronForm(forms.Form):
    """Find the patron a person is, to answer an erasure request. The email is never shown
    back: the page always comes back empty."""

    email = pii.PatronEmailFormField()


@admin.register(Patron)
class PatronAdmin(ReadOnlyRows, TenantScopedAdmin):
    """Patrons are made by submissions and only ever erased, never edited."""

    list_display = (
        "__str__",
        "email_masked",
        "tenant",
        "submission_count",
        "created_at",
        "last_submitted_at",
    )
    list_select_related = ("tenant",)
    fields = (
        "tenant",
        "email_masked",
        "submission_count",
        "created_at",
        "last_submitted_at",
        "email_key_version",
    )
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    actions = ["erase_selected"]
    change_list_template = "admin/patrons/patron/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(submission_count=Count("submissions"))

    @admin.display(description="submissions", ordering="submission_count")
    def submission_count(self, patron: Patron) -> int:
        return patron.submission_count

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Erasure (the action below) is the only way a patron goes, so that it always keeps
        # their submissions and logs nothing personal.
        return False

    def has_erase_permission(self, request: HttpRequest, obj: Patron | None = None) -> bool:
        return self.has_tenant_role(request, self.edit_roles, obj)

    @admin.action(
        description="Erase selected patrons (their submissions stay, anonymised)", permissions=["erase"]
    )
    def erase_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        erased = 0
        for patron in queryset.select_related(None):
            if not self.has_erase_permission(request, patron):
                continue
            # Logged before, as Django logs deletions: the entry keeps "Patron <id>", nothing more.
            self.log_deletions(request, Patron.objects.filter(pk=patron.pk))
            services.erase_patron(patron=patron)
            erased += 1
        noun = "patron" if erased == 1 else "patrons"
        self.message_user(
            request, f"Erased {erased} {noun}.", messages.SUCCESS if erased else messages.WARNING
        )

    # --- find a patron by email ----------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        find = path("find/", self.admin_site.admin_view(self.find_view), name="patrons_patron_find")
        return [find, *super().get_urls()]

    @method_decorator(sensitive_post_parameters("email"))
    @method_decorator(sensitive_variables())
    def find_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = FindPatronForm(request.POST)
            if form.is_valid():
                email = form.cleaned_data["email"]
                tenants = self.tenants_with_role(request, *self.view_roles, *self.edit_roles)
                for tenant in tenants.order_by("slug"):
                    patron = services.find_patron(tenant=tenant, email=email)
                    if patron is not None:
                        return HttpResponseRedirect(reverse("admin:patrons_patron_change", args=[patron.pk]))
                self.message_user(request, "No patron of your libraries has this email.", messages.WARNING)
            else:
                self.message_user(request, "Enter a valid email address.", messages.ERROR)
            # Redirect, so the page never holds what was typed (nor does the browser's history).
            return HttpResponseRedirect(reverse("admin:patrons_patron_find"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Find a patron by email",
            "form": FindPatronForm(),
        }
        response = TemplateResponse(request, "admin/patrons/patron/find.html", context)
        response["Cache-Control"] = "no-store"
        return response


class SubmissionItemInline(ReadOnlyRows, admin.TabularInline):
    model = SubmissionItem
    fields = ("position", "input", "kind", "status", "book_link", "error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("position",)
    verbose_name_plural = "Books"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("book")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Whoever may see the submission may see its books (memberships, not model permissions).
        return self.admin_site.get_model_admin(Submission).has_view_permission(request, obj)

    @admin.display(description="Book")
    def book_link(self, item: SubmissionItem) -> str:
        if item.book is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:catalog_book_change", args=[item.book_id]), item.book.title
        )


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyRows, TenantScopedAdmin):
    list_display = ("__str__", "tenant", "patron_link", "status", "book_count", "created_at", "resolved_at")
    list_filter = ("status",)
    list_select_related = ("tenant", "patron")
    ordering = ("-created_at", "-id")
    fields = ("tenant", "patron_link", "status", "created_at", "resolved_at", "attempts", "error")
    readonly_fields = fields
    inlines = [SubmissionItemInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(book_count=Count("items"))

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff and request.user.is_superuser)

    @admin.display(description="books", ordering="book_count")
    def book_count(self, submission: Submission) -> int:
        return submission.book_count

    @admin.display(description="patron")
    def patron_link(self, submission: Submission) -> str:
        if submission.patron is None:
            return "— erased —"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:patrons_patron_change", args=[submission.patron_id]),
            submission.patron.email_masked,
        )


@admin.register(RequestedBook)
class RequestedBookAdmin(ReadOnlyRows, TenantScopedAdmin):
    """The library's books that patrons asked for, most requested first."""

    list_display = ("book_link", "open_library_key", "request_count", "patron_count", "tenant")
    list_display_links = None
    list_select_related = ("tenant",)
    search_fields = ("title", "open_library_key")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).only("id", "title", "open_library_key", "tenant")

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["-request_count", "title", "id"]

    @admin.display(description="book", ordering="title")
    def book_link(self, book: RequestedBook) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:catalog_book_change", args=[book.pk]), book.title
        )

    @admin.display(description="requests", ordering="request_count")
    def request_count(self, book: RequestedBook) -> int:
        return book.request_count

    @admin.display(description="patrons", ordering="patron_count")
    def patron_count(self, book: RequestedBook) -> int:
        return book.patron_count

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
