"""The seeder's database writer: batches into the catalog tables, on SQLite and PostgreSQL.

`insert_batch` writes a generated batch (olcs_seed_b, olcs_seed_v) into every catalog table with
a handful of INSERT … SELECT statements; `_Session` sets the connection up for a bulk load and
runs the batches, and puts every setting back at the end.

SQLite: the generator process (catalog.seeding.generator) makes the next batch in a database
file of its own while this connection writes the one before, attached read-only; the FTS5 index
and the library counts (CatalogStats) are filled with one INSERT per batch while their per-row
insert triggers are dropped — dropped and re-created (from the CREATE TRIGGER text the database
itself keeps in sqlite_master) inside each batch's transaction, so no other connection ever sees
them missing and a failed batch rolls back to them; a checkpointer thread copies the WAL into
the database file meanwhile. PostgreSQL: worker connections write batches side by side; the
search triggers stay on.
"""

# Every statement here is put together from this module's constants and integers, never from input.
# ruff: noqa: S608

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Iterator

from django.db import connection, transaction

from catalog.models import Author, BookFacet, BookVersion, fold, year_sort_key
from catalog.seeding.checkpointer import _Checkpointer
from catalog.seeding.generator import SLOTS, GeneratorProcess, Recorder, register_functions, slot_schema
from catalog.seeding.plan import (
    AUTHORS_PER_TENANT,
    EMPTY_LIST,
    KEY_OFFSET,
    SECOND,
    Batch,
    _case_version,
    _Dialect,
    _Plan,
)
from catalog.seeding.vocabulary import _author_name
from tenants.models import Tenant

BATCH_FILE_MMAP = 1 << 30  # a batch file is about 1.5 KB a book: 300 MB at BATCH_LIMIT
WAL_RESTART_BYTES = 256 << 20  # SQLite: let the WAL start over once it is this long
CATALOG_TABLES = (
    "catalog_book",
    "catalog_bookversion",
    "catalog_bookauthor",
    "catalog_bookisbn",
    "catalog_bookfacet",
)
# SQLite's per-row insert triggers a batch does the work of in one statement each.
SQLITE_BULK_TRIGGERS = ("catalog_book_fts_insert", "catalog_stats_insert")


def insert_batch(
    plan: _Plan,
    execute: Callable[[str], object],
    *,
    source: str,
    base: int | None,
    triggers: dict[str, str],
    immediate: str,
) -> None:
    """Write the batch in source.olcs_seed_b/_v to the catalog (inside the caller's transaction).

    `base`: on SQLite the id before the batch's first book (book n gets base + n).
    `triggers`: SQLite's SQLITE_BULK_TRIGGERS by name, as CREATE TRIGGER statements (empty:
    leave the triggers to do their work); the FTS5 table and the library counts are then filled
    here, the triggers dropped meanwhile and re-created from these statements.
    `immediate`: PostgreSQL foreign keys to check row by row rather than at commit.
    """
    d = plan.d
    fts = bool(triggers)

    def book_id(alias: str) -> str:
        """The id of the book of a row of olcs_seed_b (b) or olcs_seed_v (v)."""
        if base is not None:
            return f"({int(base)} + {alias}.n)"
        return f"{alias}.book_id" if alias == "v" else f"{alias}.id"

    if immediate:
        # Checked row by row as they go in: far cheaper than a queue of deferred checks.
        execute(f"SET CONSTRAINTS {immediate} IMMEDIATE")
    latest_ts = _case_version("ts", "b.nv")
    values = {
        "id": book_id("b"),
        "tenant_id": "b.tenant_id",
        "open_library_key": f"'/works/OL' || {d.text(book_id('b') + f' + {KEY_OFFSET}')} || 'W'",
        "title": "b.title",
        "title_sort": "b.title_sort",
        "subtitle": "b.subtitle",
        "description": "coalesce(b.description, '')",
        "subjects": d.json("b.subjects"),
        "languages": d.json("b.languages"),
        "first_publish_year": "b.year",
        "year_sort": f"coalesce(b.year, {year_sort_key(None)})",
        "cover_id": "b.cover_id",
        "isbns": d.json("b.isbns"),
        "edition_count": _case_version("ec", "b.nv"),
        "authors_data": d.json("b.authors"),
        "merged_keys": d.json(EMPTY_LIST),
        "upstream_modified": f"b.latest / {SECOND}",
        "current_version": "b.nv",
        "content_hash": "v.hash",
        "created_at": "b.ts1",
        "updated_at": latest_ts,
        "last_synced_at": latest_ts,
    }
    if fts:
        for name in SQLITE_BULK_TRIGGERS:
            execute(f"DROP TRIGGER {name}")
    execute(
        f"INSERT INTO catalog_book ({', '.join(values)}) SELECT {', '.join(values.values())} "  # nosec B608  # SQL built from code: table names and numbers, no input
        f"FROM {source}olcs_seed_b b JOIN {source}olcs_seed_v v ON v.k = b.n * 4 + b.nv"
    )
    if fts:
        # The values the trigger writes (SQLITE_FTS_VALUES: catalog.search.library_words), from
        # olcs_seed_b's words joined by spaces rather than parsed back out of the JSON columns
        # and split by the Python function: `t<id>x` before each word, in SQL. A quarter of
        # the writer's time went to that function. tests/catalog/test_seed.py compares the two.
        key = "('t' || b.tenant_id || 'x')"
        columns = [
            "b.title",
            "b.subtitle_words",
            "b.author_words",
            "b.subject_words",
            "b.isbn1 || coalesce(' ' || b.isbn2, '')",
        ]
        keyed = ", ".join(
            f"CASE WHEN {column} = '' THEN '' ELSE {key} || replace({column}, ' ', ' ' || {key}) END"
            for column in columns
        )
        execute(
            "INSERT INTO catalog_book_fts (rowid, title, subtitle, authors, subjects, isbns) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"SELECT {book_id('b')}, {keyed} FROM {source}olcs_seed_b b"
        )
        execute(triggers["catalog_book_fts_insert"])
        # What catalog_stats_insert does row by row, once per library for the batch.
        execute(
            "INSERT INTO catalog_catalogstats (tenant_id, books, generation) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"SELECT tenant_id, count(*), 1 FROM {source}olcs_seed_b WHERE true GROUP BY tenant_id "
            "ON CONFLICT (tenant_id) DO UPDATE SET books = books + excluded.books, generation = generation + 1"
        )
        execute(triggers["catalog_stats_insert"])
    execute(
        "INSERT INTO catalog_bookversion (tenant_id, book_id, version, snapshot, changed_fields, "  # nosec B608  # SQL built from code: table names and numbers, no input
        "content_hash, source, job_id, created_at) "
        f"SELECT tenant_id, {book_id('v')}, v, {d.json('snap')}, {d.json('changed')}, hash, "
        f"'{BookVersion.Source.SEED.value}', NULL, ts FROM {source}olcs_seed_v v"
    )
    b = f"{source}olcs_seed_b b"
    execute(
        "INSERT INTO catalog_bookauthor (tenant_id, book_id, author_id, position) "  # nosec B608  # SQL built from code: table names and numbers, no input
        f"SELECT tenant_id, {book_id('b')}, a1, 0 FROM {b} "
        f"UNION ALL SELECT tenant_id, {book_id('b')}, a2, 1 FROM {b} WHERE a2 IS NOT NULL "
        # In the order of the (tenant, author, book) and author indexes, where they go in cheapest.
        "ORDER BY 1, 3, 2"
    )
    execute(
        "INSERT INTO catalog_bookisbn (tenant_id, book_id, isbn13, isbn10) "  # nosec B608  # SQL built from code: table names and numbers, no input
        f"SELECT tenant_id, {book_id('b')}, isbn1, isbn1_10 FROM {b} "
        f"UNION ALL SELECT tenant_id, {book_id('b')}, isbn2, isbn2_10 FROM {b} WHERE isbn2 IS NOT NULL"
    )
    subject, language = BookFacet.Kind.SUBJECT.value, BookFacet.Kind.LANGUAGE.value
    facets = [
        f"SELECT tenant_id, {book_id('b')}, '{subject}', {column} FROM {b} WHERE {column} IS NOT NULL"  # nosec B608  # SQL built from code: table names and numbers, no input
        for column in ("f1", "f2", "f3")
    ]
    facets.append(f"SELECT tenant_id, {book_id('b')}, '{language}', lang FROM {b}")  # nosec B608  # SQL built from code: table names and numbers, no input
    execute(f"INSERT INTO catalog_bookfacet (tenant_id, book_id, kind, value) {' UNION ALL '.join(facets)}")
    if immediate:
        execute(f"SET CONSTRAINTS {immediate} DEFERRED")


class _Session:
    """This connection's settings for the bulk load, and the way batches are made.

    SQLite, outside a transaction: a generator process makes the next batch in a file of its own
    while this connection writes the current one to the catalog from the file before (attached
    read-only), and a checkpointer thread copies the WAL into the database file meanwhile.
    PostgreSQL, outside a transaction: worker threads, each with its own connection, take turns
    at the batches. Within a transaction already (a test's), this connection does everything.
    All settings are put back on exit.
    """

    GENERATED = "olcs_seed_gen"  # the schema a generated batch is attached as (read-only)

    def __init__(self, plan: _Plan, rng: random.Random | None, seed: int | None, *, workers: int = 1) -> None:
        self.plan, self.rng, self.seed = plan, rng, seed
        self.sqlite = plan.d.sqlite
        self.workers = 1 if self.sqlite or connection.in_atomic_block else max(1, workers)
        self.triggers: dict[str, str] = {}
        self.immediate = ""
        self.restore: list[str] = []
        self.pipeline = False
        self.checkpointer: _Checkpointer | None = None

    def __enter__(self) -> _Session:
        connection.ensure_connection()
        try:
            with connection.cursor() as cursor:
                if self.sqlite:
                    self._sqlite(cursor)
                elif self.workers == 1:
                    self._postgresql(cursor)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            with connection.cursor() as cursor:
                for statement in self.restore:
                    cursor.execute(statement)
        finally:
            if self.checkpointer:
                self.checkpointer.stop()

    def _sqlite(self, cursor) -> None:
        if connection.timezone_name != "UTC":
            raise NotImplementedError("seed_catalog writes UTC timestamps: DATABASES TIME_ZONE must be UTC")
        # The triggers as the database has them (not as some migration once wrote them): a batch
        # drops them and re-creates them from this text.
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s)",
            list(SQLITE_BULK_TRIGGERS),
        )
        self.triggers = dict(cursor.fetchall())
        if self.triggers and set(self.triggers) != set(SQLITE_BULK_TRIGGERS):
            raise RuntimeError(f"seed_catalog needs both triggers {SQLITE_BULK_TRIGGERS} or neither")
        self._pragma(cursor, "cache_size", -262_144)  # 256 MiB: the indexes written at random stay cached
        self._pragma(cursor, "temp.cache_size", -262_144)  # the batch tables too
        # The JSON columns' CHECK (JSON_VALID(…)) would parse every snapshot again: the JSON here
        # is built valid, and tests/catalog/test_seed.py parses every seeded document.
        self._pragma(cursor, "ignore_check_constraints", 1)
        if not connection.in_atomic_block:
            # References are right by construction (the batch's own books, the library's author
            # pool), and checking them would cost a tenth of the time. (This setting, and the
            # ones below, only change outside a transaction: a test's seed keeps its checks.)
            self._pragma(cursor, "foreign_keys", 0)
            self.pipeline = True
        if not self.pipeline:
            with transaction.atomic():
                _create_tables(cursor.execute, cursor.executemany, self.plan, "%s", batch_schemas=["temp"])
            self.restore += [f"DROP TABLE IF EXISTS temp.{name}" for name in self.plan.all_tables()]
            register_functions(connection.connection, self.rng)
            return
        cursor.execute("PRAGMA journal_mode")
        name = str(connection.settings_dict["NAME"])
        if cursor.fetchone()[0].lower() == "wal" and "mode=memory" not in name:
            self._pragma(cursor, "wal_autocheckpoint", 0)
            self.checkpointer = _Checkpointer(name)

    def _pragma(self, cursor, name: str, value: int) -> None:
        cursor.execute(f"PRAGMA {name}")
        self.restore.insert(0, f"PRAGMA {name} = {int(cursor.fetchone()[0])}")
        cursor.execute(f"PRAGMA {name} = {int(value)}")

    def _postgresql(self, cursor) -> None:
        if self.seed is not None:
            cursor.execute(f"SELECT setseed({(self.seed % 2**31) / 2**31})")
        tables = ", ".join(f"'{table}'::regclass" for table in CATALOG_TABLES)
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND condeferrable AND condeferred "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"AND conrelid IN ({tables}) ORDER BY conname"
        )
        self.immediate = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        self.restore += [f"DROP TABLE IF EXISTS pg_temp.{name}" for name in self.plan.all_tables()]
        with transaction.atomic():
            _create_tables(cursor.execute, cursor.executemany, self.plan, "%s", batch_schemas=["pg_temp"])

    # -- authors and ids ------------------------------------------------------------------------------

    def author_pool(self, tenant: Tenant, rng: random.Random) -> list[tuple[int, str, str]]:
        """The library's first AUTHORS_PER_TENANT authors (id, key, name), created when missing."""
        with transaction.atomic():
            pool = list(
                Author.objects.for_tenant(tenant)
                .order_by("id")
                .values_list("id", "open_library_key", "name")[:AUTHORS_PER_TENANT]
            )
            new = []
            for author_id in self.next_ids("catalog_author", AUTHORS_PER_TENANT - len(pool)):
                name = _author_name(rng)
                key = f"/authors/OL{author_id + KEY_OFFSET}A"
                new.append(
                    Author(
                        id=author_id,
                        tenant=tenant,
                        open_library_key=key,
                        name=name,
                        name_folded=fold(name)[:500],
                    )
                )
                pool.append((author_id, key, name))
            Author.objects.bulk_create(new, batch_size=1000)
        return pool

    def next_ids(self, table: str, count: int) -> list[int]:
        """`count` ids nobody else will use: call inside the transaction that inserts them."""
        if count <= 0:
            return []
        with connection.cursor() as cursor:
            if self.sqlite:
                # The transaction holds SQLite's write lock (BEGIN IMMEDIATE): nothing else inserts.
                cursor.execute(
                    f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), "  # nosec B608  # SQL built from code: table names and numbers, no input
                    f"coalesce((SELECT max(id) FROM {table}), 0))"
                )
                base = cursor.fetchone()[0]
                return list(range(base + 1, base + count + 1))
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, {int(count)})"  # nosec B608  # SQL built from code: table names and numbers, no input
            )
            return [row[0] for row in cursor.fetchall()]

    # -- batches --------------------------------------------------------------------------------------

    def run(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """Write each batch in a transaction of its own; yield (books, versions) after each."""
        if self.pipeline:
            yield from self._run_pipeline(jobs, pools)
        elif self.workers > 1:
            yield from self._run_workers(jobs, pools)
        else:
            yield from self._run_here(jobs, pools)

    def _run_here(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        temp = self.plan.d.temp
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {temp('olcs_seed_authors')} VALUES ({', '.join(['%s'] * 9)})",  # nosec B608  # SQL built from code: table names and numbers, no input
                self.plan.author_rows(pools),
            )
            self.plan.analyze(cursor.execute, temp("olcs_seed_authors"))
        random_sql = _random_sql(self.plan.d, self.rng)
        for parts in jobs:
            with transaction.atomic(), connection.cursor() as cursor:
                self.plan.generate(cursor.execute, parts=parts, out=temp(""), random_sql=random_sql)
                self._write(cursor, temp(""))
                cursor.execute(f"SELECT count(*) FROM {temp('olcs_seed_v')}")  # nosec B608  # SQL built from code: table names and numbers, no input
                versions = cursor.fetchone()[0]
            yield sum(count for _, count in parts), versions

    def _run_pipeline(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """SQLite: the generator process makes batch k + 1 (and k + 2 …, SLOTS ahead) while batch k is written."""
        setup = Recorder()
        _create_tables(
            setup.execute,
            setup.executemany,
            self.plan,
            "?",
            batch_schemas=[slot_schema(s) for s in range(SLOTS)],
        )
        setup.executemany(
            f"INSERT INTO temp.olcs_seed_authors VALUES ({', '.join(['?'] * 9)})",  # nosec B608  # SQL built from code: table names and numbers, no input
            self.plan.author_rows(pools),
        )
        random_sql = _random_sql(self.plan.d, self.rng)
        to_make = iter(jobs)

        def make_next(slot: int) -> None:
            parts = next(to_make, None)
            if parts is not None:
                steps = Recorder()
                self.plan.generate(
                    steps.execute, parts=parts, out=f"{slot_schema(slot)}.", random_sql=random_sql
                )
                generator.generate(slot, steps.steps)

        generator = GeneratorProcess(setup.steps, self.rng)
        try:
            for slot in range(SLOTS):
                make_next(slot)
            for parts in jobs:
                slot, versions = generator.ready()
                if self.checkpointer and self.checkpointer.wal_bytes >= WAL_RESTART_BYTES:
                    # The WAL starts over from its beginning only if a transaction begins once all
                    # of it is in the database file: wait for the copy now and then. Rewriting the
                    # WAL's first pages costs far less than growing it for ever (docs/performance.md).
                    self.checkpointer.wait()
                with connection.cursor() as cursor:
                    cursor.execute(f"ATTACH DATABASE %s AS {self.GENERATED}", [generator.uri(slot)])
                    try:
                        # Read through a memory map: the file's pages are in memory already.
                        cursor.execute(f"PRAGMA {self.GENERATED}.mmap_size = {BATCH_FILE_MMAP}")
                        with transaction.atomic():
                            self._write(cursor, f"{self.GENERATED}.")
                    finally:
                        cursor.execute(f"DETACH DATABASE {self.GENERATED}")
                make_next(slot)
                if self.checkpointer:
                    self.checkpointer.poke()
                yield sum(count for _, count in parts), versions
        finally:
            generator.stop()

    def _run_workers(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """PostgreSQL: `workers` threads, worker w writing jobs w, w + workers, … on its own connection."""
        results: queue.Queue = queue.Queue()
        stopping = threading.Event()
        finished = object()

        def work(worker: int) -> None:
            try:
                seed = None if self.seed is None else self.seed * 1009 + worker
                with _Session(self.plan, None, seed) as session:
                    for item in session._run_here(jobs[worker :: self.workers], pools):
                        results.put(item)
                        if stopping.is_set():
                            break
            except BaseException as error:  # handed to the caller's thread, which raises it
                results.put(error)
            finally:
                connection.close()
                results.put(finished)

        threads = [
            threading.Thread(target=work, args=(worker,), name=f"seed-catalog-{worker}", daemon=True)
            for worker in range(min(self.workers, len(jobs)))
        ]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                item = results.get()
                if item is finished:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stopping.set()
            for thread in threads:
                thread.join()

    def _write(self, cursor, source: str) -> None:
        insert_batch(
            self.plan,
            cursor.execute,
            source=source,
            base=self.next_ids("catalog_book", 1)[0] - 1 if self.sqlite else None,
            triggers=self.triggers,
            immediate=self.immediate,
        )


def _create_tables(execute, executemany, plan: _Plan, mark: str, *, batch_schemas: list[str]) -> None:
    """The plan's small tables (temp) with their rows, and its batch tables in each of `batch_schemas`."""
    temp = plan.d.temp
    for name, (columns, rows) in plan.helper_tables.items():
        execute(f"DROP TABLE IF EXISTS {temp(name)}")
        execute(f"CREATE TEMP TABLE {name} ({columns})")
        if rows:
            executemany(f"INSERT INTO {temp(name)} VALUES ({', '.join([mark] * len(rows[0]))})", rows)  # nosec B608  # SQL built from code: table names and numbers, no input
    for schema in batch_schemas:
        for name, columns in plan.batch_tables().items():
            execute(f"DROP TABLE IF EXISTS {schema}.{name}")
            if schema in ("temp", "pg_temp"):
                execute(f"CREATE TEMP TABLE {name} ({columns})")
            else:
                execute(f"CREATE TABLE {schema}.{name} ({columns})")
    plan.analyze(execute, ", ".join(temp(name) for name in plan.helper_tables))


def _random_sql(d: _Dialect, rng: random.Random | None) -> str:
    """SQL for a random 62-bit integer: from the seeded generator when the catalog must be reproducible."""
    if not d.sqlite:
        return d.POSTGRESQL_RANDOM62  # reproducible through setseed()
    return "olcs_seed_random()" if rng is not None else "(random() & 4611686018427387903)"
