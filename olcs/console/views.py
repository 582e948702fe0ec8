"""The service's own endpoints: `/` (what this is) and `/health` (liveness and readiness,
the worker's heartbeat included, so it reads ingestion: it lives at the top, with the console)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import olcs
from ingestion.services import worker_state

logger = logging.getLogger(__name__)


class PublicView(APIView):
    """No credentials needed, and a bad Authorization header is ignored rather than a 401."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class RootView(PublicView):
    @extend_schema(
        responses=inline_serializer(
            "ServiceIndex",
            {
                "name": serializers.CharField(),
                "version": serializers.CharField(),
                "docs": serializers.CharField(),
                "openapi": serializers.CharField(),
            },
        ),
        tags=["service"],
    )
    def get(self, request):
        return Response(
            {"name": "olcs", "version": olcs.__version__, "docs": "/docs", "openapi": "/openapi.json"}
        )


HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "database": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "cache": serializers.ChoiceField(choices=["ok", "not_configured", "unavailable"]),
        "worker": serializers.ChoiceField(choices=["ok", "stale", "unknown"]),
    },
)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("health: database unavailable", exc_info=True)
        return "unavailable"
    return "ok"


def check_cache() -> str:
    if not settings.REDIS_URL:
        return "not_configured"
    try:
        cache.set("olcs:health", "1", timeout=10)
        return "ok" if cache.get("olcs:health") == "1" else "unavailable"
    except Exception:  # any client error means the same thing here: the cache is not usable
        logger.warning("health: cache unavailable", exc_info=True)
        return "unavailable"


class HealthView(PublicView):
    """Liveness and readiness: 503 only when the database is down (nothing works without it).

    A down cache or a stale worker degrade the service but do not stop it serving reads,
    so they are reported without failing the check.
    """

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer}, tags=["service"])
    def get(self, request):
        database = check_database()
        worker = "unknown"
        if database == "ok":
            try:
                worker = worker_state()
            except DatabaseError:
                logger.warning("health: worker heartbeat unreadable", exc_info=True)
        body = {
            "status": "ok" if database == "ok" else "unavailable",
            "database": database,
            "cache": check_cache(),
            "worker": worker,
        }
        response = Response(body, status=200 if database == "ok" else 503)
        response["Cache-Control"] = "no-store"
        return response
