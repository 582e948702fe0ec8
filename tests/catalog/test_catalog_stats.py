"""CatalogStats: each library's book count and generation, kept by database triggers."""

import pytest

from catalog.models import Book, CatalogStats
from catalog.seeding import seed_catalog, seed_tenants
from tests.catalog.conftest import item_ids

pytestmark = pytest.mark.django_db

BOOKS = "/tenants/alexandria/books/"


def stats(tenant) -> tuple[int, int]:
    row = CatalogStats.of(tenant)
    return row.books, row.generation


def test_a_new_library_has_no_row_and_counts_zero(library_a):
    assert stats(library_a.tenant) == (0, 0)


def test_inserts_updates_and_deletes_move_the_count_and_generation(
    library_a, library_b, make_book, revise_book
):
    first = make_book(library_a.tenant, "One")
    make_book(library_a.tenant, "Two")
    books, generation = stats(library_a.tenant)
    assert books == 2

    revise_book(first, title="One, revised")
    assert stats(library_a.tenant)[0] == 2
    assert stats(library_a.tenant)[1] > generation
    generation = stats(library_a.tenant)[1]

    Book.objects.filter(pk=first.pk).delete()
    assert stats(library_a.tenant)[0] == 1
    assert stats(library_a.tenant)[1] > generation
    assert stats(library_b.tenant) == (0, 0)


def test_bulk_statements_count_every_row(library_a, library_b, make_book):
    for n in range(5):
        make_book(library_a.tenant, f"A{n}")
        make_book(library_b.tenant, f"B{n}")
    generation_b = stats(library_b.tenant)[1]

    Book.objects.filter(tenant=library_a.tenant, title__in=["A1", "A2", "A3"]).delete()
    Book.objects.filter(tenant=library_a.tenant).update(edition_count=7)

    assert stats(library_a.tenant)[0] == 2
    assert stats(library_b.tenant) == (5, generation_b)


def test_a_seeded_catalog_is_counted(db):
    tenants = seed_tenants(2, "count")
    seed_catalog(tenants=tenants, books=30, seed=3)

    for tenant in tenants:
        assert stats(tenant)[0] == Book.objects.filter(tenant=tenant).count() == 15


def test_the_unfiltered_list_total_is_the_kept_count(client_a, library_a, make_book):
    for n in range(3):
        make_book(library_a.tenant, f"Book {n}")
    # Proof that the total is read from the row, not counted: skew the row.
    CatalogStats.objects.filter(tenant=library_a.tenant).update(books=99)

    unfiltered = client_a.get(BOOKS).json()
    filtered = client_a.get(BOOKS, {"updated_since": "2000-01-01"}).json()

    assert unfiltered["total"] == 99 and len(unfiltered["items"]) == 3
    assert filtered["total"] == 3  # a filtered list counts its rows


def test_the_list_total_follows_deletes(client_a, library_a, make_book):
    books = [make_book(library_a.tenant, f"Book {n}") for n in range(4)]
    Book.objects.filter(pk=books[0].pk).delete()

    response = client_a.get(BOOKS)

    assert response.json()["total"] == 3 == len(item_ids(response))
    assert response["X-Total-Count"] == "3"
