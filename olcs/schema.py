"""OpenAPI generation: every operation documents the error answers it can really give.

What a view is comes from its class attributes, set by the mixins that make it so
(tenants.api): `tenant_scoped` (a library in the path: 404 "Tenant not found") and
`library_rate_limited` (the X-RateLimit headers, and 429 when `counts_against_rate_limit`).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {"detail": serializers.CharField(), "code": serializers.CharField()},
)
ValidationErrorSerializer = inline_serializer(
    "ValidationError",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        # Only for invalid fields: a body that is not JSON at all (parse_error) has none.
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
        # Present (true) when more fields were invalid than `errors` lists (olcs.http).
        "errors_truncated": serializers.BooleanField(required=False),
    },
)


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "The library's API requests per window.",
    "X-RateLimit-Remaining": "API requests left in the current window.",
    "X-RateLimit-Reset": "Seconds until a used request slot frees up (0 to the window length).",
}


class OlcsAutoSchema(AutoSchema):
    def _is_tenant_scoped(self) -> bool:
        return getattr(self.view, "tenant_scoped", False)

    def _is_rate_limited(self) -> bool:
        # Every tenant-scoped view, and `/tenants/` for a tenant key.
        return getattr(self.view, "library_rate_limited", False)

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        # Tenant-scoped answers carry the rate limit headers once the library is known: not on
        # 401, nor on the 404 "Tenant not found", nor when limiting is off.
        if self._is_rate_limited() and str(status_code) != "401":
            for name, description in RATE_LIMIT_HEADERS.items():
                headers.setdefault(name, self._header_component(name, description, minimum=0))
        if str(status_code) == "429":
            headers["Retry-After"] = self._header_component(
                "Retry-After", "Whole seconds until the request would be allowed.", minimum=1, required=True
            )
        return headers

    def _header_component(self, name: str, description: str, *, minimum: int, required: bool = False) -> dict:
        """A header defined once under components/headers and referenced from each response."""
        schema = {"schema": {"type": "integer", "minimum": minimum}, "description": description}
        if required:
            schema["required"] = True
        component = ResolvedComponent(name=name, type=ResolvedComponent.HEADER, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        public = not self.view.get_authenticators()
        errors: dict[str, object] = {}
        has_body = self.method in ("POST", "PUT", "PATCH")
        if has_body or self._get_paginator() is not None:
            errors["400"] = ValidationErrorSerializer
        if not public:
            errors["401"] = ErrorSerializer
            errors["403"] = ErrorSerializer
            if self._is_tenant_scoped():
                errors["404"] = ErrorSerializer
            if self._is_rate_limited() and self.view.counts_against_rate_limit:
                errors["429"] = ErrorSerializer
        if has_body:
            errors["413"] = ErrorSerializer
            errors["415"] = ErrorSerializer
        errors["405"] = ErrorSerializer
        for code, serializer in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses
