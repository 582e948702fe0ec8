"""PostgreSQL: each book's lexemes as btree rows, so a one-word search counts from an index alone.

`total` needs the number of matches, and for the ranking tiers the number of books with the
word in the title, and in the title, subtitle or author names. From the GIN index (0008) that
count visits every match's row: PostgreSQL cannot count from a GIN index alone, and the tier
tests read each match's vector. "history" in one library of a million books is 16,586
matches on 3,660 pages: 17-19 ms.

`catalog_booksearchterm` holds one row per lexeme of each book's search vector (the same
library-keyed lexemes), with the best field it occurs in: 1 title (weight A), 2 subtitle or
author names (B), 3 subjects and ISBNs. Its primary key (term, book_id) INCLUDE (field), on a
"C"-collated term, serves a word prefix (`term ^@ 't5xhistory'`) as an index-only range scan:
the same count takes 6 ms and no heap page while the visibility map is current (the table is
vacuumed here, and autovacuum is told to keep up with inserts).

Statement triggers on catalog_booksearch keep the rows in step: the terms are always the
unnest of catalog_booksearch.vector. `olcs_search_prefix_tiers(tsquery)` counts the tiers of a
query that is a single prefix; it returns NULLs for anything else (several words), which the
GIN index intersects well.
"""

from django.db import migrations

# The best field of a lexeme from the weights of its positions (migration 0006's vector).
FIELD = "CASE WHEN 'A' = ANY(lexeme.weights) THEN 1 WHEN 'B' = ANY(lexeme.weights) THEN 2 ELSE 3 END"


def _terms_of(rows: str) -> str:
    """The term rows of a set of catalog_booksearch rows."""
    return f"SELECT lexeme.lexeme, indexed.book_id, {FIELD} FROM {rows} AS indexed, unnest(indexed.vector) AS lexeme"


def _delete_terms_of(rows: str) -> str:
    return (
        f"DELETE FROM catalog_booksearchterm AS term USING {rows} AS indexed, unnest(indexed.vector) AS lexeme "
        "WHERE term.term = lexeme.lexeme AND term.book_id = indexed.book_id"
    )


POSTGRESQL_FORWARD = [
    """
    CREATE TABLE catalog_booksearchterm (
        term text COLLATE "C" NOT NULL,
        book_id bigint NOT NULL,
        field smallint NOT NULL
    ) WITH (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01)
    """,
    f"INSERT INTO catalog_booksearchterm (term, book_id, field) {_terms_of('catalog_booksearch')}",
    "ALTER TABLE catalog_booksearchterm ADD PRIMARY KEY (term, book_id) INCLUDE (field)",
    f"""
    CREATE FUNCTION catalog_booksearch_terms_added() RETURNS trigger AS $$
    BEGIN
        INSERT INTO catalog_booksearchterm (term, book_id, field) {_terms_of("new_rows")};
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    # catalog_book's update trigger (0008) rewrites a search row only when its text changed, but
    # an ON CONFLICT update may still carry the same vector: those rows are left alone.
    f"""
    CREATE FUNCTION catalog_booksearch_terms_changed() RETURNS trigger AS $$
    BEGIN
        {_delete_terms_of("(SELECT before.book_id, before.vector FROM old_rows AS before JOIN new_rows AS after USING (book_id) WHERE before.vector IS DISTINCT FROM after.vector)")};
        INSERT INTO catalog_booksearchterm (term, book_id, field)
        {_terms_of("(SELECT after.book_id, after.vector FROM new_rows AS after JOIN old_rows AS before USING (book_id) WHERE before.vector IS DISTINCT FROM after.vector)")};
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE FUNCTION catalog_booksearch_terms_removed() RETURNS trigger AS $$
    BEGIN
        {_delete_terms_of("old_rows")};
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION catalog_booksearch_terms_truncated() RETURNS trigger AS $$
    BEGIN
        TRUNCATE catalog_booksearchterm;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER catalog_booksearch_terms_insert AFTER INSERT ON catalog_booksearch
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_booksearch_terms_added()
    """,
    """
    CREATE TRIGGER catalog_booksearch_terms_update AFTER UPDATE ON catalog_booksearch
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_booksearch_terms_changed()
    """,
    """
    CREATE TRIGGER catalog_booksearch_terms_delete AFTER DELETE ON catalog_booksearch
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_booksearch_terms_removed()
    """,
    """
    CREATE TRIGGER catalog_booksearch_terms_truncate AFTER TRUNCATE ON catalog_booksearch
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_booksearch_terms_truncated()
    """,
    # The three tier sizes of a query that is one prefix ('t5xhistory':*), from the terms' primary
    # key alone; NULLs for any other query. The prefix goes into the statement as a literal: a
    # parameter would leave the planner without the range to scan.
    r"""
    CREATE FUNCTION olcs_search_prefix_tiers(query tsquery, OUT title bigint, OUT names bigint, OUT total bigint)
    AS $$
    DECLARE
        prefix text := substring(query::text FROM '^''((?:[^'']|'''')*)'':\*$');
    BEGIN
        IF prefix IS NULL THEN
            RETURN;
        END IF;
        prefix := replace(replace(prefix, '''''', ''''), '\\', '\');
        EXECUTE format(
            'SELECT count(DISTINCT book_id) FILTER (WHERE field = 1), '
            'count(DISTINCT book_id) FILTER (WHERE field <= 2), count(DISTINCT book_id) '
            'FROM catalog_booksearchterm WHERE term ^@ %L', prefix
        ) INTO title, names, total;
    END
    $$ LANGUAGE plpgsql STABLE STRICT
    """,
    "ANALYZE catalog_booksearchterm",
]
POSTGRESQL_BACKWARD = [
    "DROP FUNCTION IF EXISTS olcs_search_prefix_tiers(tsquery)",
    "DROP TRIGGER IF EXISTS catalog_booksearch_terms_truncate ON catalog_booksearch",
    "DROP TRIGGER IF EXISTS catalog_booksearch_terms_delete ON catalog_booksearch",
    "DROP TRIGGER IF EXISTS catalog_booksearch_terms_update ON catalog_booksearch",
    "DROP TRIGGER IF EXISTS catalog_booksearch_terms_insert ON catalog_booksearch",
    "DROP FUNCTION IF EXISTS catalog_booksearch_terms_truncated()",
    "DROP FUNCTION IF EXISTS catalog_booksearch_terms_removed()",
    "DROP FUNCTION IF EXISTS catalog_booksearch_terms_changed()",
    "DROP FUNCTION IF EXISTS catalog_booksearch_terms_added()",
    "DROP TABLE IF EXISTS catalog_booksearchterm",
]


def run(statements: list[str]):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement, params=None)  # no placeholders: `%L` is format()'s

    return apply


def vacuum(apps, schema_editor) -> None:
    """Set the visibility map of the new table, so its index-only scans read no heap page.

    Outside a transaction (the migration is not atomic): VACUUM cannot run inside one.
    """
    if schema_editor.connection.vendor == "postgresql" and not schema_editor.connection.in_atomic_block:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) catalog_booksearchterm")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0008_postgresql_search_table")]

    operations = [
        migrations.RunPython(run(POSTGRESQL_FORWARD), run(POSTGRESQL_BACKWARD), atomic=True),
        migrations.RunPython(vacuum, migrations.RunPython.noop),
    ]
