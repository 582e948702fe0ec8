"""GET /tenants/{slug}/books/: envelope, BookSummary, limits, orderings, keyset cursors, filters."""

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from catalog.models import Book
from tests.catalog.conftest import author, item_ids, link_rels, set_updated_at

pytestmark = pytest.mark.django_db

BOOKS = "/tenants/alexandria/books/"
SUMMARY_FIELDS = {
    "id",
    "open_library_key",
    "title",
    "authors",
    "first_publish_year",
    "cover_url",
    "current_version",
    "updated_at",
}
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)

# (title, first_publish_year, minutes after BASE_TIME for updated_at), created in this order.
SHELF = [
    ("zebra Crossing", 1990, 5),  # 0
    ("Émile", 1762, 1),  # 1: sorts with "e", not after "z"
    ("apple Pie", None, 9),  # 2
    ("Banana Split", 1990, 5),  # 3: same year and same updated_at as 0
    ("echo Park", -750, 0),  # 4: a year before the common era
    ("Ångström Units", 2001, 7),  # 5: sorts with "a"
    ("delta Force", None, 3),  # 6
    ("Dune", 1965, 2),  # 7
    ("DUNE", 1965, 8),  # 8: the same title as 7 once case is ignored
    ("Fable", 1800, 4),  # 9
]
# Expected orders, as indexes into SHELF; ties go by creation (id) in the sort's direction.
EXPECTED = {
    "title": [5, 2, 3, 6, 7, 8, 4, 1, 9, 0],
    "-title": [0, 9, 1, 4, 8, 7, 6, 3, 2, 5],
    # An unknown year sorts before every known year, BCE years included.
    "first_publish_year": [2, 6, 4, 1, 9, 7, 8, 0, 3, 5],
    "-first_publish_year": [5, 3, 0, 8, 7, 9, 1, 4, 6, 2],
    "updated_at": [4, 1, 7, 6, 9, 0, 3, 5, 8, 2],
    "-updated_at": [2, 8, 5, 3, 0, 9, 6, 7, 1, 4],
}
ORDERINGS = list(EXPECTED)


@pytest.fixture
def shelf(library_a, make_book) -> list[Book]:
    books = []
    for title, year, minutes in SHELF:
        book = make_book(library_a.tenant, title, first_publish_year=year)
        set_updated_at(book, BASE_TIME + timedelta(minutes=minutes))
        books.append(book)
    return books


def expected_ids(shelf: list[Book], ordering: str) -> list[str]:
    return [str(shelf[index].pk) for index in EXPECTED[ordering]]


def walk(client, url: str, direction: str = "next") -> list[list[str]]:
    """Every page from `url` on, following the body's `next` (or `previous`) links."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        rels = link_rels(response)
        assert rels.get("next") == body["next"]
        assert rels.get("prev") == body["previous"]
        url = body[direction]
        assert len(pages) < 100, "the links loop"
    return pages


def cursor_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["cursor"][0]


def forge(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def assert_400(response, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert isinstance(body["detail"], str) and body["detail"]
    assert list(body["errors"]) == [field]
    assert body["errors"][field] and all(isinstance(message, str) for message in body["errors"][field])


# --- Envelope and headers -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tenants/alexandria/books/", "/tenants/alexandria/books"])
def test_envelope_and_headers_with_and_without_trailing_slash(client_a, library_a, make_book, path):
    books = [make_book(library_a.tenant, title) for title in ("Beta", "Alpha", "Gamma")]

    response = client_a.get(path)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "total", "next", "previous"}
    assert body["total"] == 3
    assert body["next"] is None and body["previous"] is None
    assert item_ids(response) == [str(books[1].pk), str(books[0].pk), str(books[2].pk)]
    assert response["X-Total-Count"] == "3"
    rels = link_rels(response)
    assert set(rels) == {"first"}
    assert urlparse(rels["first"]).path == path


def test_empty_catalog_is_an_empty_envelope(client_a, library_a):
    response = client_a.get(BOOKS)

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "next": None, "previous": None}
    assert response["X-Total-Count"] == "0"
    assert set(link_rels(response)) == {"first"}


def test_link_header_has_first_next_and_prev_matching_the_body(client_a, shelf):
    response = client_a.get(BOOKS, {"limit": 3, "offset": 3, "ordering": "title"})

    body = response.json()
    assert item_ids(response) == expected_ids(shelf, "title")[3:6]
    assert body["total"] == 10 and response["X-Total-Count"] == "10"
    rels = link_rels(response)
    assert set(rels) == {"first", "next", "prev"}
    assert rels["next"] == body["next"] and rels["prev"] == body["previous"]
    first = parse_qs(urlparse(rels["first"]).query)
    assert first == {"limit": ["3"], "ordering": ["title"]}  # no offset, no cursor
    assert item_ids(client_a.get(rels["first"])) == expected_ids(shelf, "title")[:3]
    assert item_ids(client_a.get(rels["next"])) == expected_ids(shelf, "title")[6:9]
    assert item_ids(client_a.get(rels["prev"])) == expected_ids(shelf, "title")[:3]


def test_links_are_absolute_urls_of_the_same_endpoint(client_a, shelf):
    body = client_a.get(BOOKS, {"limit": 4}).json()

    parsed = urlparse(body["next"])
    assert parsed.scheme == "http" and parsed.netloc == "testserver"
    assert parsed.path == BOOKS


def test_a_browser_gets_the_browsable_api_with_the_filter_form(client_a, shelf):
    response = client_a.get(BOOKS, {"subject": "fantasy"}, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Filter books" in response.content.decode()


# --- BookSummary ----------------------------------------------------------------------


def test_book_summary_has_exactly_the_contract_fields(client_a, library_a, make_book, revise_book):
    tolkien, tolkien_son = author("J. R. R. Tolkien", 26320), author("Christopher Tolkien", 656)
    book = make_book(
        library_a.tenant,
        "The Silmarillion",
        key="/works/OL27203W",
        authors=[tolkien, tolkien_son],
        first_publish_year=1977,
        cover_id=14627509,
        subjects=["Fantasy"],
        isbns=["9780618391110"],
    )
    book = revise_book(book, edition_count=3)  # version 2
    set_updated_at(book, datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))

    [summary] = client_a.get(BOOKS).json()["items"]

    assert set(summary) == SUMMARY_FIELDS
    assert summary["id"] == str(book.pk)
    assert summary["open_library_key"] == "/works/OL27203W"
    assert summary["title"] == "The Silmarillion"
    assert summary["authors"] == [tolkien, tolkien_son]
    assert summary["first_publish_year"] == 1977
    assert summary["cover_url"] == "https://covers.openlibrary.org/b/id/14627509-M.jpg"
    assert summary["current_version"] == 2
    assert summary["updated_at"].endswith(("Z", "+00:00"))
    assert datetime.fromisoformat(summary["updated_at"]) == datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


@pytest.mark.parametrize("cover_id", [None, -1, 0])
def test_cover_url_is_null_without_a_cover(client_a, library_a, make_book, cover_id):
    make_book(library_a.tenant, "No Cover", cover_id=cover_id)

    [summary] = client_a.get(BOOKS).json()["items"]

    assert summary["cover_url"] is None
    assert summary["first_publish_year"] is None
    assert summary["authors"] == []
    assert summary["current_version"] == 1


# --- limit and offset -----------------------------------------------------------------


def test_limit_defaults_to_20(client_a, library_a, make_book):
    for n in range(25):
        make_book(library_a.tenant, f"Book {n:02d}")

    response = client_a.get(BOOKS)

    body = response.json()
    assert [item["title"] for item in body["items"]] == [f"Book {n:02d}" for n in range(20)]
    assert body["total"] == 25
    assert body["next"] is not None and body["previous"] is None
    assert "limit" not in parse_qs(urlparse(body["next"]).query)  # the default carries on
    second = client_a.get(body["next"]).json()
    assert [item["title"] for item in second["items"]] == [f"Book {n:02d}" for n in range(20, 25)]
    assert second["next"] is None


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_limit_within_bounds(client_a, shelf, limit):
    response = client_a.get(BOOKS, {"limit": limit})

    assert response.status_code == 200
    assert item_ids(response) == expected_ids(shelf, "title")[:limit]
    assert (response.json()["next"] is None) == (limit >= 10)


@pytest.mark.parametrize("limit", ["abc", "0", "101", "-1", "1.5", "1e2", "twenty", "0x10"])
def test_malformed_limit_is_400(client_a, library_a, limit):
    assert_400(client_a.get(BOOKS, {"limit": limit}), "limit")


def test_offset_skips_books(client_a, shelf):
    response = client_a.get(BOOKS, {"offset": 4, "limit": 3})

    body = response.json()
    assert item_ids(response) == expected_ids(shelf, "title")[4:7]
    assert body["total"] == 10
    assert body["next"] is not None and body["previous"] is not None


def test_offset_past_the_end_is_an_empty_page(client_a, shelf):
    response = client_a.get(BOOKS, {"offset": 50, "limit": 5})

    assert response.status_code == 200
    body = response.json()
    assert body["items"] == [] and body["total"] == 10 and body["next"] is None
    assert body["previous"] is not None
    assert response["X-Total-Count"] == "10"


@pytest.mark.parametrize("offset", ["abc", "-1", "1.5", "99999999999999999999999999"])
def test_malformed_offset_is_400(client_a, shelf, offset):
    assert_400(client_a.get(BOOKS, {"offset": offset}), "offset")


# --- Ordering -------------------------------------------------------------------------


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_every_ordering_sorts_correctly(client_a, shelf, ordering):
    response = client_a.get(BOOKS, {"ordering": ordering, "limit": 100})

    assert response.status_code == 200
    assert item_ids(response) == expected_ids(shelf, ordering)


def test_default_ordering_is_title(client_a, shelf):
    assert item_ids(client_a.get(BOOKS, {"limit": 100})) == expected_ids(shelf, "title")
    assert item_ids(client_a.get(BOOKS, {"limit": 100, "ordering": ""})) == expected_ids(shelf, "title")


def test_title_ordering_ignores_case_and_accents(client_a, shelf):
    titles = [item["title"] for item in client_a.get(BOOKS, {"limit": 100}).json()["items"]]

    assert titles.index("Ångström Units") < titles.index("apple Pie") < titles.index("Banana Split")
    assert titles.index("echo Park") < titles.index("Émile") < titles.index("Fable")


@pytest.mark.parametrize("ordering", ["name", "TITLE", "id", "-", "title,id", "--title", "updated"])
def test_invalid_ordering_is_400(client_a, shelf, ordering):
    assert_400(client_a.get(BOOKS, {"ordering": ordering}), "ordering")


# --- Keyset cursors -------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 4])
@pytest.mark.parametrize("ordering", ORDERINGS)
def test_next_links_visit_every_book_once_in_order_and_previous_walks_back(client_a, shelf, ordering, limit):
    forward = walk(client_a, f"{BOOKS}?ordering={ordering}&limit={limit}")

    expected = expected_ids(shelf, ordering)
    assert [book_id for page in forward for book_id in page] == expected
    assert all(len(page) == limit for page in forward[:-1])
    # From the last page, `previous` gives back the same pages in reverse, then stops.
    last = client_a.get(f"{BOOKS}?ordering={ordering}&limit={limit}")
    for _ in range(len(forward) - 1):
        last = client_a.get(last.json()["next"])
    assert last.json()["next"] is None
    backward = walk(client_a, last.json()["previous"], direction="previous") if len(forward) > 1 else []
    assert backward == list(reversed(forward[:-1]))


def test_cursor_pages_keep_total_and_headers(client_a, shelf):
    first = client_a.get(BOOKS, {"limit": 4, "ordering": "-updated_at"}).json()

    response = client_a.get(first["next"])

    assert response.status_code == 200
    assert response.json()["total"] == 10 and response["X-Total-Count"] == "10"
    rels = link_rels(response)
    assert set(rels) == {"first", "next", "prev"}
    assert parse_qs(urlparse(rels["first"]).query) == {"limit": ["4"], "ordering": ["-updated_at"]}
    assert item_ids(response) == expected_ids(shelf, "-updated_at")[4:8]


def test_the_first_page_reached_by_previous_has_no_previous(client_a, shelf):
    second = client_a.get(client_a.get(BOOKS, {"limit": 5}).json()["next"]).json()

    first = client_a.get(second["previous"])

    assert item_ids(first) == expected_ids(shelf, "title")[:5]
    assert first.json()["previous"] is None
    assert "prev" not in link_rels(first)


def test_cursor_keeps_the_filters(client_a, library_a, make_book):
    for n in range(7):
        make_book(library_a.tenant, f"Fantasy {n}", subjects=["Fantasy"])
        make_book(library_a.tenant, f"Other {n}", subjects=["History"])

    pages = walk(client_a, f"{BOOKS}?subject=fantasy&limit=3")

    titles = [Book.objects.get(pk=book_id).title for page in pages for book_id in page]
    assert titles == [f"Fantasy {n}" for n in range(7)]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "%%%",
        "😀",
        "e30",  # {}
        forge([1, 2]),
        forge("text"),
        forge({"o": "title", "d": "n"}),  # no key
        forge({"o": "title", "d": "x", "k": ["a", 1]}),  # no direction
        forge({"o": "title", "d": "n", "k": "a"}),
        forge({"o": "title", "d": "n", "k": ["a"]}),
        forge({"o": "title", "d": "n", "k": ["a", 1, 2]}),
        forge({"o": "title", "d": "n", "k": [5, 1]}),  # a number where a title goes
        forge({"o": "title", "d": "n", "k": [None, 1]}),
        forge({"o": "title", "d": "n", "k": ["a", "one"]}),
        forge({"o": "title", "d": "n", "k": ["a\u0000b", 1]}),
        forge({"o": "first_publish_year", "d": "n", "k": ["1990s", 1]}),
        forge({"o": "updated_at", "d": "n", "k": ["yesterday", 1]}),
        forge({"o": "updated_at", "d": "n", "k": ["2025-01-01T00:00:00", 1]}),  # no offset
        forge({"o": "updated_at", "d": "n", "k": ["0001-01-01T00:00:00+14:00", 1]}),
        forge({"o": "updated_at", "d": "p", "k": ["9999-12-31T23:59:59-14:00", 1]}),
        forge({"o": "updated_at", "d": "n", "k": [20250101, 1]}),
    ],
)
def test_a_tampered_or_garbage_cursor_is_400(client_a, shelf, cursor):
    ordering = "title"
    if cursor.startswith("ey"):
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        ordering = payload.get("o", "title")

    assert_400(client_a.get(BOOKS, {"cursor": cursor, "ordering": ordering}), "cursor")


def test_a_cursor_edited_by_one_character_is_400_or_a_valid_page(client_a, shelf):
    cursor = cursor_of(client_a.get(BOOKS, {"limit": 3}).json()["next"])

    for position in range(len(cursor)):
        for replacement in "A_-":
            if cursor[position] == replacement:
                continue
            edited = cursor[:position] + replacement + cursor[position + 1 :]
            response = client_a.get(BOOKS, {"cursor": edited, "limit": 3})
            assert response.status_code in (200, 400), (edited, response.content)
            if response.status_code == 400:
                assert list(response.json()["errors"]) == ["cursor"]


@pytest.mark.parametrize(
    ("made_for", "used_with"),
    [("title", "-title"), ("title", "updated_at"), ("-updated_at", "title"), ("first_publish_year", "title")],
)
def test_a_cursor_from_another_ordering_is_400(client_a, shelf, made_for, used_with):
    next_url = client_a.get(BOOKS, {"limit": 3, "ordering": made_for}).json()["next"]

    response = client_a.get(BOOKS, {"cursor": cursor_of(next_url), "ordering": used_with, "limit": 3})

    assert_400(response, "cursor")


def test_a_cursor_from_another_ordering_is_400_with_the_default_ordering(client_a, shelf):
    next_url = client_a.get(BOOKS, {"limit": 3, "ordering": "-first_publish_year"}).json()["next"]

    assert_400(client_a.get(BOOKS, {"cursor": cursor_of(next_url)}), "cursor")


def test_cursor_and_offset_together_are_400(client_a, shelf):
    next_url = client_a.get(BOOKS, {"limit": 3}).json()["next"]

    assert_400(client_a.get(BOOKS, {"cursor": cursor_of(next_url), "offset": 3}), "cursor")
    assert_400(client_a.get(BOOKS, {"cursor": cursor_of(next_url), "offset": 0}), "cursor")


@pytest.mark.parametrize("ordering", ["title", "-title", "updated_at", "-updated_at"])
def test_cursor_is_stable_when_books_are_added_around_it(client_a, library_a, make_book, ordering):
    old = [make_book(library_a.tenant, f"m{n:02d}") for n in range(12)]
    for n, book in enumerate(old):
        set_updated_at(book, BASE_TIME + timedelta(hours=n))
    first = client_a.get(BOOKS, {"ordering": ordering, "limit": 4}).json()
    seen = [item["id"] for item in first["items"]]

    # New books on both sides of the cursor, by title and by time.
    added = [make_book(library_a.tenant, title) for title in ("a-new", "m005", "m055", "z-new")]
    for hours, book in zip((-5, 1.5, 5.5, 50), added, strict=True):
        set_updated_at(book, BASE_TIME + timedelta(hours=hours))

    rest = [book_id for page in walk(client_a, first["next"]) for book_id in page]

    assert not set(seen) & set(rest), "a book already seen came again"
    assert len(rest) == len(set(rest)), "a book came twice"
    old_ids = [str(book.pk) for book in old]
    assert [book_id for book_id in rest if book_id in old_ids] == [
        book_id for book_id in expected_old_order(old, ordering) if book_id not in seen
    ], "a book that existed before was skipped or moved"
    # The added books that sort after the cursor are on the later pages, those before are not.
    after_cursor = {
        "title": ["m055", "z-new"],  # the cursor is at m03, going up
        "-title": ["a-new", "m005", "m055"],  # at m08, going down
        "updated_at": ["m055", "z-new"],  # at hour 3, going up
        "-updated_at": ["a-new", "m005", "m055"],  # at hour 8, going down
    }[ordering]
    titles = {str(book.pk): book.title for book in added}
    assert sorted(titles[book_id] for book_id in rest if book_id in titles) == sorted(after_cursor)


def expected_old_order(old: list[Book], ordering: str) -> list[str]:
    ids = [str(book.pk) for book in old]  # titles m00..m11 and times go up together
    return list(reversed(ids)) if ordering.startswith("-") else ids


def test_cursor_survives_the_deletion_of_its_book(client_a, shelf):
    first = client_a.get(BOOKS, {"limit": 4}).json()
    Book.objects.filter(pk=first["items"][-1]["id"]).delete()

    rest = [book_id for page in walk(client_a, first["next"]) for book_id in page]

    assert rest == expected_ids(shelf, "title")[4:]


# --- Filters --------------------------------------------------------------------------


@pytest.fixture
def library(library_a, make_book) -> dict[str, Book]:
    tenant = library_a.tenant
    tolkien, lewis, bronte = (
        author("J. R. R. Tolkien", 26320),
        author("C. S. Lewis", 31574),
        author("Charlotte Brontë", 24529),
    )
    return {
        "hobbit": make_book(
            tenant,
            "The Hobbit",
            authors=[tolkien],
            subjects=["Fantasy", "Dragons"],
            languages=["eng"],
            first_publish_year=1937,
        ),
        "lotr": make_book(
            tenant,
            "The Lord of the Rings",
            authors=[tolkien],
            subjects=["Fantasy", "Littérature française"],
            languages=["eng", "fre"],
            first_publish_year=1954,
        ),
        "narnia": make_book(
            tenant,
            "The Lion, the Witch and the Wardrobe",
            authors=[lewis],
            subjects=["Fantasy fiction"],
            languages=["eng"],
            first_publish_year=1950,
        ),
        "eyre": make_book(
            tenant,
            "Jane Eyre",
            authors=[bronte],
            subjects=["Governesses"],
            languages=["eng"],
            first_publish_year=1847,
        ),
        "letters": make_book(
            tenant,
            "Letters",
            authors=[lewis, tolkien],
            subjects=["Correspondence"],
            languages=["ger"],
            first_publish_year=None,
        ),
    }


def titles_for(client, **params) -> list[str]:
    response = client.get(BOOKS, {"limit": 100, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(body["items"]) == int(response["X-Total-Count"])
    return sorted(item["title"] for item in body["items"])


@pytest.mark.parametrize(
    "name", ["tolk", "TOLKIEN", "tólkïen", "  Tolkien ", "r. r. tolk", "J. R. R. Tolkien"]
)
def test_author_filter_matches_part_of_a_name_in_any_case_or_accents(client_a, library, name):
    assert titles_for(client_a, author=name) == ["Letters", "The Hobbit", "The Lord of the Rings"]


def test_author_filter_folds_the_stored_name_too(client_a, library):
    assert titles_for(client_a, author="bronte") == ["Jane Eyre"]
    assert titles_for(client_a, author="BRONTË") == ["Jane Eyre"]


@pytest.mark.parametrize(
    "key", ["OL31574A", "/authors/OL31574A", "https://openlibrary.org/authors/OL31574A/C._S._Lewis"]
)
def test_author_filter_by_key(client_a, library, key):
    assert titles_for(client_a, author=key) == ["Letters", "The Lion, the Witch and the Wardrobe"]


@pytest.mark.parametrize("name", ["OL999A", "/authors/OL999A", "Pratchett", "%", "_", "tolkien lewis"])
def test_author_filter_without_a_match_is_empty(client_a, library, name):
    assert titles_for(client_a, author=name) == []


@pytest.mark.parametrize("subject", ["fantasy", "FANTASY", "Fantasy", " fantasy "])
def test_subject_filter_is_exact_ignoring_case(client_a, library, subject):
    assert titles_for(client_a, subject=subject) == ["The Hobbit", "The Lord of the Rings"]


def test_subject_filter_is_exact_not_a_prefix(client_a, library):
    assert titles_for(client_a, subject="fanta") == []
    assert titles_for(client_a, subject="fantasy fiction") == ["The Lion, the Witch and the Wardrobe"]


def test_subject_filter_ignores_accents(client_a, library):
    assert titles_for(client_a, subject="litterature francaise") == ["The Lord of the Rings"]
    assert titles_for(client_a, subject="LITTÉRATURE FRANÇAISE") == ["The Lord of the Rings"]


def test_subject_filter_matches_a_subject_longer_than_the_facet_index(client_a, library_a, make_book):
    subject = "Great Britain -- History -- " * 10 + "Fiction"  # 287 characters
    make_book(library_a.tenant, "Long Subject", subjects=[subject])

    assert titles_for(client_a, subject=subject) == ["Long Subject"]
    assert titles_for(client_a, subject=subject.upper()) == ["Long Subject"]


@pytest.mark.parametrize(
    ("language", "expected"), [("fre", 1), ("FRE", 1), ("ger", 1), ("eng", 4), ("jpn", 0)]
)
def test_language_filter(client_a, library, language, expected):
    assert len(titles_for(client_a, language=language)) == expected


def test_year_filters_are_inclusive(client_a, library):
    assert titles_for(client_a, first_publish_year__gte=1950) == [
        "The Lion, the Witch and the Wardrobe",
        "The Lord of the Rings",
    ]
    assert titles_for(client_a, first_publish_year__lte=1937) == ["Jane Eyre", "The Hobbit"]
    assert titles_for(client_a, first_publish_year__gte=1937, first_publish_year__lte=1950) == [
        "The Hobbit",
        "The Lion, the Witch and the Wardrobe",
    ]
    assert titles_for(client_a, first_publish_year__gte=1954, first_publish_year__lte=1954) == [
        "The Lord of the Rings"
    ]
    assert titles_for(client_a, first_publish_year__gte=1960) == []
    assert titles_for(client_a, first_publish_year__gte=1951, first_publish_year__lte=1949) == []


def test_year_filters_leave_out_books_without_a_year(client_a, library):
    assert "Letters" not in titles_for(client_a, first_publish_year__lte=3000)
    assert "Letters" not in titles_for(client_a, first_publish_year__gte=-5000)


@pytest.mark.parametrize("param", ["first_publish_year__gte", "first_publish_year__lte"])
@pytest.mark.parametrize("value", ["19x4", "1.5", "abc", "1954-01-01", "99999999999999999999"])
def test_malformed_year_filter_is_400(client_a, library, param, value):
    assert_400(client_a.get(BOOKS, {param: value}), param)


@pytest.mark.parametrize(
    "params",
    [
        {"author": "tolkien"},
        {"author": "lewis", "ordering": "-first_publish_year"},
        {"author": "OL26320A"},
        {"subject": "fantasy"},
        {"language": "eng", "first_publish_year__gte": "1900"},
        {"first_publish_year__lte": "1950", "ordering": "-title"},
        {"updated_since": "2000-01-01", "author": "s"},
        {"subject": "fantasy", "language": "eng", "author": "tolkien"},
    ],
)
def test_small_and_large_selections_give_the_same_pages(client_a, library, monkeypatch, params):
    # A small selection is read from its ids, a large one by walking the ordering's index with
    # EXISTS and unindexed column tests (BookSelection.SMALL): the answers must not differ.
    from catalog.selectors import BookSelection

    def pages(small: int) -> list[tuple]:
        monkeypatch.setattr(BookSelection, "SMALL", small)
        seen, url = [], None
        response = client_a.get(BOOKS, {**params, "limit": 2})
        while True:
            body = response.json()
            seen.append((tuple(item_ids(response)), body["total"]))
            url = body["next"]
            if not url:
                return seen
            response = client_a.get(url)

    small, large = pages(10**9), pages(0)

    assert small == large
    assert small[0][1] >= 1


@pytest.fixture
def timeline(library_a, make_book) -> dict[str, Book]:
    books = {name: make_book(library_a.tenant, name) for name in ("Old", "Middle", "New")}
    set_updated_at(books["Old"], datetime(2024, 1, 1, tzinfo=UTC))
    set_updated_at(books["Middle"], datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
    set_updated_at(books["New"], datetime(2025, 1, 1, tzinfo=UTC))
    return books


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2023-12-31", ["Middle", "New", "Old"]),
        ("2024-01-01", ["Middle", "New", "Old"]),  # a date is its midnight UTC, inclusive
        ("2024-01-02", ["Middle", "New"]),
        ("2024-06-01", ["Middle", "New"]),
        ("2024-06-01T12:00:00Z", ["Middle", "New"]),  # inclusive
        ("2024-06-01T12:00:00.000001Z", ["New"]),
        ("2024-06-01T12:00:01Z", ["New"]),
        ("2024-06-01T12:00:00+00:00", ["Middle", "New"]),
        ("2024-06-01T14:00:00+02:00", ["Middle", "New"]),  # = 12:00 UTC
        ("2024-06-01T14:00:01+02:00", ["New"]),
        ("2024-06-01T07:00:00-05:00", ["Middle", "New"]),
        ("2024-06-01T12:00:00", ["Middle", "New"]),  # no offset: UTC
        ("2025-01-01T00:00:00Z", ["New"]),
        ("2025-01-02", []),
    ],
)
def test_updated_since_takes_iso_dates_and_date_times(client_a, timeline, since, expected):
    assert titles_for(client_a, updated_since=since) == expected


def test_updated_since_with_an_unencoded_plus_offset(client_a, timeline):
    # A `+` left unencoded in a query string arrives as a space.
    response = client_a.get(f"{BOOKS}?updated_since=2024-06-01T14:00:01+02:00")

    assert response.status_code == 200
    assert [item["title"] for item in response.json()["items"]] == ["New"]


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        "2024-13-01",
        "2024-02-30",
        "2024-06-01T25:00:00Z",
        "2024/06/01",
        "1717243200",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_malformed_updated_since_is_400(client_a, timeline, since):
    assert_400(client_a.get(BOOKS, {"updated_since": since}), "updated_since")


@pytest.mark.parametrize("param", ["author", "subject", "language"])
def test_a_nul_character_in_a_text_filter_is_400(client_a, library, param):
    assert_400(client_a.get(BOOKS, {param: "fan\x00tasy"}), param)


def test_filters_combine(client_a, library):
    assert titles_for(client_a, author="tolkien", subject="fantasy") == [
        "The Hobbit",
        "The Lord of the Rings",
    ]
    assert titles_for(client_a, author="tolkien", subject="fantasy", first_publish_year__gte=1950) == [
        "The Lord of the Rings"
    ]
    assert titles_for(client_a, author="tolkien", language="ger") == ["Letters"]
    assert titles_for(client_a, author="lewis", subject="dragons") == []


def test_filters_combine_with_ordering_and_pages(client_a, library):
    response = client_a.get(BOOKS, {"subject": "fantasy", "ordering": "-first_publish_year", "limit": 1})

    body = response.json()
    assert body["total"] == 2 and response["X-Total-Count"] == "2"
    assert [item["title"] for item in body["items"]] == ["The Lord of the Rings"]
    assert [item["title"] for item in client_a.get(body["next"]).json()["items"]] == ["The Hobbit"]


def test_unknown_parameters_are_ignored(client_a, library):
    plain = client_a.get(BOOKS).json()

    response = client_a.get(BOOKS, {"foo": "bar", "sort": "nonsense", "page": "x", "q": "hobbit"})

    assert response.status_code == 200
    assert response.json() == plain


def test_total_reflects_the_filters(client_a, library):
    response = client_a.get(BOOKS, {"author": "tolkien", "limit": 1})

    body = response.json()
    assert body["total"] == 3 and response["X-Total-Count"] == "3"
    assert len(body["items"]) == 1 and body["next"] is not None


# --- Query count ----------------------------------------------------------------------

# The key (with its library), the count, the page: whatever the page size, cursor or filter.
LIST_QUERIES = 3


@pytest.fixture
def sixty_books(library_a, make_book):
    for n in range(60):
        make_book(
            library_a.tenant,
            f"Volume {n:02d}",
            authors=[author("Anonymous", 1), author(f"Editor {n}", 100 + n)],
            subjects=["Reference"],
            first_publish_year=1900 + n,
        )


@pytest.mark.parametrize("limit", [5, 50, 100])
def test_list_query_count_does_not_depend_on_page_size(
    client_a, sixty_books, warm, django_assert_num_queries, limit
):
    warm()
    with django_assert_num_queries(LIST_QUERIES):
        response = client_a.get(BOOKS, {"limit": limit})

    assert len(response.json()["items"]) == min(limit, 60)


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_list_query_count_of_a_cursor_page(client_a, sixty_books, warm, django_assert_num_queries, ordering):
    next_url = client_a.get(BOOKS, {"limit": 50, "ordering": ordering}).json()["next"]
    warm()
    with django_assert_num_queries(LIST_QUERIES):
        response = client_a.get(next_url)

    assert len(response.json()["items"]) == 10


def test_list_query_count_with_every_filter(client_a, sixty_books, warm, django_assert_num_queries):
    warm()
    with django_assert_num_queries(LIST_QUERIES):
        response = client_a.get(
            BOOKS,
            {
                "limit": 50,
                "author": "anonymous",
                "subject": "reference",
                "language": "eng",
                "first_publish_year__gte": 1910,
                "first_publish_year__lte": 1949,
                "updated_since": "2000-01-01",
            },
        )

    assert response.json()["total"] == 40
