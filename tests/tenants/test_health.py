"""/health: public, reports the database, the cache and the worker's heartbeat; 503 when the database is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import Schedule

from ingestion.models import WorkerHeartbeat
from ingestion.schedules import ensure_schedules
from ingestion.services import record_worker_heartbeat

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_redis(settings):
    settings.REDIS_URL = ""


@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_health_is_ok_without_a_worker_heartbeat(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "not_configured",
        "worker": "unknown",
    }
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Request-ID"]


def test_worker_is_ok_right_after_a_heartbeat(client, db):
    record_worker_heartbeat()

    response = client.get("/health")

    assert response.status_code == 200
    assert response.json()["worker"] == "ok"


def test_worker_is_stale_when_the_heartbeat_is_older_than_the_limit(client, db, settings):
    record_worker_heartbeat()
    limit = settings.WORKER_HEARTBEAT_STALE_SECONDS
    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=limit - 5))
    assert client.get("/health").json()["worker"] == "ok"

    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(seconds=limit + 5))

    response = client.get("/health")
    assert response.status_code == 200  # a stale worker degrades the service, it does not stop it
    assert response.json() == {"status": "ok", "database": "ok", "cache": "not_configured", "worker": "stale"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer olcs_deadbeef_not-a-real-key", "Basic !!!not-base64!!!", "garbage", "Bearer"],
)
def test_health_is_public_and_ignores_bad_credentials(client, db, authorization):
    response = client.get("/health", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_echoes_the_callers_request_id(client, db):
    response = client.get("/health", HTTP_X_REQUEST_ID="probe-42")

    assert response["X-Request-ID"] == "probe-42"


DATABASE_DOWN_PROBE = """
import json
import django
django.setup()
from django.test import Client
response = Client().get("/health")
print(json.dumps({
    "status_code": response.status_code,
    "content_type": response["Content-Type"],
    "request_id": response.get("X-Request-ID"),
    "body": response.content.decode(),
}))
"""


@pytest.mark.slow
def test_health_is_503_in_json_when_the_database_is_down():
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("TESTING", "REDIS_URL", "SECRET_KEY", "HMAC_SECRET_KEY"):
        env.pop(name, None)
    # Nothing listens on port 1: the connection is refused at once.
    env.update(
        DATABASE_URL="postgres://olcs:nope@127.0.0.1:1/olcs",
        DJANGO_SETTINGS_MODULE="olcs.settings",
        DEBUG="true",
    )

    probe = subprocess.run(
        [sys.executable, "-c", DATABASE_DOWN_PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["status_code"] == 503
    assert result["content_type"] == "application/json"
    assert result["request_id"]
    body = json.loads(result["body"])
    assert body == {
        "status": "unavailable",
        "database": "unavailable",
        "cache": "not_configured",
        "worker": "unknown",
    }
    for leak in ("Traceback", "OperationalError", "127.0.0.1", "nope", "password"):
        assert leak not in result["body"]
    # The failure is logged (server side), not returned.
    assert "health: database unavailable" in probe.stderr


def test_the_worker_heartbeat_is_scheduled_exactly_once(db):
    assert Schedule.objects.filter(name="worker-heartbeat").count() == 1

    ensure_schedules()
    ensure_schedules()

    schedule = Schedule.objects.get(name="worker-heartbeat")
    assert schedule.func == "ingestion.tasks.worker_heartbeat"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 1
    assert schedule.next_run is not None
