from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import CONTENT_FIELDS, Book, BookVersion
from olcs.api import OpaqueIdField


def timestamp(value) -> str | None:
    """ISO 8601 in UTC with Z, as DRF writes datetimes."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class AuthorRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    open_library_key = serializers.CharField()


class BookSummarySerializer(serializers.ModelSerializer):
    id = OpaqueIdField()
    authors = AuthorRefSerializer(many=True, source="authors_data")
    cover_url = serializers.CharField(allow_null=True)

    class Meta:
        model = Book
        fields = [
            "id",
            "open_library_key",
            "title",
            "authors",
            "first_publish_year",
            "cover_url",
            "current_version",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, book: Book) -> dict:
        # Written out by hand: lists serialize up to 100 books per request, and DRF's
        # per-field machinery cost more than the database did (docs/performance.md).
        return {
            "id": str(book.pk),
            "open_library_key": book.open_library_key,
            "title": book.title,
            "authors": [
                {"name": author.get("name", ""), "open_library_key": author.get("open_library_key", "")}
                for author in book.authors_data
            ],
            "first_publish_year": book.first_publish_year,
            "cover_url": book.cover_url,
            "current_version": book.current_version,
            "updated_at": timestamp(book.updated_at),
        }


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = BookVersion
        fields = ["version", "created_at", "changed_fields", "source"]
        read_only_fields = fields


class BookSerializer(BookSummarySerializer):
    subtitle = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    versions = VersionSummarySerializer(many=True, source="version_list")

    class Meta(BookSummarySerializer.Meta):
        fields = [
            *BookSummarySerializer.Meta.fields,
            "subtitle",
            "description",
            "subjects",
            "isbns",
            "languages",
            "edition_count",
            "cover_id",
            "created_at",
            "last_synced_at",
            "versions",
        ]
        read_only_fields = fields

    def to_representation(self, book: Book) -> dict:
        data = super().to_representation(book)
        data.update(
            subtitle=book.subtitle or None,
            description=book.description or None,
            subjects=list(book.subjects),
            isbns=list(book.isbns),
            languages=list(book.languages),
            edition_count=book.edition_count,
            cover_id=book.cover_id,
            created_at=timestamp(book.created_at),
            last_synced_at=timestamp(book.last_synced_at),
            versions=[
                {
                    "version": version.version,
                    "created_at": timestamp(version.created_at),
                    "changed_fields": list(version.changed_fields),
                    "source": version.source,
                }
                for version in book.version_list
            ],
        )
        return data

    def get_subtitle(self, book: Book) -> str | None:
        return book.subtitle or None

    def get_description(self, book: Book) -> str | None:
        return book.description or None


class SnapshotSerializer(serializers.Serializer):
    """A version's content, field by field (catalog.models.CONTENT_FIELDS)."""

    title = serializers.CharField()
    subtitle = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    authors = AuthorRefSerializer(many=True)
    subjects = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    first_publish_year = serializers.IntegerField(allow_null=True)
    cover_id = serializers.IntegerField(allow_null=True)
    isbns = serializers.ListField(child=serializers.CharField())
    edition_count = serializers.IntegerField()


class VersionDetailSerializer(serializers.ModelSerializer):
    book_id = OpaqueIdField()
    job_id = OpaqueIdField(allow_null=True)
    snapshot = serializers.SerializerMethodField()

    class Meta:
        model = BookVersion
        fields = ["book_id", "version", "created_at", "changed_fields", "source", "job_id", "snapshot"]
        read_only_fields = fields

    @extend_schema_field(SnapshotSerializer)
    def get_snapshot(self, version: BookVersion) -> dict:
        return {field: version.snapshot.get(field) for field in CONTENT_FIELDS}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.job_id is None:
            data["job_id"] = None
        return data


class DiffSerializer(serializers.Serializer):
    book_id = serializers.CharField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    changes = serializers.DictField(child=serializers.DictField())
