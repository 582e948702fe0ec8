"""The catalog as a librarian sees it: books, their authors, and every version of each."""

from __future__ import annotations

import re

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from catalog.models import LIST_FIELDS, Book, BookVersion
from catalog.search import search_book_ids
from catalog.services import diff_snapshots
from olcs.admin import ReadOnlyRows
from tenants.access import current_library
from tenants.admin import TenantScopedAdmin
from tenants.models import Tenant

SEARCH_RESULTS = 500  # best matches per library that the admin's search lists
VERSION_NUMBER = re.compile(r"[0-9]{1,9}")


class BookVersionInline(ReadOnlyRows, admin.TabularInline):
    model = BookVersion
    fields = ("version", "created_at", "source", "changed", "compare", "job")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-version",)
    verbose_name_plural = "Versions (newest first)"

    def get_queryset(self, request: HttpRequest):
        # Each row links its job: one join instead of one query per version.
        return super().get_queryset(request).select_related("job")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Librarians hold memberships, not Django's model permissions: whoever may see the
        # book may read its versions.
        return self.admin_site.get_model_admin(Book).has_view_permission(request, obj)

    @admin.display(description="Changed fields")
    def changed(self, version: BookVersion) -> str:
        return ", ".join(version.changed_fields) or "—"

    @admin.display(description="Changes")
    def compare(self, version: BookVersion) -> str:
        if version.version <= 1:
            return "first version"
        url = reverse("admin:catalog_book_diff", args=[version.book_id])
        return format_html(
            '<a href="{}?a={}&amp;b={}">compare with version {}</a>',
            url,
            version.version - 1,
            version.version,
            version.version - 1,
        )


@admin.register(Book)
class BookAdmin(ReadOnlyRows, TenantScopedAdmin):
    """Books come from Open Library: librarians read them here and change them by ingesting."""

    list_display = ("title", "author_names", "first_publish_year", "current_version", "updated_at", "tenant")
    list_select_related = ("tenant",)
    # The box runs the API's search (catalog.search), not Django's LIKE over these fields.
    search_fields = ("title",)
    search_help_text = "Words of the title, subtitle, authors or subjects (prefixes work), or an ISBN."
    ordering = ("title", "id")
    inlines = [BookVersionInline]
    change_form_template = "admin/catalog/book/change_form.html"
    fields = (
        "tenant",
        "open_library_key",
        "title",
        "subtitle",
        "author_names",
        "description",
        "subjects",
        "languages",
        "first_publish_year",
        "cover",
        "isbns",
        "edition_count",
        "current_version",
        "merged_keys",
        "created_at",
        "updated_at",
        "last_synced_at",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    @admin.display(description="Authors")
    def author_names(self, book: Book) -> str:
        return ", ".join(author.get("name", "") for author in book.authors_data)

    @admin.display(description="Cover")
    def cover(self, book: Book) -> str:
        if not book.cover_url:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:160px">', book.cover_url)

    # --- search: the API's engine, best matches first ------------------------------------------

    def search_libraries(self, request: HttpRequest) -> list[Tenant]:
        """Where the search box looks: the library filtered on, else the library worked in,
        else every library the user sees."""
        visible = Tenant.objects.all() if request.user.is_superuser else self.tenants_with_role(request)
        chosen = request.GET.get(f"{self.tenant_field}__id__exact")
        if chosen and chosen.isdigit():
            return list(visible.filter(pk=int(chosen)))
        library = current_library(request)
        if library is not None:
            return [library]
        return list(visible.order_by("pk")[:20])

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        ranked: list[int] = []
        for library in self.search_libraries(request):
            ids, _total = search_book_ids(tenant=library, q=term, limit=SEARCH_RESULTS, offset=0)
            ranked.extend(ids)
        if not ranked:
            return queryset.none(), False
        relevance = Case(
            *(When(pk=book_id, then=Value(position)) for position, book_id in enumerate(ranked)),
            output_field=IntegerField(),
        )
        found = queryset.filter(pk__in=ranked)
        if "o" in request.GET:  # the librarian sorted by a column
            return found, False
        # Best matches first (the change list orders before it searches).
        return found.annotate(search_position=relevance).order_by("search_position"), False

    # --- the book page: compare versions, who asked for it ----------------------------------------

    def get_urls(self) -> list[URLPattern]:
        diff = path(
            "<path:object_id>/diff/", self.admin_site.admin_view(self.diff_view), name="catalog_book_diff"
        )
        return [diff, *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        book = self.get_object(request, unquote(object_id))
        numbers = list(book.versions.order_by("-version").values_list("version", flat=True))
        extra = {
            **(extra_context or {}),
            "version_numbers": numbers,
            "diff_from": numbers[1] if len(numbers) > 1 else (numbers[0] if numbers else None),
            "diff_to": numbers[0] if numbers else None,
            "requests": book_requests(book),
        }
        return super().change_view(request, object_id, form_url, extra)

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Two versions side by side: every changed field, old on the left, new on the right."""
        book = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, book):
            raise Http404("Book not found")
        numbers = [request.GET.get("a", ""), request.GET.get("b", "")]
        # ASCII digits only, and few of them: "²".isdigit() holds, and a forty-digit number
        # overflows SQLite's integers.
        if not all(VERSION_NUMBER.fullmatch(n) for n in numbers):
            raise Http404("Choose two versions")
        first, second = (int(n) for n in numbers)
        versions = {v.version: v for v in book.versions.filter(version__in={first, second})}
        if first not in versions or second not in versions:
            raise Http404("Version not found")
        changes = diff_snapshots(versions[first].snapshot, versions[second].snapshot)
        rows = [
            {
                "field": name,
                "is_list": name in LIST_FIELDS,
                "old": change["old"],
                "new": change["new"],
                "added": change.get("added", []),
                "removed": change.get("removed", []),
            }
            for name, change in changes.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": book,
            "title": f"{book.title}: version {first} and version {second}",
            "book": book,
            "first": versions[first],
            "second": versions[second],
            "rows": rows,
            "version_numbers": list(book.versions.order_by("-version").values_list("version", flat=True)),
            "change_url": reverse("admin:catalog_book_change", args=[book.pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/catalog/book/diff.html", context)


def book_requests(book: Book, limit: int = 50) -> list:
    """The submissions that ask for `book`, newest first, with the patron's masked email only.

    Read through the reverse relation that patrons' SubmissionItem declares, so the catalog
    imports nothing of the app above it.
    """
    return list(
        book.submission_items.filter(tenant_id=book.tenant_id)
        .select_related("submission__patron")
        .only(
            "id",
            "status",
            "input",
            "submission__id",
            "submission__created_at",
            "submission__status",
            "submission__patron__id",
            "submission__patron__email_masked",
        )
        .order_by("-submission__created_at", "-id")[:limit]
    )
