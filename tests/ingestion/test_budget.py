"""The ingestion budget on every path that creates Open Library work: the API (single, batch,
retry, re-sync), the admin (start form, retry action and button), the scheduled re-sync, and
not the operator's commands; the bound on tracked queries; the floor of the re-sync interval.

Each budget test runs against each rate limit store (the `rate_limits` fixture: the database,
and Redis when TEST_REDIS_URL is set) on a clock the test moves by hand. Library A has 3
ingestion jobs per hour; library B's budget must never move.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from ingestion import services
from ingestion.models import IngestionJob, TrackedQuery
from tenants.models import Membership, Tenant
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = IngestionJob.Status
Kind = IngestionJob.Kind

RATE_LIMITED = {"detail": "Rate limit exceeded", "code": "rate_limited"}
ADD_URL = reverse("admin:ingestion_ingestionjob_add")
JOBS_URL = reverse("admin:ingestion_ingestionjob_changelist")
TRACKED_ADD_URL = reverse("admin:ingestion_trackedquery_add")
USED_UP = "This library has used its 3 ingestion jobs for this hour; try again in 60 minutes."


@pytest.fixture
def budget(rate_limits, settings):
    """3 ingestion jobs per hour for every library; the clock of the limiter."""
    settings.INGESTION_RATE_LIMIT_REQUESTS = 3
    settings.INGESTION_RATE_LIMIT_WINDOW_SECONDS = 3600
    settings.API_RATE_LIMIT_REQUESTS = 1000
    return rate_limits


def ingestion_used(client, slug: str) -> int:
    answer = client.get(f"/tenants/{slug}/rate-limits/")
    assert answer.status_code == 200, answer.content
    return answer.json()["ingestion"]["used"]


def member(tenant: Tenant, role: str, username: str):
    user = UserFactory(username=username, password=None)
    MembershipFactory(tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def librarian_a(library_a):
    return member(library_a.tenant, Membership.Role.LIBRARIAN, "alan")


@pytest.fixture
def admin_a(library_a):
    return member(library_a.tenant, Membership.Role.ADMIN, "ada")


def failed_job(tenant: Tenant, items: list[str]) -> IngestionJob:
    """A finished job whose `items` failed, made without touching the budget."""
    job = IngestionJob.objects.create(
        tenant=tenant, kind=Kind.ISBNS, isbns=items, status=Status.FAILED, finished_at=timezone.now()
    )
    IngestionJob.objects.filter(pk=job.pk).update(works_failed=len(items), failed_items=items)
    job.refresh_from_db()
    return job


def jobs_of(library) -> int:
    return IngestionJob.objects.for_tenant(library.tenant).count()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- The API ------------------------------------------------------------------------------------


def test_api_jobs_use_the_budget_and_the_next_one_is_429(budget, client_a, client_b, library_a, library_b):
    answers = [
        client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": f"q{n}"}, format="json")
        for n in range(3)
    ]
    refused = client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": "one more"}, format="json")

    assert [answer.status_code for answer in answers] == [202] * 3
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert refused["Retry-After"] == "3600"
    assert jobs_of(library_a) == 3
    assert ingestion_used(client_a, library_a.slug) == 3
    assert ingestion_used(client_b, library_b.slug) == 0
    assert (
        client_b.post(f"/tenants/{library_b.slug}/ingestion/", {"query": "q0"}, format="json").status_code
        == 202
    )


@pytest.fixture
def by_size(settings):
    """The operator's opt-in: a job counts as one per 100 works it asks for."""
    settings.INGESTION_BUDGET_WORKS_PER_JOB = 100


def test_by_default_every_job_counts_as_one_whatever_its_size(
    budget, client, client_a, library_a, librarian_a
):
    big = client_a.post(
        f"/tenants/{library_a.slug}/ingestion/", {"query": "dune", "limit": 1000}, format="json"
    )
    keys = [f"OL{n}W" for n in range(1, 1001)]
    many = client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"open_library_keys": keys}, format="json")
    client.force_login(librarian_a)
    admin = client.post(ADD_URL, start_form(library_a.tenant, "\n".join(keys[:300]), kind="keys"))

    assert (big.status_code, many.status_code, admin.status_code) == (202, 202, 302)
    assert ingestion_used(client_a, library_a.slug) == 3
    assert jobs_of(library_a) == 3


def test_a_job_counts_one_per_hundred_works_it_asks_for(budget, by_size, client_a, library_a):
    keys = [f"OL{n}W" for n in range(1, 251)]  # 250 works: 3 jobs' worth, the whole hour

    big = client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"open_library_keys": keys}, format="json")
    small = client_a.post(
        f"/tenants/{library_a.slug}/ingestion/", {"query": "dune", "limit": 50}, format="json"
    )

    assert big.status_code == 202, big.content
    assert ingestion_used(client_a, library_a.slug) == 3
    assert small.status_code == 429
    assert jobs_of(library_a) == 1


def test_a_job_larger_than_the_whole_budget_counts_as_the_whole_budget(budget, by_size, client_a, library_a):
    answer = client_a.post(
        f"/tenants/{library_a.slug}/ingestion/", {"query": "dune", "limit": 1000}, format="json"
    )

    assert answer.status_code == 202
    assert ingestion_used(client_a, library_a.slug) == 3


def test_a_batch_that_does_not_fit_creates_nothing(budget, by_size, client_a, library_a):
    client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": "first"}, format="json")
    batch = {"requests": [{"query": "a"}, {"query": "b", "limit": 150}]}  # 1 + 2 > 2 left

    refused = client_a.post(f"/tenants/{library_a.slug}/ingestion/batch/", batch, format="json")

    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert jobs_of(library_a) == 1
    assert ingestion_used(client_a, library_a.slug) == 1
    assert not TrackedQuery.objects.filter(query__in=["a", "b"]).exists()


def test_api_retries_use_the_budget(budget, client_a, client_b, library_a, library_b):
    failed = [failed_job(library_a.tenant, ["9780618640157"]) for _ in range(4)]
    url = "/tenants/{}/ingestion/jobs/{}/retry"

    answers = [client_a.post(url.format(library_a.slug, job.pk), format="json") for job in failed]

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[3].json() == RATE_LIMITED
    assert IngestionJob.objects.filter(retry_of__in=failed).count() == 3
    assert ingestion_used(client_a, library_a.slug) == 3
    assert ingestion_used(client_b, library_b.slug) == 0


def test_api_resync_uses_the_budget(budget, client_a, client_b, library_a, library_b):
    for n in range(3):
        client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": f"q{n}"}, format="json")

    refused = client_a.post(f"/tenants/{library_a.slug}/ingestion/resync", format="json")
    budget.advance(3601)
    accepted = client_a.post(f"/tenants/{library_a.slug}/ingestion/resync", format="json")

    assert refused.status_code == 429
    assert refused.json() == RATE_LIMITED
    assert accepted.status_code == 202
    assert IngestionJob.objects.filter(kind=Kind.RESYNC).count() == 1
    assert ingestion_used(client_a, library_a.slug) == 1
    assert ingestion_used(client_b, library_b.slug) == 0


# --- The admin ----------------------------------------------------------------------------------


def start_form(tenant: Tenant, what: str, kind: str = "query", limit: int = 50) -> dict:
    return {"tenant": tenant.pk, "kind": kind, "what": what, "limit": limit}


def test_admin_jobs_use_the_budget_and_the_next_is_refused_in_words(
    budget, client, client_a, client_b, library_a, library_b, librarian_a
):
    client.force_login(librarian_a)
    started = [client.post(ADD_URL, start_form(library_a.tenant, f"subject:s{n}")) for n in range(3)]
    budget.advance(60)

    refused = client.post(ADD_URL, start_form(library_a.tenant, "subject:one more"))

    assert [answer.status_code for answer in started] == [302] * 3
    assert ingestion_used(client_a, library_a.slug) == 3
    assert refused.status_code == 200  # the form again, with what the librarian typed
    assert refused.context["adminform"].form.non_field_errors() == [
        "This library has used its 3 ingestion jobs for this hour; try again in 59 minutes."
    ]
    assert "subject:one more" in refused.content.decode()
    assert jobs_of(library_a) == 3
    assert not TrackedQuery.objects.filter(query="subject:one more").exists()
    assert ingestion_used(client_b, library_b.slug) == 0


def test_an_admin_job_of_many_works_counts_as_several(
    budget, by_size, client, client_a, library_a, librarian_a
):
    client.force_login(librarian_a)
    client.post(ADD_URL, start_form(library_a.tenant, "subject:first"))
    keys = "\n".join(f"OL{n}W" for n in range(1, 301))  # 300 works: 3 jobs' worth

    refused = client.post(ADD_URL, start_form(library_a.tenant, keys, kind="keys"))
    budget.advance(3601)
    accepted = client.post(ADD_URL, start_form(library_a.tenant, keys, kind="keys"))

    assert refused.context["adminform"].form.non_field_errors() == [
        "This counts as 3 ingestion jobs and this library has 2 of its 3 left for this hour; "
        "try again in 60 minutes."
    ]
    assert accepted.status_code == 302
    assert ingestion_used(client_a, library_a.slug) == 3


def test_the_admin_retry_action_uses_the_budget(budget, client, client_a, library_a, librarian_a):
    failed = [failed_job(library_a.tenant, ["9780618640157"]) for _ in range(4)]
    client.force_login(librarian_a)

    response = client.post(
        JOBS_URL,
        {"action": "retry_selected", "index": 0, "_selected_action": [job.pk for job in failed]},
        follow=True,
    )

    assert IngestionJob.objects.filter(retry_of__in=failed).count() == 3
    assert ingestion_used(client_a, library_a.slug) == 3
    assert messages_of(response) == ["3 retry job(s) started.", f"{library_a.tenant.name}: {USED_UP}"]


def test_the_admin_retry_button_uses_the_budget(
    budget, client, client_a, client_b, library_a, library_b, librarian_a
):
    failed = [failed_job(library_a.tenant, ["9780618640157"]) for _ in range(4)]
    client.force_login(librarian_a)

    answers = [client.post(reverse("admin:ingestion_job_retry", args=[job.pk])) for job in failed[:3]]
    refused = client.post(reverse("admin:ingestion_job_retry", args=[failed[3].pk]), follow=True)

    assert [answer.status_code for answer in answers] == [302] * 3
    assert IngestionJob.objects.filter(retry_of__in=failed).count() == 3
    assert not IngestionJob.objects.filter(retry_of=failed[3]).exists()
    assert USED_UP in messages_of(refused)
    assert ingestion_used(client_a, library_a.slug) == 3
    assert ingestion_used(client_b, library_b.slug) == 0


# --- The scheduled re-sync and the operator's commands -----------------------------------------


def test_a_scheduled_resync_over_budget_is_skipped_and_tried_next_round(
    budget, client_a, client_b, library_a, library_b, caplog
):
    for n in range(3):
        client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": f"q{n}"}, format="json")

    with caplog.at_level(logging.WARNING, logger="ingestion.services"):
        first_round = services.resync_due_tenants()
    used_after_first_round = (
        ingestion_used(client_a, library_a.slug),
        ingestion_used(client_b, library_b.slug),
    )
    budget.advance(3601)
    next_round = services.resync_due_tenants()

    resyncs = IngestionJob.objects.filter(kind=Kind.RESYNC)
    # Library B had its budget and was re-synced at once; A only once its hour had passed.
    assert first_round == [resyncs.get(tenant=library_b.tenant).pk]
    assert next_round == [resyncs.get(tenant=library_a.tenant).pk]
    assert any(
        "scheduled re-sync of alexandria skipped" in record.getMessage()
        and "next round" in record.getMessage()
        for record in caplog.records
    )
    assert used_after_first_round == (3, 1)
    assert ingestion_used(client_a, library_a.slug) == 1


def test_operator_commands_are_not_charged(budget, client_a, library_a):
    for n in range(3):
        client_a.post(f"/tenants/{library_a.slug}/ingestion/", {"query": f"q{n}"}, format="json")

    call_command("ingest", "--tenant", library_a.slug, "--keys", "OL1W", "OL2W")
    call_command("resync", "--tenant", library_a.slug)

    assert (
        IngestionJob.objects.filter(tenant=library_a.tenant, kind__in=[Kind.KEYS, Kind.RESYNC]).count() == 2
    )
    assert ingestion_used(client_a, library_a.slug) == 3


# --- Tracked queries ---------------------------------------------------------------------------


@pytest.fixture
def two_tracked(settings):
    settings.MAX_TRACKED_QUERIES_PER_LIBRARY = 2


def test_a_query_job_past_the_tracked_query_bound_is_refused(
    two_tracked, client_a, client_b, library_a, library_b
):
    url = f"/tenants/{library_a.slug}/ingestion/"
    answers = [
        client_a.post(url, {"query": query}, format="json") for query in ("author:Le Guin", "subject:dune")
    ]

    refused = client_a.post(url, {"query": "title:hobbit"}, format="json")
    again = client_a.post(
        url, {"query": "subject:dune"}, format="json"
    )  # tracked already: no new place needed
    batch = client_a.post(
        f"{url}batch/", {"requests": [{"open_library_keys": ["OL1W"]}, {"query": "x"}]}, format="json"
    )

    assert [answer.status_code for answer in answers] == [202, 202]
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "This library already tracks 2 queries, the most it may (every re-sync runs each of them "
        "again); delete one under Tracked queries in the admin before ingesting a new search.",
        "code": "too_many_tracked_queries",
    }
    assert again.status_code == 202
    assert batch.status_code == 409
    assert jobs_of(library_a) == 3
    assert TrackedQuery.objects.for_tenant(library_a.tenant).count() == 2
    # Library B has its own places.
    assert (
        client_b.post(
            f"/tenants/{library_b.slug}/ingestion/", {"query": "title:hobbit"}, format="json"
        ).status_code
        == 202
    )


def test_the_admin_refuses_a_tracked_query_past_the_bound(two_tracked, client, library_a, library_b, admin_a):
    for query in ("author:Le Guin", "subject:dune"):
        TrackedQuery.objects.create(tenant=library_a.tenant, query=query)
    TrackedQuery.objects.create(tenant=library_b.tenant, query="subject:b")
    client.force_login(admin_a)

    added = client.post(
        TRACKED_ADD_URL, {"tenant": library_a.tenant.pk, "query": "title:hobbit", "limit": 50}
    )
    started = client.post(ADD_URL, start_form(library_a.tenant, "title:hobbit"))

    for response in (added, started):
        assert response.status_code == 200
        assert response.context["adminform"].form.non_field_errors() == [
            "This library already tracks 2 queries, the most it may (every re-sync runs each of them "
            "again); delete one under Tracked queries in the admin before ingesting a new search."
        ]
    assert TrackedQuery.objects.for_tenant(library_a.tenant).count() == 2
    assert jobs_of(library_a) == 0


def test_the_ingest_command_refuses_a_tracked_query_past_the_bound(two_tracked, library_a):
    from django.core.management.base import CommandError

    for query in ("author:Le Guin", "subject:dune"):
        TrackedQuery.objects.create(tenant=library_a.tenant, query=query)

    with pytest.raises(CommandError, match="already tracks 2 queries"):
        call_command("ingest", "--tenant", library_a.slug, "--query", "title:hobbit")
    assert jobs_of(library_a) == 0


# --- The re-sync interval's floor ----------------------------------------------------------------


def tenant_form(tenant: Tenant, **changes) -> dict:
    data = {"name": tenant.name, "resync_enabled": "on", "resync_interval_hours": ""}
    data.update(changes)
    return data


def test_a_library_admin_cannot_set_a_resync_interval_under_the_floor(client, client_a, library_a, admin_a):
    client.force_login(admin_a)
    url = reverse("admin:tenants_tenant_change", args=[library_a.tenant.pk])

    refused = client.post(url, tenant_form(library_a.tenant, resync_interval_hours=1))
    library_a.tenant.refresh_from_db()
    interval_after_refusal = library_a.tenant.resync_interval_hours
    accepted = client.post(url, tenant_form(library_a.tenant, resync_interval_hours=6))
    library_a.tenant.refresh_from_db()

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["resync_interval_hours"] == [
        "A re-sync may run at most every 6 hours (RE_SYNC_MIN_INTERVAL_HOURS); enter 6 or more, or leave "
        "it empty for the deployment's 24 hours."
    ]
    assert interval_after_refusal is None
    assert accepted.status_code == 302
    assert library_a.tenant.resync_interval_hours == 6


def test_an_interval_stored_under_the_floor_is_raised_to_it(client_a, library_a, library_b):
    Tenant.objects.filter(pk=library_a.tenant.pk).update(resync_interval_hours=1)
    services.resync_due_tenants()  # the first re-sync of each library
    IngestionJob.objects.filter(kind=Kind.RESYNC).update(
        status=Status.COMPLETED, created_at=timezone.now() - timedelta(hours=2)
    )

    state = client_a.get(f"/tenants/{library_a.slug}/ingestion/resync").json()
    started = services.resync_due_tenants()

    assert state["interval_hours"] == 6
    assert started == []  # two hours ago is within the six-hour floor
