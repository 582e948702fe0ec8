"""OpenAPI generation: every operation documents the error answers it can really give."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from tenants.api import TenantScopedMixin

ErrorSerializer = inline_serializer(
    "Error",
    {"detail": serializers.CharField(), "code": serializers.CharField()},
)
ValidationErrorSerializer = inline_serializer(
    "ValidationError",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)


class OlcsAutoSchema(AutoSchema):
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
            if isinstance(self.view, TenantScopedMixin):
                errors["404"] = ErrorSerializer
        if has_body:
            errors["413"] = ErrorSerializer
            errors["415"] = ErrorSerializer
        errors["405"] = ErrorSerializer
        for code, serializer in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.BearerKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A library's or a platform API key."}


class LibrarianSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.LibrarianSessionAuthentication"
    name = "librarianSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
