"""Rate limits over HTTP: 429 and Retry-After, the X-RateLimit headers, the ingestion limit,
the rate-limits report, overrides in the admin, and failing open. Every test runs against each
store (see the `rate_limits` fixture) on a clock the test moves by hand.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.urls import reverse
from rest_framework.test import APIClient

from ingestion import services as ingestion_services
from ingestion.models import IngestionJob
from olcs.logs import RequestIdFilter
from tenants import ratelimit
from tenants.models import Membership, Tenant
from tests.conftest import bearer
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

RATE_LIMITED = {"detail": "Rate limit exceeded", "code": "rate_limited"}
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
TOLKIEN = {"query": "author:Tolkien"}


@pytest.fixture
def limits(rate_limits, settings):
    """5 API requests per 60 s and 3 ingestion jobs per 3600 s, by default."""
    settings.API_RATE_LIMIT_REQUESTS = 5
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 60
    settings.INGESTION_RATE_LIMIT_REQUESTS = 3
    settings.INGESTION_RATE_LIMIT_WINDOW_SECONDS = 3600
    return rate_limits


def rate_headers(response) -> tuple[str, str, str] | None:
    present = [name for name in HEADERS if name in response]
    if not present:
        return None
    assert present == list(HEADERS), present
    return tuple(response[name] for name in HEADERS)


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(raw_key))
    return client


# --- 429 -------------------------------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after_and_the_headers(limits, client_a):
    answers = []
    for _ in range(5):
        answers.append(client_a.get("/tenants/alexandria").status_code)
        limits.advance(1.5)

    refused = client_a.get("/tenants/alexandria/")

    assert answers == [200] * 5
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    # The first request (at t=0) frees its slot at t=60; it is now t=7.5.
    assert refused["Retry-After"] == "53"
    assert rate_headers(refused) == ("5", "0", "53")


def test_a_refused_request_does_not_use_a_slot(limits, client_a):
    for _ in range(5):
        client_a.get("/tenants/alexandria")
    for _ in range(3):
        limits.advance(10)
        assert client_a.get("/tenants/alexandria").status_code == 429

    limits.advance(30)  # t=60: the five slots of t=0 are free again, none taken by the refusals

    assert [client_a.get("/tenants/alexandria").status_code for _ in range(6)] == [200] * 5 + [429]


def test_retry_after_is_rounded_up_and_at_least_one_second(limits, client_a):
    for _ in range(5):
        client_a.get("/tenants/alexandria")

    limits.advance(59.001)
    almost = client_a.get("/tenants/alexandria")
    limits.advance(0.9985)
    last_moment = client_a.get("/tenants/alexandria")

    assert (almost.status_code, almost["Retry-After"]) == (429, "1")  # 0.999 s
    assert (last_moment.status_code, last_moment["Retry-After"]) == (429, "1")  # 0.5 ms


def test_fixed_windows_restart_at_the_boundary(limits, client_a, settings):
    settings.RATE_LIMIT_STRATEGY = "fixed"
    limits.advance(55)
    for _ in range(5):
        client_a.get("/tenants/alexandria")
    refused = client_a.get("/tenants/alexandria")
    limits.advance(5)  # the next window

    again = [client_a.get("/tenants/alexandria").status_code for _ in range(6)]

    assert (refused.status_code, refused["Retry-After"]) == (429, "5")
    assert again == [200] * 5 + [429]


# --- The headers -----------------------------------------------------------------------------------


def test_every_tenant_scoped_answer_carries_the_headers_and_counts(limits, client_a, library_a):
    narrow = client_with(ApiKeyFactory(tenant=library_a.tenant, scopes=["catalog:read"]).raw)
    limits.advance(0.25)

    answers = [
        client_a.get("/tenants/alexandria"),  # 200
        client_a.get("/tenants/alexandria/api-keys/?limit=abc"),  # 400
        client_a.get("/tenants/alexandria/books/999999"),  # 404 Book not found
        narrow.get("/tenants/alexandria/api-keys/"),  # 403
        client_a.delete("/tenants/alexandria"),  # 405
    ]

    assert [response.status_code for response in answers] == [200, 400, 404, 403, 405]
    assert answers[2].json()["detail"] == "Book not found"
    assert [rate_headers(response) for response in answers] == [
        ("5", "4", "60"),
        ("5", "3", "60"),
        ("5", "2", "60"),
        ("5", "1", "60"),
        ("5", "0", "60"),
    ]


def test_answers_before_the_library_is_known_carry_no_headers_and_do_not_count(
    limits, client_a, library_b, api_client
):
    answers = [
        api_client.get("/tenants/alexandria"),  # 401
        client_a.get("/tenants/bodleian"),  # 404 Tenant not found
        client_a.get("/tenants/nowhere/books/"),  # 404 Tenant not found
        api_client.get("/"),
        api_client.get("/health"),
        api_client.get("/openapi.json"),
    ] * 3

    # (`/tenants/` with a tenant key counts: tests/tenants/test_api_hardening.py.)
    assert [response.status_code for response in answers[:6]] == [401, 404, 404, 200, 200, 200]
    assert all(response.status_code != 429 for response in answers)
    assert [rate_headers(response) for response in answers] == [None] * len(answers)
    assert rate_headers(client_a.get("/tenants/alexandria")) == ("5", "4", "60")


def test_headers_count_down_and_reset_tracks_the_oldest_slot(limits, client_a):
    first = client_a.get("/tenants/alexandria")
    limits.advance(20.5)
    second = client_a.get("/tenants/alexandria")

    assert rate_headers(first) == ("5", "4", "60")
    assert rate_headers(second) == ("5", "3", "40")  # the slot of t=0 frees in 39.5 s


# --- Libraries, overrides, platform keys -----------------------------------------------------------


def test_libraries_do_not_share_a_budget(limits, client_a, client_b):
    for _ in range(5):
        client_a.get("/tenants/alexandria")

    assert client_a.get("/tenants/alexandria").status_code == 429
    assert client_b.get("/tenants/bodleian").status_code == 200
    assert rate_headers(client_b.get("/tenants/bodleian")) == ("5", "3", "60")


def test_a_librarys_own_limit_replaces_the_default(limits, client_a, client_b, library_a):
    Tenant.objects.filter(pk=library_a.tenant.pk).update(
        api_rate_limit_requests=2, api_rate_limit_window_seconds=10
    )

    a = [client_a.get("/tenants/alexandria") for _ in range(3)]
    b = [client_b.get("/tenants/bodleian").status_code for _ in range(3)]

    assert [response.status_code for response in a] == [200, 200, 429]
    assert rate_headers(a[0]) == ("2", "1", "10")
    assert a[2]["Retry-After"] == "10"
    assert b == [200, 200, 200]


def test_a_platform_key_counts_against_the_library_it_acts_on(limits, platform_client, client_a):
    for _ in range(5):
        assert platform_client.get("/tenants/alexandria").status_code == 200

    assert platform_client.get("/tenants/alexandria").status_code == 429
    assert client_a.get("/tenants/alexandria").status_code == 429


def test_limiting_off_answers_everything_without_headers(limits, client_a, settings):
    settings.RATE_LIMIT_ENABLED = False

    answers = [client_a.get("/tenants/alexandria") for _ in range(20)]

    assert {response.status_code for response in answers} == {200}
    assert {rate_headers(response) for response in answers} == {None}


# --- Ingestion -------------------------------------------------------------------------------------


def ingest(client, body=TOLKIEN):
    return client.post("/tenants/alexandria/ingestion/", body, format="json")


def ingest_batch(client, size: int):
    requests = [{"query": f"subject:topic-{n}"} for n in range(size)]
    return client.post("/tenants/alexandria/ingestion/batch/", {"requests": requests}, format="json")


def ingestion_used(client) -> int:
    return client.get("/tenants/alexandria/rate-limits").json()["ingestion"]["used"]


def test_each_job_counts_against_the_ingestion_limit(limits, client_a):
    answers = [ingest(client_a) for _ in range(4)]

    assert [response.status_code for response in answers] == [202, 202, 202, 429]
    assert answers[3].json() == RATE_LIMITED
    assert answers[3]["Retry-After"] == "3600"
    # The X-RateLimit headers always describe the API limit, which every request also uses.
    assert rate_headers(answers[3]) == ("5", "1", "60")
    assert IngestionJob.objects.count() == 3


def test_a_batch_that_does_not_fit_creates_nothing(limits, client_a):
    first = ingest(client_a)
    limits.advance(100)

    refused = ingest_batch(client_a, 3)
    fits = ingest_batch(client_a, 2)

    assert first.status_code == 202
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert refused["Retry-After"] == "3500"  # the job of t=0 frees its slot at t=3600
    assert fits.status_code == 202
    assert len(fits.json()["items"]) == 2
    assert IngestionJob.objects.count() == 3
    assert ingestion_used(client_a) == 3


def test_a_batch_larger_than_the_limit_is_refused_whole(limits, client_a):
    refused = ingest_batch(client_a, 4)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert IngestionJob.objects.count() == 0
    assert ingestion_used(client_a) == 0


def test_invalid_ingestion_requests_use_no_ingestion_slot(limits, client_a):
    assert ingest(client_a, {"query": ""}).status_code == 400
    assert ingestion_used(client_a) == 0


def test_retry_and_resync_count_but_a_conflict_gives_the_slot_back(limits, client_a, library_a):
    failed = IngestionJob.objects.create(
        tenant=library_a.tenant, kind="query", query="author:Tolkien", status="failed"
    )

    retry = client_a.post(f"/tenants/alexandria/ingestion/jobs/{failed.pk}/retry")
    resync = client_a.post("/tenants/alexandria/ingestion/resync")
    conflict = client_a.post("/tenants/alexandria/ingestion/resync")

    assert (retry.status_code, resync.status_code, conflict.status_code) == (202, 202, 409)
    assert ingestion_used(client_a) == 2
    assert ingest(client_a).status_code == 202
    assert ingest(client_a).status_code == 429


def test_slots_of_jobs_that_failed_to_be_created_are_given_back(limits, client_a, monkeypatch):
    def fail(**kwargs):
        raise OperationalError("the database went away")

    with monkeypatch.context() as patched:
        # The step of create_jobs that writes each job, after the slots were taken.
        patched.setattr(ingestion_services, "_record_job", fail)
        response = ingest_batch(client_a, 2)

    assert response.status_code == 503
    assert rate_headers(response) == ("5", "4", "60")
    assert ingestion_used(client_a) == 0
    assert IngestionJob.objects.count() == 0


# --- The rate-limits report ------------------------------------------------------------------------


def test_the_report_shows_both_limits_without_counting_itself(limits, client_a):
    client_a.get("/tenants/alexandria")
    ingest(client_a)
    limits.advance(2)

    reports = [client_a.get("/tenants/alexandria/rate-limits/") for _ in range(10)]

    assert {response.status_code for response in reports} == {200}
    assert reports[-1].json() == {
        "api": {
            "limit": 5,
            "window_seconds": 60,
            "used": 2,
            "remaining": 3,
            "window_start": "2027-01-15T07:59:02Z",
            "window_end": "2027-01-15T08:00:02Z",
        },
        "ingestion": {
            "limit": 3,
            "window_seconds": 3600,
            "used": 1,
            "remaining": 2,
            "window_start": "2027-01-15T07:00:02Z",
            "window_end": "2027-01-15T08:00:02Z",
        },
    }
    assert rate_headers(reports[-1]) == ("5", "3", "58")
    assert reports[-1]["Cache-Control"] == "no-store"
    assert rate_headers(client_a.get("/tenants/alexandria")) == ("5", "2", "58")


def test_the_report_of_fixed_windows_gives_the_window(limits, client_a, settings):
    settings.RATE_LIMIT_STRATEGY = "fixed"
    limits.advance(75.5)
    client_a.get("/tenants/alexandria")

    api = client_a.get("/tenants/alexandria/rate-limits").json()["api"]

    assert (api["used"], api["remaining"]) == (1, 4)
    start, end = (datetime.fromisoformat(api[name]) for name in ("window_start", "window_end"))
    assert (start.isoformat(), (end - start).total_seconds()) == ("2027-01-15T08:01:00+00:00", 60)


def test_the_report_answers_any_key_of_the_library_and_the_platform(
    limits, library_a, client_b, platform_client
):
    no_scopes_needed = client_with(ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:write"]).raw)

    assert no_scopes_needed.get("/tenants/alexandria/rate-limits").status_code == 200
    assert platform_client.get("/tenants/alexandria/rate-limits").status_code == 200
    assert client_b.get("/tenants/alexandria/rate-limits").json()["detail"] == "Tenant not found"
    assert APIClient().get("/tenants/alexandria/rate-limits").status_code == 401


def test_the_report_answers_even_when_the_library_is_over_its_limit(limits, client_a):
    for _ in range(6):
        client_a.get("/tenants/alexandria")

    report = client_a.get("/tenants/alexandria/rate-limits")

    assert report.status_code == 200
    assert report.json()["api"]["remaining"] == 0
    assert rate_headers(report) == ("5", "0", "60")


def test_the_report_with_limiting_off_shows_nothing_used(limits, client_a, settings):
    settings.RATE_LIMIT_ENABLED = False

    report = client_a.get("/tenants/alexandria/rate-limits")

    assert report.status_code == 200
    assert report.json()["api"]["used"] == 0
    assert rate_headers(report) is None


def test_the_openapi_schema_documents_429_the_headers_and_the_report(api_client):
    schema = api_client.get("/openapi.json").json()

    books = schema["paths"]["/tenants/{slug}/books/"]["get"]["responses"]
    assert set(books["429"]["headers"]) == {"Retry-After", *HEADERS}
    assert set(books["200"]["headers"]) >= set(HEADERS)
    assert "headers" not in books["401"]
    report = schema["paths"]["/tenants/{slug}/rate-limits/"]["get"]["responses"]
    assert "429" not in report
    assert report["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RateLimits"
    }
    assert "429" in schema["paths"]["/tenants/{slug}/ingestion/batch/"]["post"]["responses"]
    # A tenant key's `/tenants/` counts against its library's limit too.
    assert "429" in schema["paths"]["/tenants/"]["get"]["responses"]


# --- The store fails: the API keeps answering ------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def limiter_warnings(caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.WARNING, logger="tenants.ratelimit")
    return caplog


def test_redis_down_the_api_answers_and_logs_the_request_id(
    client_a, settings, monkeypatch, limiter_warnings
):
    settings.RATE_LIMIT_ENABLED = True
    settings.API_RATE_LIMIT_REQUESTS = 1
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"

    answers = [client_a.get("/tenants/alexandria", HTTP_X_REQUEST_ID=f"req-{n}") for n in range(3)]
    job = ingest(client_a)
    report = client_a.get("/tenants/alexandria/rate-limits")

    assert [response.status_code for response in answers] == [200, 200, 200]
    assert [rate_headers(response) for response in answers] == [None] * 3
    assert job.status_code == 202
    assert report.status_code == 503
    assert report.json()["code"] == "service_unavailable"
    request_ids = [record.request_id for record in limiter_warnings.records if record.levelname == "WARNING"]
    assert request_ids[:3] == ["req-0", "req-1", "req-2"]


def test_a_database_error_in_the_limiter_lets_the_jobs_be_created(client_a, settings, monkeypatch):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_STRATEGY = "sliding"
    settings.REDIS_URL = ""
    monkeypatch.setattr(
        ratelimit, "_ADD_HIT_SQL", "INSERT INTO tenants_no_such_table VALUES (%s, %s, %s, %s)"
    )

    response = ingest_batch(client_a, 2)

    assert response.status_code == 202
    assert IngestionJob.objects.count() == 2


# --- The admin: superusers set a library's limits, librarians only see them -------------------------


LIMIT_FIELDS = {
    "api_rate_limit_requests": "100",
    "api_rate_limit_window_seconds": "30",
    "ingestion_rate_limit_requests": "",
    "ingestion_rate_limit_window_seconds": "",
}


def test_a_superuser_sets_a_librarys_limits_in_the_admin(client, library_a):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", password=None))
    url = reverse("admin:tenants_tenant_change", args=[library_a.tenant.pk])

    page = client.get(url)
    response = client.post(
        url, {"name": "Alexandria", "slug": "alexandria", "resync_enabled": "on", **LIMIT_FIELDS}
    )

    assert page.status_code == 200 and "Rate limits" in page.content.decode()
    assert response.status_code == 302
    tenant = Tenant.objects.get(pk=library_a.tenant.pk)
    assert (tenant.api_rate_limit_requests, tenant.api_rate_limit_window_seconds) == (100, 30)
    assert tenant.ingestion_rate_limit_requests is None
    zero = client.post(
        url, {"name": "Alexandria", "slug": "alexandria", **LIMIT_FIELDS, "api_rate_limit_requests": "0"}
    )
    assert zero.status_code == 200  # the form refuses a limit of 0
    assert Tenant.objects.get(pk=library_a.tenant.pk).api_rate_limit_requests == 100


def test_a_library_admin_sees_the_limits_but_cannot_change_them(client, library_a):
    Tenant.objects.filter(pk=library_a.tenant.pk).update(api_rate_limit_requests=7)
    user = UserFactory(username="ada", password=None)
    MembershipFactory(tenant=library_a.tenant, user=user, role=Membership.Role.ADMIN)
    client.force_login(user)
    url = reverse("admin:tenants_tenant_change", args=[library_a.tenant.pk])

    page = client.get(url)
    response = client.post(url, {"name": "Alexandria Central", **LIMIT_FIELDS})

    assert page.status_code == 200
    content = page.content.decode()
    assert "Rate limits" in content and 'name="api_rate_limit_requests"' not in content
    assert response.status_code == 302
    tenant = Tenant.objects.get(pk=library_a.tenant.pk)
    assert tenant.name == "Alexandria Central"
    assert (tenant.api_rate_limit_requests, tenant.api_rate_limit_window_seconds) == (7, None)


def test_the_database_refuses_a_limit_below_one(library_a):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=library_a.tenant.pk).update(ingestion_rate_limit_window_seconds=0)
