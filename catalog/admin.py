"""The catalog as a librarian sees it: books, their authors, and every version of each."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from catalog.models import Book, BookVersion
from tenants.admin import TenantScopedAdmin


class BookVersionInline(admin.TabularInline):
    model = BookVersion
    fields = ("version", "created_at", "source", "changed", "job")
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

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Book)
class BookAdmin(TenantScopedAdmin):
    """Books come from Open Library: librarians read them here and change them by ingesting."""

    list_display = ("title", "author_names", "first_publish_year", "current_version", "updated_at", "tenant")
    list_select_related = ("tenant",)
    search_fields = ("title", "open_library_key")
    ordering = ("title", "id")
    inlines = [BookVersionInline]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

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
