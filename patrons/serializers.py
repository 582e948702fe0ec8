"""Submissions and patrons in and out of the API. The patron's email and name are read by
patrons.pii's fields and never written back; nothing here returns a hash."""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.identifiers import InvalidIsbn, InvalidKey, normalize_isbn, parse_open_library_key
from olcs.api import BoundedListField, OpaqueIdField
from patrons.models import Submission, SubmissionItem
from patrons.pii import PatronEmailField, PatronNameField
from patrons.services import MAX_BOOKS, BookRequest

BOOK_FIELDS = ("isbn", "open_library_key")
ISBN_MAX_LENGTH = 32  # 13 digits with a hyphen or space between each, and then some
KEY_MAX_LENGTH = 200  # long enough for https://openlibrary.org/works/OL…W/Some_Title
ONE_OF = "Each book is an object with exactly one of 'isbn' or 'open_library_key'."


@extend_schema_field(
    {
        "type": "object",
        "description": ONE_OF,
        "properties": {
            "isbn": {"type": "string", "maxLength": ISBN_MAX_LENGTH, "example": "9780618640157"},
            "open_library_key": {"type": "string", "maxLength": KEY_MAX_LENGTH, "example": "OL18295W"},
        },
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    }
)
class BookRequestField(serializers.Field):
    """One requested book. A structural problem is reported at `books.N`, a bad value at
    `books.N.isbn` or `books.N.open_library_key` (the error handler flattens the paths)."""

    default_error_messages = {
        "one_of": ONE_OF,
        "not_a_string": "Must be a string.",
        "blank": "This field may not be blank.",
        "too_long": "Ensure this field has no more than {max_length} characters.",
        "bad_key": "Not an Open Library work or edition key (e.g. OL18295W or /books/OL7353617M).",
        "author_key": "An author key is not a book: give a work or edition key.",
    }

    def to_internal_value(self, data) -> BookRequest:
        # Unknown fields are refused without being named: a body may hold anything.
        if not isinstance(data, Mapping) or len(data) != 1 or next(iter(data)) not in BOOK_FIELDS:
            self.fail("one_of")
        [(field, value)] = data.items()
        if not isinstance(value, str):
            raise serializers.ValidationError({field: [self.error_messages["not_a_string"]]})
        value = value.strip()
        limit = ISBN_MAX_LENGTH if field == "isbn" else KEY_MAX_LENGTH
        if not value:
            raise serializers.ValidationError({field: [self.error_messages["blank"]]})
        if len(value) > limit:
            raise serializers.ValidationError(
                {field: [self.error_messages["too_long"].format(max_length=limit)]}
            )
        if field == "isbn":
            try:
                return BookRequest(kind=SubmissionItem.Kind.ISBN, input=value, isbn13=normalize_isbn(value))
            except InvalidIsbn as exc:
                raise serializers.ValidationError({field: [f"Not a valid ISBN: {exc}."]}) from None
        try:
            kind, key = parse_open_library_key(value)
        except InvalidKey:
            raise serializers.ValidationError({field: [self.error_messages["bad_key"]]}) from None
        if kind == "author":
            raise serializers.ValidationError({field: [self.error_messages["author_key"]]})
        return BookRequest(kind=kind, input=value, open_library_key=key)

    def to_representation(self, value: BookRequest) -> dict:
        field = "isbn" if value.kind == SubmissionItem.Kind.ISBN else "open_library_key"
        return {field: value.input}


class BookListField(BoundedListField):
    """1-50 books. The count is checked before the books, so 51 books get one clear error."""

    default_error_messages = {
        "count": f"Give between 1 and {MAX_BOOKS} books.",
        "empty": f"Give between 1 and {MAX_BOOKS} books.",
        "min_length": f"Give between 1 and {MAX_BOOKS} books.",
        "max_length": f"Give between 1 and {MAX_BOOKS} books.",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(
            child=BookRequestField(), allow_empty=False, min_length=1, max_length=MAX_BOOKS, **kwargs
        )

    def to_internal_value(self, data) -> list[BookRequest]:
        if isinstance(data, list) and not 1 <= len(data) <= MAX_BOOKS:
            self.fail("count")
        return super().to_internal_value(data)


class SubmissionCreateSerializer(serializers.Serializer):
    """A patron's reading list: `{"email", "name", "books": [...]}`, nothing else."""

    email = PatronEmailField()
    name = PatronNameField()
    books = BookListField()

    default_error_messages = {
        "unknown_fields": "Unknown field(s): a submission has only email, name and books."
    }

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and set(data) - set(self.fields):
            raise serializers.ValidationError({"non_field_errors": [self.error_messages["unknown_fields"]]})
        return super().to_internal_value(data)


class PatronEraseSerializer(serializers.Serializer):
    """`{"email"}` of the patron to erase, nothing else."""

    email = PatronEmailField()

    default_error_messages = {"unknown_fields": "Unknown field(s): an erasure request has only email."}

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and set(data) - set(self.fields):
            raise serializers.ValidationError({"non_field_errors": [self.error_messages["unknown_fields"]]})
        return super().to_internal_value(data)


class PatronRefSerializer(serializers.Serializer):
    id = OpaqueIdField()
    email_masked = serializers.CharField(read_only=True)


class SubmissionItemSerializer(serializers.Serializer):
    input = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=SubmissionItem.Status.choices, read_only=True)
    book_id = OpaqueIdField(allow_null=True)
    open_library_key = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_open_library_key(self, item: SubmissionItem) -> str | None:
        # The book's work once resolved; until then the key that was asked for, if any.
        if item.book_id is not None and item.book is not None:
            return item.book.open_library_key
        return item.open_library_key or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_title(self, item: SubmissionItem) -> str | None:
        return item.book.title if item.book_id is not None and item.book is not None else None


class SubmissionSerializer(serializers.Serializer):
    """A reading list and where each of its books stands."""

    id = OpaqueIdField()
    patron = PatronRefSerializer(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=Submission.Status.choices, read_only=True)
    # `item_list`: the items in order with their books (prefetched, or set by record_submission).
    books = SubmissionItemSerializer(source="item_list", many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class PatronSerializer(serializers.Serializer):
    """A patron as librarians see them: the masked email and their activity, never a hash."""

    id = OpaqueIdField()
    email_masked = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_submission_at = serializers.DateTimeField(source="last_submitted_at", read_only=True)
    submission_count = serializers.IntegerField(read_only=True)
