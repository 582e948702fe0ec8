"""seed_catalog writes, straight from SQL, exactly what the ORM path (upsert_book) would write.

Every seeded row is checked against the functions the ORM path uses: content hashes, changed
fields, sort keys, facets, folded names, ISBN-10s, timestamps as Django stores them, and the
search index (FTS5 rows on SQLite, catalog_booksearch rows on PostgreSQL). The same tests run on both.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sqlite3
import subprocess
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog.identifiers import is_valid_isbn, isbn13_to_10
from catalog.models import (
    CONTENT_FIELDS,
    Author,
    Book,
    BookAuthor,
    BookFacet,
    BookIsbn,
    BookVersion,
    content_hash,
    fold,
    title_sort_key,
    year_sort_key,
)
from catalog.search import search_book_ids
from catalog.seeding import AUTHORS_PER_TENANT, seed_catalog, seed_tenants
from catalog.seeding import generator as seed_generator
from catalog.seeding.checkpointer import _Checkpointer
from catalog.seeding.vocabulary import canonical_json
from catalog.services import changed_fields, facet_rows, upsert_book
from tenants.models import Tenant
from tests.catalog.conftest import content

pytestmark = pytest.mark.django_db

PREFIX = "seedtest"
SQLITE = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite storage details")
POSTGRESQL = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL storage details")


def seed(books: int = 200, tenants: int = 2, **options) -> str:
    """Run the command as an operator would; its stdout."""
    out, err = StringIO(), StringIO()
    call_command(
        "seed_catalog", tenants=tenants, books=books, prefix=PREFIX, stdout=out, stderr=err, **options
    )
    assert "books" in err.getvalue()  # the progress bar
    return out.getvalue()


def libraries() -> list[Tenant]:
    return list(Tenant.objects.filter(slug__startswith=f"{PREFIX}-").order_by("slug"))


@pytest.fixture
def seeded(db) -> list[Tenant]:
    output = seed(seed=7)
    assert "Seeded 200 books" in output
    return libraries()


def sql_rows(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


# --- Counts --------------------------------------------------------------------------------


def test_books_are_spread_over_the_libraries_with_their_rows(seeded):
    assert [tenant.slug for tenant in seeded] == [f"{PREFIX}-1", f"{PREFIX}-2"]
    books = Book.objects.filter(tenant__in=seeded)
    assert Counter(books.values_list("tenant_id", flat=True)) == {seeded[0].pk: 100, seeded[1].pk: 100}
    versions = sum(books.values_list("current_version", flat=True))
    assert BookVersion.objects.filter(book__in=books).count() == versions
    assert 200 < versions <= 600
    assert BookVersion.objects.filter(book__in=books).exclude(source=BookVersion.Source.SEED).count() == 0
    assert BookAuthor.objects.filter(book__in=books).count() >= 200
    assert BookIsbn.objects.filter(book__in=books).count() >= 200
    # Each book has its subjects and one language as facets.
    assert BookFacet.objects.filter(book__in=books, kind=BookFacet.Kind.LANGUAGE).count() == 200
    assert BookFacet.objects.filter(book__in=books, kind=BookFacet.Kind.SUBJECT).count() >= 200
    for tenant in seeded:
        assert Author.objects.for_tenant(tenant).count() == AUTHORS_PER_TENANT
        # No row points into another library.
        for model in (BookVersion, BookAuthor, BookIsbn, BookFacet):
            assert not model.objects.for_tenant(tenant).exclude(book__tenant=tenant).exists()
        assert not BookAuthor.objects.for_tenant(tenant).exclude(author__tenant=tenant).exists()


def test_the_catalog_looks_real(seeded):
    books = list(Book.objects.filter(tenant__in=seeded))
    years = [book.first_publish_year for book in books if book.first_publish_year is not None]
    assert all(1500 <= year <= 2025 for year in years)
    assert len(years) < len(books)  # ~5 % unknown
    assert Counter(lang for book in books for lang in book.languages).most_common(1)[0][0] == "eng"
    assert all(
        1 <= len(book.subjects) <= 3 and len(set(book.subjects)) == len(book.subjects) for book in books
    )
    assert all(1 <= len(book.authors_data) <= 2 for book in books)
    assert all(1 <= len(book.isbns) <= 2 for book in books)
    assert all(len(book.title.split()) >= 2 for book in books)
    # Word frequencies with a long tail: the most frequent word is in a few percent of titles.
    words = Counter(word for book in books for word in set(fold(book.title).split()))
    assert words.most_common(1)[0][1] < 0.12 * len(books)
    assert len(words) > len(books)
    assert sum(1 for book in books if book.cover_id) > len(books) / 2
    assert {book.current_version for book in books} == {1, 2, 3}
    # Some authors carry accents.
    names = Author.objects.filter(tenant__in=seeded).values_list("name", flat=True)
    assert any(fold(name) != name.lower() for name in names)


# --- Every row as the ORM path would write it ----------------------------------------------


def test_books_versions_and_index_rows_match_the_orm_path(seeded):
    now = timezone.now()
    for book in Book.objects.filter(tenant__in=seeded).prefetch_related("versions"):
        versions = sorted(book.versions.all(), key=lambda version: version.version)
        assert [version.version for version in versions] == list(range(1, book.current_version + 1))
        latest = versions[-1]
        assert book.content() == latest.snapshot
        assert content_hash(book.content()) == book.content_hash == latest.content_hash
        assert list(latest.snapshot) != [] and set(latest.snapshot) == set(CONTENT_FIELDS)
        previous = previous_at = None
        for version in versions:
            assert version.content_hash == content_hash(version.snapshot)
            assert version.changed_fields == changed_fields(previous, version.snapshot)
            if previous is not None:
                assert version.changed_fields, "a version without a change"
                assert version.snapshot["edition_count"] > previous["edition_count"]
                assert version.created_at > previous_at
            previous, previous_at = version.snapshot, version.created_at
        assert book.created_at == versions[0].created_at
        assert book.updated_at == book.last_synced_at == latest.created_at <= now
        assert book.title_sort == title_sort_key(book.title)
        assert book.year_sort == year_sort_key(book.first_publish_year)
        assert book.open_library_key.startswith("/works/OL") and book.merged_keys == []
        facets = {(facet.kind, facet.value) for facet in book.facets.all()}
        assert facets == {(facet.kind, facet.value) for facet in facet_rows(book)}
        isbns = {(row.isbn13, row.isbn10) for row in book.isbn_rows.all()}
        assert isbns == {(isbn, isbn13_to_10(isbn) or "") for isbn in book.isbns}
        assert all(is_valid_isbn(isbn) for isbn in book.isbns)
        links = book.book_authors.order_by("position").select_related("author")
        assert [
            {"name": link.author.name, "open_library_key": link.author.open_library_key} for link in links
        ] == book.authors_data
        assert [link.position for link in links] == list(range(len(book.authors_data)))


def _search_rows(book: Book) -> list[tuple]:
    """The book's search index rows, its library's key (t<id>x) written as t?x."""
    if connection.vendor == "sqlite":
        query = "SELECT title, subtitle, authors, subjects, isbns FROM catalog_book_fts WHERE rowid = %s"
    else:
        query = "SELECT vector::text, title_vector::text FROM catalog_booksearch WHERE book_id = %s"
    key = f"t{book.tenant_id}x"
    return [tuple(value.replace(key, "t?x") for value in row) for row in sql_rows(query, [book.pk])]


def test_upsert_book_given_the_same_versions_writes_the_same_derived_rows(seeded):
    """The seeder's SQL is a second implementation of upsert_book's derived columns: both agree.

    Each seeded book's versions, replayed through upsert_book into another library, give the same
    sort keys, hashes, changed fields, facets, ISBN rows, author links and search index rows.
    """
    replay = Tenant.objects.create(slug=f"{PREFIX}-replay", name="Replay")
    derived = ("title_sort", "year_sort", "content_hash", "current_version", "authors_data")
    derived += ("title", "subtitle", "description", "subjects", "languages", "first_publish_year")
    derived += ("cover_id", "isbns", "edition_count", "merged_keys")

    def rows(book: Book) -> dict:
        return {
            "columns": {name: getattr(book, name) for name in derived},
            "versions": [
                (version.version, version.snapshot, version.changed_fields, version.content_hash)
                for version in book.versions.order_by("version")
            ],
            "facets": sorted(book.facets.values_list("kind", "value")),
            "isbns": sorted(book.isbn_rows.values_list("isbn13", "isbn10")),
            "authors": list(
                book.book_authors.order_by("position").values_list(
                    "position", "author__open_library_key", "author__name", "author__name_folded"
                )
            ),
            "search": _search_rows(book),
        }

    books = list(Book.objects.filter(tenant__in=seeded).order_by("id"))
    assert len(books) == 200
    for book in books:
        for version in book.versions.order_by("version"):
            upsert_book(
                tenant=replay,
                open_library_key=book.open_library_key,
                content=version.snapshot,
                source=BookVersion.Source.SEED,
            )
        made = Book.objects.get(tenant=replay, open_library_key=book.open_library_key)
        expected = rows(book)
        assert len(expected["search"]) == 1
        assert rows(made) == expected, book.open_library_key


def test_authors_names_are_folded(seeded):
    authors = Author.objects.filter(tenant__in=seeded).values_list("name", "name_folded", "open_library_key")
    assert all(folded == fold(name) for name, folded, _ in authors)
    assert all(key.startswith("/authors/OL") and key.endswith("A") for _, _, key in authors)


def test_older_versions_look_like_upstream_edits(seeded):
    changed = Counter(
        field
        for fields in BookVersion.objects.filter(book__tenant__in=seeded, version__gt=1).values_list(
            "changed_fields", flat=True
        )
        for field in fields
    )
    assert changed["edition_count"] == sum(changed.values()) - changed["description"] - changed["cover_id"]
    assert changed["description"] > 0  # some descriptions only came with a later edit


@SQLITE
def test_sqlite_text_is_stored_as_django_stores_it(seeded):
    ops = connection.ops
    rows = sql_rows(
        # (CAST: the raw text, not what Django's converters make of it.)
        "SELECT b.id, CAST(b.created_at AS TEXT), CAST(b.updated_at AS TEXT), CAST(b.last_synced_at AS TEXT), "
        "v.snapshot, v.content_hash, CAST(v.created_at AS TEXT) "
        "FROM catalog_book b JOIN catalog_bookversion v ON v.book_id = b.id AND v.version = b.current_version "
        "WHERE b.tenant_id IN (%s, %s)",
        [tenant.pk for tenant in seeded],
    )
    assert len(rows) == 200
    books = {book.pk: book for book in Book.objects.filter(tenant__in=seeded)}
    for book_id, created, updated, synced, snapshot, digest, version_created in rows:
        book = books[book_id]
        assert created == ops.adapt_datetimefield_value(book.created_at)
        assert updated == synced == version_created == ops.adapt_datetimefield_value(book.updated_at)
        # The snapshot text is its own canonical form: its sha256 is the content hash.
        assert snapshot == canonical_json(json.loads(snapshot))
        assert hashlib.sha256(snapshot.encode()).hexdigest() == digest
    invalid = sql_rows(
        "SELECT count(*) FROM catalog_book b JOIN catalog_bookversion v ON v.book_id = b.id "
        "WHERE NOT (json_valid(b.subjects) AND json_valid(b.languages) AND json_valid(b.isbns) "
        "AND json_valid(b.authors_data) AND json_valid(b.merged_keys) AND json_valid(v.snapshot) "
        "AND json_valid(v.changed_fields))"
    )
    assert invalid == [(0,)]


# --- Search --------------------------------------------------------------------------------


def test_search_finds_seeded_books_by_title_word_and_isbn(seeded):
    for tenant in seeded:
        books = list(Book.objects.for_tenant(tenant).order_by("id")[:20])
        for book in books:
            word = max(book.title.split(), key=len)
            ids, _ = search_book_ids(tenant=tenant, q=word, limit=200, offset=0)
            assert book.pk in ids, (word, book.title)
            ids, _ = search_book_ids(tenant=tenant, q=book.isbns[-1], limit=50, offset=0)
            assert book.pk in ids
            name = book.authors_data[0]["name"].split()[-1]
            ids, _ = search_book_ids(tenant=tenant, q=f"{name} {word}", limit=200, offset=0)
            assert book.pk in ids, (name, word)


@SQLITE
def test_sqlite_fts_rows_are_what_the_trigger_writes(seeded):
    _search_index = importlib.import_module("catalog.migrations.0004_search_per_library")

    values = _search_index.SQLITE_FTS_VALUES.replace("NEW.", "catalog_book.")
    expected = sql_rows(f"SELECT {values} FROM catalog_book ORDER BY id")  # noqa: S608 - the migration's SQL
    indexed = sql_rows(
        "SELECT rowid, title, subtitle, authors, subjects, isbns FROM catalog_book_fts ORDER BY rowid"
    )
    assert len(expected) == 200
    assert indexed == expected


@POSTGRESQL
def test_postgresql_search_rows_are_what_the_trigger_computes(seeded):
    search_table = importlib.import_module("catalog.migrations.0008_postgresql_search_table")
    tenant_ids = [tenant.pk for tenant in seeded]
    indexed = sql_rows(
        "SELECT book_id, tenant_id, vector::text, title_vector::text FROM catalog_booksearch "
        "WHERE tenant_id IN (%s, %s) ORDER BY book_id",
        tenant_ids,
    )
    expected = sql_rows(
        f"SELECT book.id, book.tenant_id, ({search_table.VECTOR})::text, ({search_table.TITLE_VECTOR})::text "  # noqa: S608 - the migration's SQL
        "FROM catalog_book AS book WHERE book.tenant_id IN (%s, %s) ORDER BY book.id",
        tenant_ids,
    )
    assert len(indexed) == 200 and all(vector and title for *_, vector, title in indexed)
    assert indexed == expected


def test_the_search_index_keeps_working_after_a_seed(seeded):
    tenant = seeded[0]
    book, _ = upsert_book(
        tenant=tenant,
        open_library_key="/works/OL1W",
        content=content("Quixotic zeppelins", isbns=["9780140449143"], subjects=["Fiction"]),
    )
    assert search_book_ids(tenant=tenant, q="zeppelins", limit=10, offset=0) == ([book.pk], 1)
    ids, _ = search_book_ids(tenant=tenant, q="9780140449143", limit=10, offset=0)
    assert book.pk in ids
    if connection.vendor == "sqlite":
        assert sql_rows(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('catalog_book_fts_insert', 'catalog_stats_insert')"
        ) == [(2,)]


# --- Running it again ----------------------------------------------------------------------


def test_a_second_run_appends(seeded):
    before = set(Book.objects.values_list("id", flat=True))
    versions_before = BookVersion.objects.count()
    seed(books=50)
    books = Book.objects.filter(tenant__in=seeded)
    assert books.count() == 250
    new = books.exclude(id__in=before)
    assert new.count() == 50 and min(new.values_list("id", flat=True)) > max(before)
    assert BookVersion.objects.count() == versions_before + sum(new.values_list("current_version", flat=True))
    # The author pool is reused, not grown.
    assert Author.objects.filter(tenant__in=seeded).count() == 2 * AUTHORS_PER_TENANT
    keys = Book.objects.filter(tenant__in=seeded).values_list("open_library_key", flat=True)
    assert len(set(keys)) == 250
    # The ORM still inserts after the bulk rows (ids and sequences moved on).
    book, _ = upsert_book(tenant=seeded[1], open_library_key="/works/OL2W", content=content("After the seed"))
    assert book.pk > max(books.exclude(pk=book.pk).values_list("id", flat=True))


def test_the_same_seed_gives_the_same_catalog(db):
    # (Ids, and so the keys, may differ: PostgreSQL sequences move on through a rollback.)
    def catalog(seed_value: int) -> list[tuple]:
        tenants = seed_tenants(1, prefix="same")
        try:
            with transaction.atomic():
                seed_catalog(tenants=tenants, books=30, seed=seed_value)
                rows = list(
                    Book.objects.filter(tenant__in=tenants)
                    .order_by("id")
                    .values_list("title", "subjects", "isbns", "first_publish_year", "current_version")
                )
                raise _Rollback(rows)
        except _Rollback as done:
            return done.rows

    first = catalog(11)
    assert len(first) == 30
    assert catalog(11) == first
    assert catalog(12) != first


class _Rollback(Exception):
    """Not an error: carries the rows out of the rolled-back block."""

    def __init__(self, rows):
        super().__init__()
        self.rows = rows


@pytest.mark.django_db(transaction=True)
def test_a_seed_outside_a_transaction_commits_batches_and_puts_everything_back():
    """The command's own path: SQLite's generator process, PostgreSQL's worker connections."""

    def pragma(name: str) -> int:
        return sql_rows(f"PRAGMA {name}")[0][0]

    names = ("foreign_keys", "ignore_check_constraints", "cache_size", "wal_autocheckpoint")
    settings = {name: pragma(name) for name in names} if connection.vendor == "sqlite" else {}
    triggers = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    trigger_sql = sql_rows(triggers) if connection.vendor == "sqlite" else []
    output = seed(books=120, tenants=3, batch_size=25, workers=2, seed=5)
    assert "Seeded 120 books" in output
    tenants = libraries()
    books = Book.objects.filter(tenant__in=tenants)
    # Batches of 25 span libraries (40 books each): every row still in its book's library.
    assert Counter(books.values_list("tenant_id", flat=True)) == {tenant.pk: 40 for tenant in tenants}
    for model in (BookVersion, BookAuthor, BookIsbn, BookFacet):
        assert not model.objects.filter(book__in=books).exclude(tenant=F("book__tenant")).exists()
    assert not BookAuthor.objects.filter(book__in=books).exclude(tenant=F("author__tenant")).exists()
    assert BookVersion.objects.filter(book__in=books).count() == sum(
        books.values_list("current_version", flat=True)
    )
    for book in books.prefetch_related("versions"):
        latest = max(book.versions.all(), key=lambda version: version.version)
        assert content_hash(book.content()) == book.content_hash == latest.content_hash
    book = books.order_by("id").first()
    word = max(book.title.split(), key=len)
    assert book.pk in search_book_ids(tenant=book.tenant, q=word, limit=200, offset=0)[0]
    if connection.vendor == "sqlite":
        assert {name: pragma(name) for name in names} == settings
        # The triggers a batch drops are re-created from the database's own text, unchanged.
        assert sql_rows(triggers) == trigger_sql
        assert sql_rows(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('catalog_book_fts_insert', 'catalog_stats_insert')"
        ) == [(2,)]
        assert sql_rows("SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'olcs_seed_%'") == [(0,)]
        assert "olcs_seed_gen" not in {row[1] for row in sql_rows("PRAGMA database_list")}
        assert sql_rows("PRAGMA foreign_key_check") == []


# --- SQLite's generator process ------------------------------------------------------------


def _catalog_rows(tenants: list[Tenant]) -> list[tuple]:
    """What a seed decided about each book, in order (ids, and so author keys and hashes, aside)."""
    rows = (
        Book.objects.filter(tenant__in=tenants)
        .order_by("id")
        .values_list(
            "title", "subtitle", "subjects", "isbns", "authors_data", "first_publish_year", "current_version"
        )
    )
    return [(*row[:4], [author["name"] for author in row[4]], *row[5:]) for row in rows]


@pytest.fixture
def generator_directories(monkeypatch) -> list[str]:
    """The slot directories of every generator process started meanwhile."""
    made: list[str] = []
    original = seed_generator.GeneratorProcess.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self.directory)

    monkeypatch.setattr(seed_generator.GeneratorProcess, "__init__", init)
    return made


@SQLITE
@pytest.mark.django_db(transaction=True)
def test_the_generator_process_makes_what_the_writer_would_make_itself(generator_directories):
    """Same seed, same catalog: batches made in the other process, or in this connection (in a transaction)."""
    seed_catalog(tenants=seed_tenants(2, prefix="piped"), books=90, seed=21, batch_size=20)
    assert len(generator_directories) == 1
    piped = _catalog_rows(libraries_of("piped"))
    assert len(piped) == 90
    # Within a batch and a library, ids follow time (the order books last changed), as in a real catalog.
    books = list(
        Book.objects.filter(tenant__in=libraries_of("piped"))
        .order_by("id")
        .values_list("id", "tenant", "updated_at")
    )
    first = books[0][0]
    assert [book[0] for book in books] == list(range(first, first + 90))
    for start in range(0, 90, 20):
        for tenant in {book[1] for book in books[start : start + 20]}:
            times = [book[2] for book in books[start : start + 20] if book[1] == tenant]
            assert times == sorted(times)
    with transaction.atomic():
        seed_catalog(tenants=seed_tenants(2, prefix="inline"), books=90, seed=21, batch_size=20)
    assert len(generator_directories) == 1  # in a transaction: no process
    assert _catalog_rows(libraries_of("inline")) == piped
    # Its files are gone with it.
    assert not os.path.exists(generator_directories[0])


def libraries_of(prefix: str) -> list[Tenant]:
    return list(Tenant.objects.filter(slug__startswith=f"{prefix}-").order_by("slug"))


def _fail_batch(monkeypatch, number: int, failure) -> None:
    """The generator process gets `failure` (steps -> steps) applied to batch `number` (0-based)."""
    original = seed_generator.GeneratorProcess.generate
    sent: list[int] = []

    def generate(self, slot, steps):
        sent.append(slot)
        original(self, slot, failure(self, steps) if len(sent) == number + 1 else steps)

    monkeypatch.setattr(seed_generator.GeneratorProcess, "generate", generate)


def _assert_whole_batches_and_triggers(prefix: str, batch_size: int, expected: int) -> None:
    tenants = libraries_of(prefix)
    books = Book.objects.filter(tenant__in=tenants)
    assert books.count() == expected
    assert expected % batch_size == 0
    assert BookVersion.objects.filter(book__in=books).count() == sum(
        books.values_list("current_version", flat=True)
    )
    assert sql_rows(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('catalog_book_fts_insert', 'catalog_stats_insert')"
    ) == [(2,)]
    assert "olcs_seed_gen" not in {row[1] for row in sql_rows("PRAGMA database_list")}
    assert sql_rows("PRAGMA foreign_keys") == [(1,)]


@SQLITE
@pytest.mark.django_db(transaction=True)
def test_an_error_in_the_generator_process_stops_the_seed_after_whole_batches(
    monkeypatch, generator_directories
):
    _fail_batch(monkeypatch, 2, lambda _process, steps: [*steps, ("SELECT no_such_function()", None)])
    with pytest.raises(RuntimeError, match=r"(?s)generator process failed.*no_such_function"):
        seed_catalog(tenants=seed_tenants(2, prefix="broken"), books=100, batch_size=20)
    _assert_whole_batches_and_triggers("broken", 20, 40)
    assert not os.path.exists(generator_directories[0])


@SQLITE
@pytest.mark.django_db(transaction=True)
def test_a_generator_process_that_dies_stops_the_seed_instead_of_hanging(monkeypatch, generator_directories):
    def kill(process, steps):
        process.process.kill()
        return steps

    _fail_batch(monkeypatch, 3, kill)
    with pytest.raises(RuntimeError, match="generator process stopped"):
        seed_catalog(tenants=seed_tenants(1, prefix="killed"), books=100, batch_size=20)
    # Killed as batch 3 was handed over, after batches 0 and 1 were written; batch 2 may have
    # been ready by then. What was written is whole batches.
    written = Book.objects.filter(tenant__in=libraries_of("killed")).count()
    assert written in (40, 60)
    _assert_whole_batches_and_triggers("killed", 20, written)
    assert not os.path.exists(generator_directories[0])


def test_a_generator_process_whose_writer_is_gone_removes_its_files(tmp_path):
    """Killed writer: the process sees its socket close, and cleans up after both."""
    process = seed_generator.GeneratorProcess([], None)
    try:
        assert os.path.isdir(process.directory)
        process.connection.close()  # as if the writer died
        assert process.process.wait(timeout=30) == 0
        assert not os.path.exists(process.directory)
    finally:
        if process.process.poll() is None:
            process.process.kill()


def test_a_generator_process_that_failed_says_why_even_to_a_late_sender():
    """The writer may only learn of a failure when it hands over the next batch: it still gets the reason."""
    process = seed_generator.GeneratorProcess([("CREATE TABLE broken (", None)], None)
    try:
        assert process.process.wait(timeout=30) == 0
        with pytest.raises(
            RuntimeError, match=r"(?s)generator process failed.*OperationalError: incomplete input"
        ):
            process.generate(0, [("SELECT 1", None)])
    finally:
        process.stop()
    assert not os.path.exists(process.directory)


# --- The WAL while seeding ----------------------------------------------------------------------


def test_waiting_for_the_checkpointer_lets_the_wal_start_over(tmp_path):
    """The writer's way of keeping the WAL short (WAL_RESTART_BYTES): wait for the copy, then begin."""
    path = str(tmp_path / "wal.sqlite3")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x)")
    checkpointer = _Checkpointer(path)
    try:

        def batch() -> int:
            checkpointer.wait()
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany("INSERT INTO t VALUES (?)", [(os.urandom(500),) for _ in range(2000)])
            writer.execute("COMMIT")
            checkpointer.poke()
            return os.path.getsize(path + "-wal")

        one = batch()
        checkpointer.wait()
        assert checkpointer.wal_bytes >= one * 0.9  # it knows how long the WAL is
        # Waiting first, each batch rewrites the WAL from its start: it stays one batch long.
        assert max(batch() for _ in range(4)) < one * 1.5
        checkpointer.wait()
        assert writer.execute("SELECT count(*) FROM t").fetchone() == (10_000,)
    finally:
        checkpointer.stop()
        writer.close()


def test_a_new_seed_removes_the_files_of_seeds_killed_with_their_generator(tmp_path, monkeypatch):
    """SIGKILL to both processes leaves a slot directory: the next seed removes it, and only such ones."""
    monkeypatch.setattr(seed_generator, "_memory_directory", lambda: str(tmp_path))
    gone_pid = _ended_pid()
    orphan = tmp_path / f"olcs-seed-{gone_pid}-abc"
    alive = tmp_path / f"olcs-seed-{os.getpid()}-def"  # a seed still running (this process)
    unrelated = tmp_path / "olcs-seed-notapid"
    for directory in (orphan, alive, unrelated):
        directory.mkdir()
        (directory / "batch-0.sqlite3").write_bytes(b"x")
    process = seed_generator.GeneratorProcess([], None)
    try:
        assert os.path.dirname(process.directory) == str(tmp_path)
        assert os.path.basename(process.directory).startswith(f"olcs-seed-{os.getpid()}-")
    finally:
        process.stop()
    assert not orphan.exists()
    assert alive.exists() and unrelated.exists()


def _ended_pid() -> int:
    """The id of a child process that has been waited for (so no process has it, barring reuse)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
