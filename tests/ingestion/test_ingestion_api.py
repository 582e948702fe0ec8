"""The ingestion endpoints' contract: validation, batch, list/filter, cancel, retry, logs, resync."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion import services
from ingestion.models import IngestionJob, IngestionLog
from tests.conftest import bearer
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

JOB_FIELDS = {
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
}


def make_job(library, **fields) -> IngestionJob:
    defaults = {"tenant": library.tenant, "kind": "query", "query": "author:Tolkien"}
    return IngestionJob.objects.create(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "non_field_errors"),
        ({"query": "dune", "isbns": ["9780618640157"]}, "non_field_errors"),
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "author:"}, "query"),
        ({"query": 42}, "query"),
        ({"query": "x" * 501}, "query"),
        ({"open_library_keys": []}, "open_library_keys"),
        ({"open_library_keys": "OL18295W"}, "open_library_keys"),
        ({"open_library_keys": ["OL18295W", "banana"]}, "open_library_keys.1"),
        ({"open_library_keys": ["/authors/OL26320A"]}, "open_library_keys.0"),
        ({"open_library_keys": [7]}, "open_library_keys.0"),
        ({"isbns": ["9780618640158"]}, "isbns.0"),  # wrong check digit
        ({"isbns": ["9780618640157", "12345"]}, "isbns.1"),
        ({"isbns": ["978061864015X"]}, "isbns.0"),
        ({"query": "dune", "limit": 0}, "limit"),
        ({"query": "dune", "limit": 1001}, "limit"),
        ({"query": "dune", "limit": "10"}, "limit"),
        ({"query": "dune", "limit": 2.5}, "limit"),
        ({"query": "dune", "limit": True}, "limit"),
        ({"isbns": ["9780618640157"] * 1001}, "isbns"),
    ],
)
def test_invalid_ingestion_requests_are_400_and_create_nothing(client_a, payload, field):
    response = client_a.post("/tenants/alexandria/ingestion/", payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not IngestionJob.objects.exists()


def test_ingestion_accepts_unicode_and_defaults(client_a):
    response = client_a.post(
        "/tenants/alexandria/ingestion", {"query": "title:Cien años de soledad"}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert set(body) == JOB_FIELDS
    assert body["status"] == "pending"
    assert body["kind"] == "query"
    assert body["query"] == "title:Cien años de soledad"
    assert body["limit"] == 50
    assert body["open_library_keys"] == [] and body["isbns"] == []


def test_isbn_10_with_x_is_normalised(client_a):
    response = client_a.post("/tenants/alexandria/ingestion/", {"isbns": ["0-8044-2957-X"]}, format="json")

    assert response.status_code == 202
    assert response.json()["isbns"] == ["9780804429573"]


def test_batch_creates_every_job_or_none(client_a):
    ok = client_a.post(
        "/tenants/alexandria/ingestion/batch/",
        {
            "requests": [
                {"query": "author:Tolkien"},
                {"isbns": ["9780618640157"]},
                {"open_library_keys": ["OL1W"]},
            ]
        },
        format="json",
    )
    bad = client_a.post(
        "/tenants/alexandria/ingestion/batch",
        {"requests": [{"query": "dune"}, {"isbns": ["123"]}]},
        format="json",
    )

    assert ok.status_code == 202
    assert [job["kind"] for job in ok.json()["items"]] == ["query", "isbns", "keys"]
    assert bad.status_code == 400
    assert "requests.1.isbns.0" in bad.json()["errors"]
    assert IngestionJob.objects.count() == 3


@pytest.mark.parametrize("requests", [[], [{"query": "a"}] * 21, "nope", None])
def test_batch_size_limits(client_a, requests):
    response = client_a.post("/tenants/alexandria/ingestion/batch", {"requests": requests}, format="json")

    assert response.status_code == 400
    assert not IngestionJob.objects.exists()


def test_job_list_filters_and_paginates(client_a, library_a, library_b):
    make_job(library_a, status="completed")
    make_job(library_a, status="failed")
    make_job(library_a)
    make_job(library_b, status="failed")

    everything = client_a.get("/tenants/alexandria/ingestion/jobs/")
    failed = client_a.get("/tenants/alexandria/ingestion/jobs?status=failed")
    bad = client_a.get("/tenants/alexandria/ingestion/jobs?status=exploded")
    paged = client_a.get("/tenants/alexandria/ingestion/jobs?limit=2")

    assert everything.json()["total"] == 3
    assert everything["X-Total-Count"] == "3"
    assert [job["status"] for job in failed.json()["items"]] == ["failed"]
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert len(paged.json()["items"]) == 2 and paged.json()["next"]


def test_job_detail_and_other_tenants_job_is_404(client_a, client_b, library_a):
    job = make_job(library_a)

    mine = client_a.get(f"/tenants/alexandria/ingestion/jobs/{job.pk}")
    theirs = client_b.get(f"/tenants/bodleian/ingestion/jobs/{job.pk}")
    junk = client_a.get("/tenants/alexandria/ingestion/jobs/abc")

    assert mine.status_code == 200 and mine.json()["id"] == str(job.pk)
    assert theirs.status_code == 404 and theirs.json()["detail"] == "Ingestion job not found"
    assert junk.status_code == 404


@pytest.mark.parametrize("status", ["pending", "running"])
def test_cancel_pending_or_running(client_a, library_a, status):
    job = make_job(library_a, status=status)

    response = client_a.post(f"/tenants/alexandria/ingestion/jobs/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_finished_job_is_409(client_a, library_a, status):
    job = make_job(library_a, status=status)

    response = client_a.post(f"/tenants/alexandria/ingestion/jobs/{job.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "not_cancellable"
    job.refresh_from_db()
    assert job.status == status


def test_cancel_another_tenants_job_is_404_and_changes_nothing(client_b, library_a):
    job = make_job(library_a)

    response = client_b.post(f"/tenants/bodleian/ingestion/jobs/{job.pk}/cancel")

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.status == "pending"


def test_retry_failed_items_makes_a_new_job(client_a, library_a):
    job = make_job(library_a, status="completed", works_failed=2, failed_items=["/works/OL1W", "/works/OL2W"])

    response = client_a.post(f"/tenants/alexandria/ingestion/jobs/{job.pk}/retry")

    assert response.status_code == 202
    body = response.json()
    assert body["kind"] == "keys"
    assert body["open_library_keys"] == ["/works/OL1W", "/works/OL2W"]
    assert response["Location"].endswith(f"/ingestion/jobs/{body['id']}")
    assert IngestionJob.objects.get(pk=body["id"]).retry_of_id == job.pk


def test_retry_of_a_wholly_failed_job_repeats_it(client_a, library_a):
    job = make_job(library_a, status="failed", error="Open Library error: 503")

    response = client_a.post(f"/tenants/alexandria/ingestion/jobs/{job.pk}/retry")

    assert response.status_code == 202
    assert response.json()["query"] == "author:Tolkien"


@pytest.mark.parametrize("status", ["completed", "pending", "running"])
def test_retry_with_nothing_failed_is_409(client_a, library_a, status):
    job = make_job(library_a, status=status)

    response = client_a.post(f"/tenants/alexandria/ingestion/jobs/{job.pk}/retry")

    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_retry"
    assert IngestionJob.objects.count() == 1


def test_logs_filter_by_job_and_level(client_a, library_a, library_b):
    job = make_job(library_a)
    other = make_job(library_a)
    services.log(job, "error", "Work /works/OL1W not found.", "/works/OL1W")
    services.log(job, "info", "Started.")
    services.log(other, "info", "Other job.")
    services.log(make_job(library_b), "error", "Bodleian secret.")

    by_job = client_a.get(f"/tenants/alexandria/ingestion/logs/?job_id={job.pk}")
    errors = client_a.get("/tenants/alexandria/ingestion/logs?level=error")
    bad = client_a.get("/tenants/alexandria/ingestion/logs?level=loud")
    bad_job = client_a.get("/tenants/alexandria/ingestion/logs?job_id=x")

    assert by_job.json()["total"] == 2
    entry = errors.json()["items"][0]
    assert set(entry) == {"id", "job_id", "level", "message", "open_library_key", "created_at"}
    assert entry["job_id"] == str(job.pk) and entry["open_library_key"] == "/works/OL1W"
    assert errors.json()["total"] == 1
    assert "Bodleian" not in errors.content.decode()
    assert bad.status_code == 400 and bad_job.status_code == 400


def test_resync_state_and_start(client_a, library_a):
    empty = client_a.get("/tenants/alexandria/ingestion/resync").json()
    started = client_a.post("/tenants/alexandria/ingestion/resync")
    again = client_a.post("/tenants/alexandria/ingestion/resync/")
    state = client_a.get("/tenants/alexandria/ingestion/resync/").json()

    assert set(empty) == {
        "enabled",
        "interval_hours",
        "last_run_at",
        "next_run_at",
        "tracked_queries",
        "tracked_works",
        "last_job_id",
    }
    assert empty["enabled"] is True and empty["interval_hours"] == 24 and empty["last_job_id"] is None
    assert started.status_code == 202 and started.json()["kind"] == "resync"
    assert again.status_code == 409 and again.json()["code"] == "resync_in_progress"
    assert state["last_job_id"] == started.json()["id"]
    assert state["last_run_at"] is not None and state["next_run_at"] is not None


@pytest.mark.parametrize(
    ("method", "path", "scope_needed"),
    [
        ("post", "/tenants/alexandria/ingestion/", "ingestion:write"),
        ("post", "/tenants/alexandria/ingestion/batch/", "ingestion:write"),
        ("get", "/tenants/alexandria/ingestion/jobs/", "catalog:read"),
        ("get", "/tenants/alexandria/ingestion/logs/", "catalog:read"),
        ("get", "/tenants/alexandria/ingestion/resync", "catalog:read"),
        ("post", "/tenants/alexandria/ingestion/resync", "ingestion:write"),
    ],
)
def test_scopes(api_client, library_a, method, path, scope_needed):
    wrong = ApiKeyFactory(tenant=library_a.tenant, scopes=["submissions:write"])
    right = ApiKeyFactory(tenant=library_a.tenant, scopes=[scope_needed])
    body = {"query": "dune"} if path.endswith("ingestion/") else {"requests": [{"query": "dune"}]}

    denied = getattr(api_client, method)(path, body, format="json", **bearer(wrong.raw))
    allowed = getattr(api_client, method)(path, body, format="json", **bearer(right.raw))

    assert denied.status_code == 403
    assert allowed.status_code in (200, 202)


def test_job_paths_of_another_tenant_are_tenant_not_found(client_b, library_a):
    job = make_job(library_a)
    for method, path in [
        ("get", f"/tenants/alexandria/ingestion/jobs/{job.pk}"),
        ("post", f"/tenants/alexandria/ingestion/jobs/{job.pk}/cancel"),
        ("post", f"/tenants/alexandria/ingestion/jobs/{job.pk}/retry"),
        ("get", "/tenants/alexandria/ingestion/logs"),
        ("post", "/tenants/alexandria/ingestion/resync"),
    ]:
        response = getattr(client_b, method)(path)
        assert response.status_code == 404
        assert response.json()["detail"] == "Tenant not found"
    job.refresh_from_db()
    assert job.status == "pending"
    assert not IngestionLog.objects.exists()


def test_resync_due_respects_interval_and_enabled_flag(
    library_a, library_b, django_capture_on_commit_callbacks
):
    library_b.tenant.resync_enabled = False
    library_b.tenant.save()

    first = services.resync_due_tenants()
    second = services.resync_due_tenants()  # one is still active
    IngestionJob.objects.update(status="completed", created_at=timezone.now() - timedelta(hours=25))
    third = services.resync_due_tenants()

    assert len(first) == 1
    assert IngestionJob.objects.get(pk=first[0]).tenant_id == library_a.tenant.pk
    assert second == []
    assert len(third) == 1
