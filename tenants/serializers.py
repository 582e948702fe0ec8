from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from olcs.api import BoundedListField, OpaqueIdField, StrictCharField
from tenants.models import ALL_SCOPES, ApiKey, Tenant, validate_tenant_slug


class TenantSerializer(serializers.ModelSerializer):
    id = OpaqueIdField()

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "created_at"]
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    # Format only: a duplicate slug is a 409 from the service, not a 400 from here.
    slug = StrictCharField(max_length=63, trim_whitespace=False, validators=[validate_tenant_slug])


class TenantCreatedSerializer(TenantSerializer):
    api_key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TenantSerializer.Meta):
        fields = [*TenantSerializer.Meta.fields, "api_key"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    id = OpaqueIdField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ALL_SCOPES)), read_only=True)
    revoked = serializers.BooleanField()

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked"]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeySerializer):
    api_key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "api_key"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    scopes = BoundedListField(
        child=serializers.ChoiceField(choices=sorted(ALL_SCOPES)), allow_empty=False, max_length=10
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_scopes(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value

    def validate(self, attrs: dict) -> dict:
        """A key that creates a key (context "creator") grants no scope it lacks and no life
        beyond its own: otherwise a short-lived `keys:admin` key could mint a lasting, fuller one."""
        creator: ApiKey | None = self.context.get("creator")
        if creator is None:
            return attrs
        beyond = sorted(set(attrs["scopes"]) - set(creator.scopes))
        if beyond:
            raise serializers.ValidationError(
                {
                    "scopes": [
                        f"A key can grant only scopes it has itself; this one lacks {', '.join(beyond)}."
                    ]
                }
            )
        expires_at = attrs.get("expires_at")
        if creator.expires_at is not None and (expires_at is None or expires_at > creator.expires_at):
            raise serializers.ValidationError(
                {
                    "expires_at": [
                        "A key can create keys that expire no later than itself: give an expires_at "
                        f"at or before {creator.expires_at.isoformat()}."
                    ]
                }
            )
        return attrs


class RateLimitUsageSerializer(serializers.Serializer):
    """One limit of a library as it stands (tenants.ratelimit.Usage)."""

    limit = serializers.IntegerField(read_only=True, help_text="Requests (or jobs) allowed per window.")
    window_seconds = serializers.IntegerField(read_only=True)
    used = serializers.IntegerField(read_only=True, help_text="Used in the current window.")
    remaining = serializers.IntegerField(read_only=True)
    window_start = serializers.DateTimeField(
        read_only=True,
        help_text="Start of the window counted now: the fixed window's start, or for the sliding "
        "window one window length ago.",
    )
    window_end = serializers.DateTimeField(
        read_only=True, help_text="End of the fixed window; for the sliding window, now."
    )


class RateLimitsSerializer(serializers.Serializer):
    api = RateLimitUsageSerializer(read_only=True, help_text="Tenant-scoped API requests.")
    ingestion = RateLimitUsageSerializer(read_only=True, help_text="Ingestion jobs created.")
