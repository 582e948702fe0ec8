from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from catalog.identifiers import InvalidIsbn, InvalidKey, normalize_isbn, parse_open_library_key
from ingestion.models import IngestionJob, IngestionLog
from ingestion.services import QUERY_FIELDS
from olcs.api import BoundedListField, OpaqueIdField, StrictCharField, StrictIntegerField
from olcs.http import MAX_LISTED_ERRORS

REQUEST_FIELDS = ("query", "open_library_keys", "isbns")


class IngestionRequestSerializer(serializers.Serializer):
    """Exactly one of query, open_library_keys, isbns; optional limit."""

    query = StrictCharField(required=False, max_length=500)
    open_library_keys = BoundedListField(
        child=StrictCharField(max_length=200), required=False, min_length=1, max_length=1000
    )
    isbns = BoundedListField(
        child=StrictCharField(max_length=40, trim_whitespace=False),
        required=False,
        min_length=1,
        max_length=1000,
    )
    limit = StrictIntegerField(required=False, min_value=1, max_value=1000)

    def validate_query(self, value: str) -> str:
        prefix, sep, rest = value.partition(":")
        if sep and prefix.strip().lower() in QUERY_FIELDS and not rest.strip():
            raise serializers.ValidationError(f"'{prefix.strip()}:' needs something to search for.")
        if len(value.strip()) < 1:
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_open_library_keys(self, value: list[str]) -> list[str]:
        keys, errors = [], {}
        for index, raw in enumerate(value):
            try:
                kind, key = parse_open_library_key(raw)
            except InvalidKey:
                errors[index] = [
                    "Not an Open Library work or edition key (e.g. OL18295W or /books/OL7353617M)."
                ]
            else:
                if kind in ("work", "edition"):
                    keys.append(key)
                    continue
                errors[index] = ["Only work and edition keys can be ingested."]
            if len(errors) > MAX_LISTED_ERRORS:
                break  # the answer lists MAX_LISTED_ERRORS and says the rest were left out
        if errors:
            raise serializers.ValidationError(errors)
        return list(dict.fromkeys(keys))

    def validate_isbns(self, value: list[str]) -> list[str]:
        isbns, errors = [], {}
        for index, raw in enumerate(value):
            try:
                isbns.append(normalize_isbn(raw))
            except InvalidIsbn as exc:
                errors[index] = [str(exc)]
                if len(errors) > MAX_LISTED_ERRORS:
                    break
        if errors:
            raise serializers.ValidationError(errors)
        return list(dict.fromkeys(isbns))

    def validate(self, attrs: dict) -> dict:
        given = [field for field in REQUEST_FIELDS if field in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                "Give exactly one of 'query', 'open_library_keys' or 'isbns'."
                + (f" Got: {', '.join(given)}." if given else "")
            )
        attrs.setdefault("limit", settings.INGESTION_DEFAULT_LIMIT)
        attrs["kind"] = {"query": "query", "open_library_keys": "keys", "isbns": "isbns"}[given[0]]
        return attrs


class IngestionBatchSerializer(serializers.Serializer):
    # A BoundedListField rather than many=True: the same length-first check as every list, and
    # the schema shows its maximum (maxItems).
    requests = BoundedListField(child=IngestionRequestSerializer(), allow_empty=False, max_length=20)


class IngestionJobSerializer(serializers.ModelSerializer):
    id = OpaqueIdField()
    query = serializers.SerializerMethodField()

    class Meta:
        model = IngestionJob
        fields = [
            "id",
            "status",
            "kind",
            "query",
            "open_library_keys",
            "isbns",
            "limit",
            "created_at",
            "started_at",
            "finished_at",
            "works_found",
            "works_created",
            "works_updated",
            "works_unchanged",
            "works_failed",
            "error",
        ]
        read_only_fields = fields

    def get_query(self, job: IngestionJob) -> str | None:
        return job.query or None


class IngestionJobBatchSerializer(serializers.Serializer):
    items = IngestionJobSerializer(many=True)


class IngestionLogSerializer(serializers.ModelSerializer):
    id = OpaqueIdField()
    job_id = OpaqueIdField()
    open_library_key = serializers.SerializerMethodField()

    class Meta:
        model = IngestionLog
        fields = ["id", "job_id", "level", "message", "open_library_key", "created_at"]
        read_only_fields = fields

    def get_open_library_key(self, entry: IngestionLog) -> str | None:
        return entry.open_library_key or None


class ResyncStateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    interval_hours = serializers.IntegerField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    next_run_at = serializers.DateTimeField(allow_null=True)
    tracked_queries = serializers.IntegerField()
    tracked_works = serializers.IntegerField()
    last_job_id = serializers.CharField(allow_null=True)
