"""GET /tenants/{slug}/books/{id}, its versions, one version's snapshot and diffs of two versions."""

from datetime import datetime

import pytest

from catalog.models import CONTENT_FIELDS, Book
from tests.catalog.conftest import author, link_rels

pytestmark = pytest.mark.django_db

BOOK_FIELDS = {
    "id",
    "open_library_key",
    "title",
    "authors",
    "first_publish_year",
    "cover_url",
    "current_version",
    "updated_at",
    "subtitle",
    "description",
    "subjects",
    "isbns",
    "languages",
    "edition_count",
    "cover_id",
    "created_at",
    "last_synced_at",
    "versions",
}
VERSION_FIELDS = {"version", "created_at", "changed_fields", "source"}
BOOK_NOT_FOUND = {"detail": "Book not found", "code": "not_found"}
VERSION_NOT_FOUND = {"detail": "Version not found", "code": "not_found"}
TOLKIEN = author("J. R. R. Tolkien", 26320)
ALAN_LEE = author("Alan Lee", 1234)

V1 = {
    "title": "The Hobbit",
    "subtitle": None,
    "description": "A children's book.",
    "authors": [TOLKIEN],
    "subjects": ["Fantasy", "Dragons"],
    "languages": ["eng"],
    "first_publish_year": 1936,
    "cover_id": 14627509,
    "isbns": ["9780618640157"],
    "edition_count": 1,
}
V2_CHANGES = {
    "title": "The Hobbit, or There and Back Again",
    "description": "A fantasy novel.",
    "authors": [TOLKIEN, ALAN_LEE],
    "subjects": ["Fantasy", "Wizards"],
    "first_publish_year": 1937,
    "isbns": ["9780261103252", "9780618640157"],
}
V3_CHANGES = {"edition_count": 120}


def book_url(book_id, slug: str = "alexandria") -> str:
    return f"/tenants/{slug}/books/{book_id}"


def timestamp(value: str) -> datetime:
    assert value.endswith(("Z", "+00:00")), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset().total_seconds() == 0
    return moment


@pytest.fixture
def hobbit(library_a, make_book, revise_book) -> Book:
    """Three versions: the first ingestion, an upstream edit of six fields, an edition count change."""
    fields = {key: value for key, value in V1.items() if key != "title"}
    book = make_book(library_a.tenant, V1["title"], key="/works/OL27482W", **fields)
    book = revise_book(book, **V2_CHANGES)
    book = revise_book(book, **V3_CHANGES)
    assert book.current_version == 3
    return book


# --- Detail ---------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_detail_has_exactly_the_book_fields(client_a, hobbit, slash):
    response = client_a.get(book_url(hobbit.pk) + slash)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == BOOK_FIELDS
    assert body["id"] == str(hobbit.pk)
    assert body["open_library_key"] == "/works/OL27482W"
    assert body["title"] == "The Hobbit, or There and Back Again"
    assert body["subtitle"] is None
    assert body["description"] == "A fantasy novel."
    assert body["authors"] == [TOLKIEN, ALAN_LEE]
    assert body["subjects"] == ["Fantasy", "Wizards"]
    assert body["isbns"] == ["9780261103252", "9780618640157"]
    assert body["languages"] == ["eng"]
    assert body["first_publish_year"] == 1937
    assert body["edition_count"] == 120
    assert body["cover_id"] == 14627509
    assert body["cover_url"] == "https://covers.openlibrary.org/b/id/14627509-M.jpg"
    assert body["current_version"] == 3
    created, updated, synced = (
        timestamp(body[field]) for field in ("created_at", "updated_at", "last_synced_at")
    )
    assert created <= updated <= synced


def test_detail_lists_the_versions_newest_first(client_a, hobbit):
    versions = client_a.get(book_url(hobbit.pk)).json()["versions"]

    assert [version["version"] for version in versions] == [3, 2, 1]
    assert all(set(version) == VERSION_FIELDS for version in versions)
    assert [version["changed_fields"] for version in versions] == [
        ["edition_count"],
        # In CONTENT_FIELDS order, not the order of the edit.
        ["title", "description", "authors", "subjects", "first_publish_year", "isbns"],
        [
            "title",
            "description",
            "authors",
            "subjects",
            "languages",
            "first_publish_year",
            "cover_id",
            "isbns",
            "edition_count",
        ],  # the first version: every field with a value
    ]
    assert {version["source"] for version in versions} == {"ingestion"}
    times = [timestamp(version["created_at"]) for version in versions]
    assert times == sorted(times, reverse=True)


def test_detail_of_a_book_with_empty_text_fields(client_a, library_a, make_book):
    book = make_book(library_a.tenant, "Untitled Notes", languages=[], edition_count=0)

    body = client_a.get(book_url(book.pk)).json()

    assert body["subtitle"] is None and body["description"] is None
    assert body["subjects"] == [] and body["isbns"] == [] and body["languages"] == []
    assert body["authors"] == [] and body["cover_id"] is None and body["cover_url"] is None
    assert body["first_publish_year"] is None and body["edition_count"] == 0
    assert [version["version"] for version in body["versions"]] == [1]


def test_an_unchanged_reingest_makes_no_version(client_a, hobbit, revise_book):
    before = client_a.get(book_url(hobbit.pk)).json()

    revise_book(hobbit)

    after = client_a.get(book_url(hobbit.pk)).json()
    assert after["current_version"] == 3
    assert after["versions"] == before["versions"]
    assert after["updated_at"] == before["updated_at"]
    assert timestamp(after["last_synced_at"]) >= timestamp(before["last_synced_at"])


@pytest.mark.parametrize(
    "book_id",
    [
        "999999",
        "0",
        "-1",
        "abc",
        "1.0",
        "1e3",
        "\uff11",
        "٣",
        "9" * 18,
        "9" * 19,
        "9" * 40,
        "%20",
        "search-me",
        "1;2",
    ],
)
def test_unknown_or_malformed_book_id_is_404(client_a, hobbit, book_id):
    response = client_a.get(book_url(book_id))

    assert response.status_code == 404
    assert response.json() == BOOK_NOT_FOUND


def test_another_librarys_book_is_404_book_not_found(client_a, client_b, library_b, hobbit, make_book):
    theirs = make_book(library_b.tenant, "Their Book")

    response = client_a.get(book_url(theirs.pk))

    assert response.status_code == 404
    assert response.json() == BOOK_NOT_FOUND
    assert client_b.get(book_url(hobbit.pk, "bodleian")).json() == BOOK_NOT_FOUND
    assert client_b.get(book_url(theirs.pk, "bodleian")).status_code == 200


# The key (with its library), the book, its versions: however many versions it has.
DETAIL_QUERIES = 3


@pytest.mark.parametrize("versions", [1, 2, 12])
def test_detail_query_count_does_not_depend_on_versions(
    client_a, library_a, make_book, revise_book, warm, django_assert_num_queries, versions
):
    book = make_book(library_a.tenant, "Draft", authors=[TOLKIEN], subjects=["Drafts"])
    for edition_count in range(2, versions + 1):
        book = revise_book(book, edition_count=edition_count)
    warm()

    with django_assert_num_queries(DETAIL_QUERIES):
        response = client_a.get(book_url(book.pk))

    assert len(response.json()["versions"]) == versions


# --- Versions -------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_versions_list_is_an_envelope_newest_first(client_a, hobbit, slash):
    response = client_a.get(f"{book_url(hobbit.pk)}/versions{slash}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "total", "next", "previous"}
    assert body["total"] == 3 and response["X-Total-Count"] == "3"
    assert [item["version"] for item in body["items"]] == [3, 2, 1]
    assert all(set(item) == VERSION_FIELDS for item in body["items"])
    assert body["items"][0]["changed_fields"] == ["edition_count"]
    assert body["next"] is None and body["previous"] is None
    assert set(link_rels(response)) == {"first"}


def test_versions_list_pages(client_a, hobbit):
    response = client_a.get(f"{book_url(hobbit.pk)}/versions/", {"limit": 2})

    body = response.json()
    assert [item["version"] for item in body["items"]] == [3, 2]
    assert link_rels(response)["next"] == body["next"]
    second = client_a.get(body["next"]).json()
    assert [item["version"] for item in second["items"]] == [1]
    assert second["next"] is None and second["previous"] is not None


def test_versions_list_matches_the_detail(client_a, hobbit):
    detail = client_a.get(book_url(hobbit.pk)).json()

    listed = client_a.get(f"{book_url(hobbit.pk)}/versions/").json()["items"]

    assert listed == detail["versions"]


@pytest.mark.parametrize("number", [1, 2, 3])
def test_a_version_is_the_full_snapshot_of_its_time(client_a, hobbit, number):
    expected = {
        1: V1,
        2: {**V1, **V2_CHANGES},
        3: {**V1, **V2_CHANGES, **V3_CHANGES},
    }[number]

    response = client_a.get(f"{book_url(hobbit.pk)}/versions/{number}")

    assert response.status_code == 200
    body = response.json()
    assert body["book_id"] == str(hobbit.pk)
    assert body["version"] == number
    assert body["source"] == "ingestion"
    assert body["job_id"] is None
    timestamp(body["created_at"])
    assert list(body["snapshot"]) == list(CONTENT_FIELDS)
    assert body["snapshot"] == expected


def test_a_version_answers_with_a_trailing_slash(client_a, hobbit):
    response = client_a.get(f"{book_url(hobbit.pk)}/versions/2/")

    assert response.status_code == 200 and response.json()["version"] == 2


@pytest.mark.parametrize(
    "number", ["4", "99", "0", "-1", "abc", "1.5", "1e0", "\uff19", "3000000000", "9" * 18, "9" * 30]
)
def test_an_unknown_version_is_404(client_a, hobbit, number):
    response = client_a.get(f"{book_url(hobbit.pk)}/versions/{number}")

    assert response.status_code == 404
    assert response.json() == VERSION_NOT_FOUND


@pytest.mark.parametrize("path", ["/versions/", "/versions/1", "/versions/1/diff/2"])
def test_versions_of_an_unknown_book_are_404_book_not_found(client_a, hobbit, path):
    response = client_a.get(book_url(999999) + path)

    assert response.status_code == 404
    assert response.json() == BOOK_NOT_FOUND


# --- Diffs ----------------------------------------------------------------------------


def diff(client, book: Book, a, b, slash: str = ""):
    return client.get(f"{book_url(book.pk)}/versions/{a}/diff/{b}{slash}")


@pytest.mark.parametrize("slash", ["", "/"])
def test_diff_shows_scalar_and_list_changes_only(client_a, hobbit, slash):
    response = diff(client_a, hobbit, 1, 2, slash)

    assert response.status_code == 200
    assert response.json() == {
        "book_id": str(hobbit.pk),
        "from_version": 1,
        "to_version": 2,
        "changes": {
            "title": {"old": "The Hobbit", "new": "The Hobbit, or There and Back Again"},
            "description": {"old": "A children's book.", "new": "A fantasy novel."},
            "first_publish_year": {"old": 1936, "new": 1937},
            "subjects": {
                "old": ["Fantasy", "Dragons"],
                "new": ["Fantasy", "Wizards"],
                "added": ["Wizards"],
                "removed": ["Dragons"],
            },
            "isbns": {
                "old": ["9780618640157"],
                "new": ["9780261103252", "9780618640157"],
                "added": ["9780261103252"],
                "removed": [],
            },
            "authors": {
                "old": [TOLKIEN],
                "new": [TOLKIEN, ALAN_LEE],
                "added": [ALAN_LEE],
                "removed": [],
            },
        },
    }


def test_diff_leaves_out_unchanged_fields(client_a, hobbit):
    changes = diff(client_a, hobbit, 2, 3).json()["changes"]

    assert changes == {"edition_count": {"old": 1, "new": 120}}


def test_diff_in_reverse_swaps_old_and_new(client_a, hobbit):
    body = diff(client_a, hobbit, 2, 1).json()

    assert body["from_version"] == 2 and body["to_version"] == 1
    changes = body["changes"]
    assert set(changes) == {"title", "description", "first_publish_year", "subjects", "isbns", "authors"}
    assert changes["title"] == {"old": "The Hobbit, or There and Back Again", "new": "The Hobbit"}
    assert changes["first_publish_year"] == {"old": 1937, "new": 1936}
    assert changes["subjects"]["added"] == ["Dragons"] and changes["subjects"]["removed"] == ["Wizards"]
    assert changes["authors"]["added"] == [] and changes["authors"]["removed"] == [ALAN_LEE]
    assert changes["isbns"]["removed"] == ["9780261103252"]


def test_diff_across_several_versions(client_a, hobbit):
    changes = diff(client_a, hobbit, 1, 3).json()["changes"]

    assert set(changes) == {
        "title",
        "description",
        "first_publish_year",
        "subjects",
        "isbns",
        "authors",
        "edition_count",
    }
    assert changes["edition_count"] == {"old": 1, "new": 120}


@pytest.mark.parametrize("number", [1, 2, 3])
def test_diff_of_a_version_with_itself_is_empty(client_a, hobbit, number):
    assert diff(client_a, hobbit, number, number).json() == {
        "book_id": str(hobbit.pk),
        "from_version": number,
        "to_version": number,
        "changes": {},
    }


def test_diff_of_a_field_set_or_cleared(client_a, library_a, make_book, revise_book):
    book = make_book(library_a.tenant, "Notes", subtitle=None, description="Draft")
    revise_book(book, subtitle="A Study", description=None, subjects=["Essays"])

    changes = diff(client_a, book, 1, 2).json()["changes"]

    assert changes == {
        "subtitle": {"old": None, "new": "A Study"},
        "description": {"old": "Draft", "new": None},
        "subjects": {"old": [], "new": ["Essays"], "added": ["Essays"], "removed": []},
    }


@pytest.mark.parametrize(
    ("a", "b"), [(1, 4), (4, 1), (0, 1), (1, 0), ("x", 1), (1, "-1"), (9, 9), ("1.0", 2), (1, "9" * 18)]
)
def test_diff_with_an_unknown_version_is_404(client_a, hobbit, a, b):
    response = diff(client_a, hobbit, a, b)

    assert response.status_code == 404
    assert response.json() == VERSION_NOT_FOUND


def test_diff_matches_the_snapshots(client_a, hobbit):
    """Every reported change is what the two snapshots hold, and nothing else differs."""
    old = client_a.get(f"{book_url(hobbit.pk)}/versions/1").json()["snapshot"]
    new = client_a.get(f"{book_url(hobbit.pk)}/versions/3").json()["snapshot"]

    changes = diff(client_a, hobbit, 1, 3).json()["changes"]

    for field in CONTENT_FIELDS:
        if old[field] == new[field]:
            assert field not in changes
        else:
            assert changes[field]["old"] == old[field] and changes[field]["new"] == new[field]


def test_versions_list_query_count(client_a, hobbit, warm, django_assert_num_queries):
    warm()
    # The key (with its library), the book, COUNT(*), the page.
    with django_assert_num_queries(4):
        response = client_a.get(f"{book_url(hobbit.pk)}/versions/")

    assert [item["version"] for item in response.json()["items"]] == [3, 2, 1]


def test_version_and_diff_query_counts(client_a, hobbit, warm, django_assert_num_queries):
    warm()
    # The key (with its library), the book, the version(s): one query for both versions of a diff.
    with django_assert_num_queries(3):
        assert client_a.get(f"{book_url(hobbit.pk)}/versions/2").status_code == 200
    with django_assert_num_queries(3):
        assert diff(client_a, hobbit, 1, 3).status_code == 200
