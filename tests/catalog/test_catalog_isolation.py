"""Two libraries with books: neither sees the other's catalog through any catalog endpoint.

Also the credentials rules on every catalog endpoint: no key 401, a key without
`catalog:read` 403, another library's slug 404 "Tenant not found".
"""

from dataclasses import dataclass

import pytest

from catalog.models import Book
from tenants.models import ALL_SCOPES, Scope
from tests.catalog.conftest import author, item_ids
from tests.conftest import bearer
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

BOOK_NOT_FOUND = {"detail": "Book not found", "code": "not_found"}
TENANT_NOT_FOUND = {"detail": "Tenant not found", "code": "not_found"}

# Every catalog endpoint; {slug} and {book} are filled in.
ENDPOINTS = [
    "/tenants/{slug}/books/",
    "/tenants/{slug}/books",
    "/tenants/{slug}/books/search?q=common",
    "/tenants/{slug}/books/search/?q=common",
    "/tenants/{slug}/books/{book}",
    "/tenants/{slug}/books/{book}/",
    "/tenants/{slug}/books/{book}/versions/",
    "/tenants/{slug}/books/{book}/versions",
    "/tenants/{slug}/books/{book}/versions/1",
    "/tenants/{slug}/books/{book}/versions/2/",
    "/tenants/{slug}/books/{book}/versions/1/diff/2",
    "/tenants/{slug}/books/{book}/versions/2/diff/1/",
]
BOOK_ENDPOINTS = [path for path in ENDPOINTS if "{book}" in path]


@dataclass
class Shelves:
    ours: list[Book]
    theirs: list[Book]


@pytest.fixture
def shelves(library_a, library_b, make_book, revise_book) -> Shelves:
    """Each library has books with a version 2; the titles share the word "common"."""
    ours = [
        make_book(library_a.tenant, f"Common Alexandrian Scroll {n}", authors=[author("Callimachus", 1)])
        for n in range(3)
    ]
    theirs = [
        make_book(
            library_b.tenant,
            f"Common Common Bodleian Codex {n}",
            authors=[author("Callimachus", 1)],
            subjects=["Common"],
            isbns=["9780618640157"],
        )
        for n in range(4)
    ]
    for book in [*ours, *theirs]:
        revise_book(book, edition_count=2)
    return Shelves(ours, theirs)


def fill(path: str, slug: str, book: Book) -> str:
    return path.format(slug=slug, book=book.pk)


@pytest.mark.parametrize("path", BOOK_ENDPOINTS)
def test_another_librarys_book_is_404_book_not_found(client_a, client_b, shelves, path):
    for theirs in shelves.theirs:
        response = client_a.get(fill(path, "alexandria", theirs))
        assert response.status_code == 404, response.content
        assert response.json() == BOOK_NOT_FOUND
    for ours in shelves.ours:
        response = client_b.get(fill(path, "bodleian", ours))
        assert response.status_code == 404
        assert response.json() == BOOK_NOT_FOUND


@pytest.mark.parametrize("path", BOOK_ENDPOINTS)
def test_own_books_answer_on_every_endpoint(client_a, client_b, shelves, path):
    assert client_a.get(fill(path, "alexandria", shelves.ours[0])).status_code == 200
    assert client_b.get(fill(path, "bodleian", shelves.theirs[0])).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_another_librarys_slug_is_404_tenant_not_found(client_a, client_b, shelves, path):
    # Whether the book id is theirs or ours: the library itself is not visible.
    for book in (shelves.theirs[0], shelves.ours[0]):
        response = client_a.get(fill(path, "bodleian", book))
        assert response.status_code == 404
        assert response.json() == TENANT_NOT_FOUND
        assert client_b.get(fill(path, "alexandria", book)).json() == TENANT_NOT_FOUND


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_unknown_slug_looks_the_same_as_another_librarys(client_a, shelves, path):
    response = client_a.get(fill(path, "no-such-library", shelves.ours[0]))

    assert response.status_code == 404
    assert response.json() == TENANT_NOT_FOUND


@pytest.mark.parametrize(
    "path", ["/tenants/{slug}/books/?limit=100", "/tenants/{slug}/books/search?q=common&limit=100"]
)
def test_lists_hold_exactly_the_own_books(client_a, client_b, shelves, path):
    ours = client_a.get(path.format(slug="alexandria"))
    theirs = client_b.get(path.format(slug="bodleian"))

    assert ours.json()["total"] == 3 and ours["X-Total-Count"] == "3"
    assert sorted(item_ids(ours)) == sorted(str(book.pk) for book in shelves.ours)
    assert theirs.json()["total"] == 4 and theirs["X-Total-Count"] == "4"
    assert sorted(item_ids(theirs)) == sorted(str(book.pk) for book in shelves.theirs)
    assert "Bodleian" not in ours.content.decode()
    assert "Alexandrian" not in theirs.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"author": "callimachus"},
        {"author": "OL1A"},
        {"subject": "common"},
        {"language": "eng"},
        {"updated_since": "2000-01-01"},
        {"ordering": "-updated_at"},
    ],
)
def test_filters_never_reach_into_another_library(client_a, shelves, params):
    response = client_a.get("/tenants/alexandria/books/", {"limit": 100, **params})

    theirs = {str(book.pk) for book in shelves.theirs}
    assert not theirs & set(item_ids(response))
    assert "Bodleian" not in response.content.decode()


def test_a_cursor_from_another_library_shows_only_own_books(client_a, client_b, shelves):
    next_url = client_b.get("/tenants/bodleian/books/", {"limit": 1}).json()["next"]
    cursor = next_url.split("cursor=")[1].split("&")[0]

    response = client_a.get("/tenants/alexandria/books/", {"limit": 1, "cursor": cursor})

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert set(item_ids(response)) <= {str(book.pk) for book in shelves.ours}
        assert response.json()["total"] == 3


def test_isbn_search_finds_only_own_books(client_a, shelves):
    response = client_a.get("/tenants/alexandria/books/search", {"q": "0-618-64015-0"})

    assert response.json() == {"items": [], "total": 0, "next": None, "previous": None}


def test_a_version_number_of_another_librarys_book_is_not_reachable(client_a, shelves):
    # Our book and theirs both have versions 1 and 2: the book decides, not the number.
    ours, theirs = shelves.ours[0], shelves.theirs[0]

    assert client_a.get(f"/tenants/alexandria/books/{ours.pk}/versions/2").json()["book_id"] == str(ours.pk)
    assert client_a.get(f"/tenants/alexandria/books/{theirs.pk}/versions/2").json() == BOOK_NOT_FOUND


# --- Credentials and scope ------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_key_is_401(api_client, shelves, path):
    response = api_client.get(fill(path, "alexandria", shelves.ours[0]))

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Alexandrian" not in response.content.decode()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_unknown_key_is_401(api_client, shelves, path):
    response = api_client.get(fill(path, "alexandria", shelves.ours[0]), **bearer("olcs_00000000_nope"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_key_without_catalog_read_is_403(api_client, library_a, shelves, path):
    key = ApiKeyFactory(tenant=library_a.tenant, scopes=sorted(ALL_SCOPES - {Scope.CATALOG_READ}))

    response = api_client.get(fill(path, "alexandria", shelves.ours[0]), **bearer(key.raw))

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "insufficient_scope"
    assert "Alexandrian" not in response.content.decode()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_key_with_only_catalog_read_is_enough(api_client, library_a, shelves, path):
    key = ApiKeyFactory(tenant=library_a.tenant, scopes=[Scope.CATALOG_READ])

    response = api_client.get(fill(path, "alexandria", shelves.ours[0]), **bearer(key.raw))

    assert response.status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_scope_limited_key_of_another_library_is_404_not_403(api_client, library_b, shelves, path):
    key = ApiKeyFactory(tenant=library_b.tenant, scopes=[Scope.INGESTION_WRITE])

    response = api_client.get(fill(path, "alexandria", shelves.ours[0]), **bearer(key.raw))

    assert response.status_code == 404
    assert response.json() == TENANT_NOT_FOUND


@pytest.mark.parametrize("path", ["/tenants/{slug}/books/", "/tenants/{slug}/books/{book}"])
def test_a_librarian_session_sees_only_their_library(client, library_a, shelves, path):
    librarian = UserFactory(username="clio")
    MembershipFactory(tenant=library_a.tenant, user=librarian)
    client.force_login(librarian)

    assert (
        client.get(fill(path, "alexandria", shelves.ours[0]), HTTP_ACCEPT="application/json").status_code
        == 200
    )
    response = client.get(fill(path, "bodleian", shelves.theirs[0]), HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert response.json() == TENANT_NOT_FOUND
    mixed = client.get(fill(path, "alexandria", shelves.theirs[0]), HTTP_ACCEPT="application/json")
    if "{book}" in path:
        assert mixed.json() == BOOK_NOT_FOUND
