"""Two full libraries side by side: neither can reach, count or even glimpse the other's data.

Both libraries hold several objects of every kind (books with two versions each, ingestion jobs
in every state that has an action, their logs and tracked queries, API keys, patrons and their
submissions). In both directions:

- every detail and action endpoint, on the caller's own URL but with the other library's ids,
  is a 404, and changes nothing;
- every list answers exactly the caller's own objects (ids, `total`, `X-Total-Count`), also when
  filtered or searched by the other library's words or ids;
- no answer holds any of the other library's canaries (its name, slug, canary word, titles,
  work keys, key names and prefixes, masked emails).
"""

from __future__ import annotations

import pytest

from ingestion.models import IngestionLog, TrackedQuery
from tests.security.conftest import Seeded

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["a sees b", "b sees a"])
def pair(request, seeded_a, seeded_b) -> tuple[Seeded, Seeded]:
    """(viewer, other): the matrix runs in both directions."""
    return (seeded_a, seeded_b) if request.param == "a sees b" else (seeded_b, seeded_a)


def foreign_requests(own: str, other: Seeded) -> list[tuple[str, str]]:
    """Every detail and action endpoint, on the caller's library `own`, with the other's ids."""
    calls = [("get", f"/tenants/{own}/api-keys/{key}") for key in other.ids("keys")]
    calls += [("delete", f"/tenants/{own}/api-keys/{key}") for key in other.ids("keys")]
    for book in other.ids("books"):
        calls += [
            ("get", f"/tenants/{own}/books/{book}"),
            ("get", f"/tenants/{own}/books/{book}/versions/"),
            ("get", f"/tenants/{own}/books/{book}/versions/1"),
            ("get", f"/tenants/{own}/books/{book}/versions/2/"),
            ("get", f"/tenants/{own}/books/{book}/versions/1/diff/2"),
        ]
    for job in other.ids("jobs"):
        calls += [
            ("get", f"/tenants/{own}/ingestion/jobs/{job}"),
            ("post", f"/tenants/{own}/ingestion/jobs/{job}/cancel"),
            ("post", f"/tenants/{own}/ingestion/jobs/{job}/retry/"),
        ]
    calls += [("get", f"/tenants/{own}/submissions/{sub}") for sub in other.ids("submissions")]
    calls += [("get", f"/tenants/{own}/patrons/{patron}") for patron in other.ids("patrons")]
    calls += [("delete", f"/tenants/{own}/patrons/{patron}/") for patron in other.ids("patrons")]
    return calls


def test_the_other_librarys_ids_are_404_everywhere_and_change_nothing(pair):
    viewer, other = pair
    client = viewer.client()
    before = (viewer.state(), other.state())
    wrong = []

    calls = foreign_requests(viewer.slug, other)
    for method, path in calls:
        response = getattr(client, method)(path)
        if response.status_code != 404 or response.json()["code"] != "not_found":
            wrong.append((method, path, response.status_code, response.content[:200]))

    assert wrong == []
    assert len(calls) == 38  # 6 on keys, 15 on books and versions, 9 on jobs, 8 on patrons' data
    assert (viewer.state(), other.state()) == before


def test_the_other_librarys_key_is_404_on_this_librarys_objects(pair):
    """The other direction of the same door: the other library's key on this library's URL."""
    viewer, other = pair
    intruder = other.client()
    before = viewer.state()

    for method, path in foreign_requests(viewer.slug, viewer):
        response = getattr(intruder, method)(path)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json() == {"detail": "Tenant not found", "code": "not_found"}

    assert viewer.state() == before


def listed_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(body["items"]) == int(response["X-Total-Count"])
    return sorted(item["id"] for item in body["items"])


def test_every_list_holds_exactly_the_callers_own_objects(pair):
    viewer, _ = pair
    client, own = viewer.client(), f"/tenants/{viewer.slug}"
    tenant = viewer.library.tenant

    assert listed_ids(client.get(f"{own}/api-keys/")) == viewer.ids("keys")
    assert listed_ids(client.get(f"{own}/books/")) == viewer.ids("books")
    assert listed_ids(client.get(f"{own}/books/?limit=100&ordering=-title")) == viewer.ids("books")
    assert listed_ids(client.get(f"{own}/books/search?q=codex")) == viewer.ids("books")
    for book in viewer.ids("books"):
        versions = client.get(f"{own}/books/{book}/versions/").json()
        assert [v["version"] for v in versions["items"]] == [2, 1]
    assert listed_ids(client.get(f"{own}/ingestion/jobs/")) == viewer.ids("jobs")
    logs = client.get(f"{own}/ingestion/logs/?limit=100").json()
    assert logs["total"] == IngestionLog.objects.for_tenant(tenant).count() >= 3
    assert {log["job_id"] for log in logs["items"]} == set(viewer.ids("jobs"))
    assert listed_ids(client.get(f"{own}/submissions/")) == viewer.ids("submissions")
    patrons = client.get(f"{own}/patrons/").json()["items"]
    assert sorted(p["id"] for p in patrons) == viewer.ids("patrons")
    assert [p["submission_count"] for p in patrons] == [2, 2]
    resync = client.get(f"{own}/ingestion/resync").json()
    assert (
        resync["tracked_queries"] == viewer.tracked_queries == TrackedQuery.objects.for_tenant(tenant).count()
    )
    assert resync["tracked_works"] == len(viewer.books)
    assert [t["slug"] for t in client.get("/tenants/").json()["items"]] == [viewer.slug]


def test_filters_and_search_by_the_other_librarys_words_and_ids_find_nothing(pair):
    viewer, other = pair
    client, own = viewer.client(), f"/tenants/{viewer.slug}"
    other_book = other.books[0]
    nothing = [
        f"{own}/books/search?q={other.word}",
        f"{own}/books/search?q={other_book.title}",
        f"{own}/books/search?q={other_book.open_library_key}",
        f"{own}/books/?subject={other.word} studies",
        f"{own}/ingestion/logs/?job_id={other.ids('jobs')[0]}",
        *(f"{own}/submissions/?patron_id={patron}" for patron in other.ids("patrons")),
    ]

    for path in nothing:
        assert listed_ids(client.get(path)) == [], path
    # The same searches in the other library do find its data: the words are real.
    assert listed_ids(other.client().get(f"/tenants/{other.slug}/books/search?q={other.word}")) == other.ids(
        "books"
    )


def test_no_answer_holds_the_other_librarys_canaries(pair):
    viewer, other = pair
    client, own = viewer.client(), f"/tenants/{viewer.slug}"
    paths = [
        "/tenants/",
        own,
        f"{own}/api-keys/",
        f"{own}/rate-limits/",
        f"{own}/books/?limit=100",
        f"{own}/books/search?q=codex",
        f"{own}/ingestion/jobs/?limit=100",
        f"{own}/ingestion/logs/?limit=100",
        f"{own}/ingestion/resync",
        f"{own}/submissions/?limit=100",
        f"{own}/patrons/?limit=100",
    ]
    for kind, template in (
        ("keys", "api-keys/{}"),
        ("jobs", "ingestion/jobs/{}"),
        ("submissions", "submissions/{}"),
        ("patrons", "patrons/{}"),
    ):
        paths += [f"{own}/{template.format(pk)}" for pk in viewer.ids(kind)]
    for book in viewer.ids("books"):
        paths += [
            f"{own}/books/{book}",
            f"{own}/books/{book}/versions/",
            f"{own}/books/{book}/versions/1/diff/2",
        ]
    paths += [
        path for _, path in foreign_requests(viewer.slug, other) if not path.endswith(("cancel", "retry/"))
    ]
    needles = other.canaries()
    own_words = viewer.canaries()

    bodies = {path: client.get(path).content.decode().lower() for path in paths}

    assert [(path, needle) for path, body in bodies.items() for needle in needles if needle in body] == []
    # The scan reads real answers: the caller's own canaries are there.
    assert all(any(word in body for body in bodies.values()) for word in own_words)
