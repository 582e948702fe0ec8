"""PostgreSQL: search reads a narrow table of its own, catalog_booksearch, not catalog_book.

Counting a common word's matches for `total` must visit every match's row (PostgreSQL cannot
count from a GIN index alone), and so must ranking a tier by weight (GIN keeps no weights).
In catalog_book those rows are 1.5 KB wide: "history" in one library of a million books
(16,586 matches) read 7,700 pages, 23 ms to count and 21 ms to rank its 3,040 title matches.
catalog_booksearch holds per book only what search reads:

- `vector`: the library-keyed, weighted tsvector (0006's `search_vector`, moved here), GIN;
- `title_vector`: the title's lexemes alone, keyed the same way and without positions, GIN:
  the title tier is an exact index match, so ranking it reads only the title matches.

Rows are ~300 bytes, 28 to a page. Statement triggers over transition tables keep the table in
step with every INSERT, UPDATE (of the indexed columns), DELETE and TRUNCATE of catalog_book,
one set-based statement each, so bulk loads (seed_catalog) pay once per statement. SQLite is
untouched: its FTS5 table (0004) is already narrow and fed by its own triggers.
"""

import importlib

from django.db import migrations

previous = importlib.import_module("catalog.migrations.0006_search_vector_per_library")

# The weighted vector of 0006 and the title's lexemes, for a catalog_book row aliased `book`.
VECTOR = "olcs_library_vector(book.tenant_id, {})".format(previous.WEIGHTED_VECTOR.replace("NEW.", "book."))
TITLE_VECTOR = "strip(olcs_library_vector(book.tenant_id, to_tsvector('olcs_search', coalesce(book.title, ''))))"
INDEXED = "tenant_id, title, subtitle, authors_data, subjects, isbns"


def _indexed(alias: str) -> str:
    return "({})".format(", ".join(f"{alias}.{column.strip()}" for column in INDEXED.split(",")))


POSTGRESQL_FORWARD = [
    """
    CREATE TABLE catalog_booksearch (
        book_id bigint PRIMARY KEY,
        tenant_id bigint NOT NULL,
        vector tsvector NOT NULL,
        title_vector tsvector NOT NULL
    )
    """,
    f"""
    CREATE FUNCTION catalog_book_search_added() RETURNS trigger AS $$
    BEGIN
        INSERT INTO catalog_booksearch (book_id, tenant_id, vector, title_vector)
        SELECT book.id, book.tenant_id, {VECTOR}, {TITLE_VECTOR} FROM new_books AS book;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    # An UPDATE trigger with transition tables cannot name its columns: the function compares
    # the old and new rows itself, so touching last_synced_at recomputes nothing. (Not `old`
    # as an alias: in PL/pgSQL that is the trigger's OLD record.)
    f"""
    CREATE FUNCTION catalog_book_search_changed() RETURNS trigger AS $$
    BEGIN
        DELETE FROM catalog_booksearch
        WHERE book_id IN (SELECT id FROM old_books EXCEPT SELECT id FROM new_books);
        INSERT INTO catalog_booksearch (book_id, tenant_id, vector, title_vector)
        SELECT book.id, book.tenant_id, {VECTOR}, {TITLE_VECTOR}
        FROM new_books AS book LEFT JOIN old_books AS before ON before.id = book.id
        WHERE before.id IS NULL OR {_indexed("book")} IS DISTINCT FROM {_indexed("before")}
        ON CONFLICT (book_id) DO UPDATE SET
            tenant_id = EXCLUDED.tenant_id, vector = EXCLUDED.vector, title_vector = EXCLUDED.title_vector;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION catalog_book_search_removed() RETURNS trigger AS $$
    BEGIN
        DELETE FROM catalog_booksearch WHERE book_id IN (SELECT id FROM old_books);
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION catalog_book_search_truncated() RETURNS trigger AS $$
    BEGIN
        TRUNCATE catalog_booksearch;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER catalog_book_search_insert AFTER INSERT ON catalog_book
    REFERENCING NEW TABLE AS new_books FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_search_added()
    """,
    """
    CREATE TRIGGER catalog_book_search_update AFTER UPDATE ON catalog_book
    REFERENCING OLD TABLE AS old_books NEW TABLE AS new_books
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_search_changed()
    """,
    """
    CREATE TRIGGER catalog_book_search_delete AFTER DELETE ON catalog_book
    REFERENCING OLD TABLE AS old_books FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_search_removed()
    """,
    """
    CREATE TRIGGER catalog_book_search_truncate AFTER TRUNCATE ON catalog_book
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_book_search_truncated()
    """,
    # The books there are: their vectors are already computed (0006), in library order so a
    # library's rows share pages.
    f"""
    INSERT INTO catalog_booksearch (book_id, tenant_id, vector, title_vector)
    SELECT book.id, book.tenant_id, book.search_vector, {TITLE_VECTOR}
    FROM catalog_book AS book ORDER BY book.tenant_id, book.id
    """,
    "CREATE INDEX catalog_booksearch_vector_idx ON catalog_booksearch USING gin (vector)",
    "CREATE INDEX catalog_booksearch_title_idx ON catalog_booksearch USING gin (title_vector)",
    "ANALYZE catalog_booksearch",
    # The column, its trigger and its index are replaced by the table.
    "DROP INDEX IF EXISTS catalog_book_search_idx",
    "DROP TRIGGER IF EXISTS catalog_book_search_vector ON catalog_book",
    "DROP FUNCTION IF EXISTS catalog_book_search_vector()",
    "ALTER TABLE catalog_book DROP COLUMN search_vector",
]
POSTGRESQL_BACKWARD = [
    "ALTER TABLE catalog_book ADD COLUMN search_vector tsvector",
    f"""
    CREATE FUNCTION catalog_book_search_vector() RETURNS trigger AS $$
    BEGIN
        NEW.search_vector := olcs_library_vector(NEW.tenant_id, {previous.WEIGHTED_VECTOR});
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER catalog_book_search_vector
    BEFORE INSERT OR UPDATE OF tenant_id, title, subtitle, authors_data, subjects, isbns ON catalog_book
    FOR EACH ROW EXECUTE FUNCTION catalog_book_search_vector()
    """,
    "UPDATE catalog_book SET search_vector = s.vector FROM catalog_booksearch AS s WHERE s.book_id = catalog_book.id",
    "CREATE INDEX catalog_book_search_idx ON catalog_book USING gin (search_vector)",
    "DROP TRIGGER IF EXISTS catalog_book_search_truncate ON catalog_book",
    "DROP TRIGGER IF EXISTS catalog_book_search_delete ON catalog_book",
    "DROP TRIGGER IF EXISTS catalog_book_search_update ON catalog_book",
    "DROP TRIGGER IF EXISTS catalog_book_search_insert ON catalog_book",
    "DROP FUNCTION IF EXISTS catalog_book_search_truncated()",
    "DROP FUNCTION IF EXISTS catalog_book_search_removed()",
    "DROP FUNCTION IF EXISTS catalog_book_search_changed()",
    "DROP FUNCTION IF EXISTS catalog_book_search_added()",
    "DROP TABLE IF EXISTS catalog_booksearch",
]


def run(statements: list[str]):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_fewer_indexes")]

    operations = [migrations.RunPython(run(POSTGRESQL_FORWARD), run(POSTGRESQL_BACKWARD))]
