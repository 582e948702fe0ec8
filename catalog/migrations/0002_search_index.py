"""The full-text search index, in each database's own engine (see catalog/search.py).

SQLite: an FTS5 table fed by triggers on catalog_book. PostgreSQL: a weighted tsvector column
fed by a trigger, an accent-stripping text search configuration and a GIN index. Both are
filled for books that already exist.
"""

from django.db import migrations

SQLITE_FTS_VALUES = """
    NEW.id, NEW.title, NEW.subtitle,
    (SELECT group_concat(json_extract(value, '$.name'), ' ') FROM json_each(NEW.authors_data)),
    (SELECT group_concat(value, ' ') FROM json_each(NEW.subjects)),
    (SELECT group_concat(value, ' ') FROM json_each(NEW.isbns)),
    NEW.tenant_id
"""

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE catalog_book_fts USING fts5(
        title, subtitle, authors, subjects, isbns, tenant_id UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    )
    """,
    f"""
    CREATE TRIGGER catalog_book_fts_insert AFTER INSERT ON catalog_book BEGIN
        INSERT INTO catalog_book_fts (rowid, title, subtitle, authors, subjects, isbns, tenant_id)
        VALUES ({SQLITE_FTS_VALUES});
    END
    """,
    """
    CREATE TRIGGER catalog_book_fts_delete AFTER DELETE ON catalog_book BEGIN
        DELETE FROM catalog_book_fts WHERE rowid = OLD.id;
    END
    """,
    f"""
    CREATE TRIGGER catalog_book_fts_update
    AFTER UPDATE OF title, subtitle, authors_data, subjects, isbns ON catalog_book BEGIN
        DELETE FROM catalog_book_fts WHERE rowid = OLD.id;
        INSERT INTO catalog_book_fts (rowid, title, subtitle, authors, subjects, isbns, tenant_id)
        VALUES ({SQLITE_FTS_VALUES});
    END
    """,
    f"""
    INSERT INTO catalog_book_fts (rowid, title, subtitle, authors, subjects, isbns, tenant_id)
    SELECT {SQLITE_FTS_VALUES.replace("NEW.", "catalog_book.")} FROM catalog_book
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS catalog_book_fts_update",
    "DROP TRIGGER IF EXISTS catalog_book_fts_delete",
    "DROP TRIGGER IF EXISTS catalog_book_fts_insert",
    "DROP TABLE IF EXISTS catalog_book_fts",
]

POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    """
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'olcs_search') THEN
            CREATE TEXT SEARCH CONFIGURATION olcs_search (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION olcs_search
                ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
        END IF;
    END $$
    """,
    "ALTER TABLE catalog_book ADD COLUMN search_vector tsvector",
    """
    CREATE FUNCTION catalog_book_search_vector() RETURNS trigger AS $$
    BEGIN
        NEW.search_vector :=
            setweight(to_tsvector('olcs_search', coalesce(NEW.title, '')), 'A') ||
            setweight(to_tsvector('olcs_search', coalesce(NEW.subtitle, '')), 'B') ||
            setweight(to_tsvector('olcs_search', coalesce(
                (SELECT string_agg(author ->> 'name', ' ') FROM jsonb_array_elements(NEW.authors_data) AS author),
                '')), 'B') ||
            setweight(to_tsvector('olcs_search', coalesce(
                (SELECT string_agg(subject, ' ') FROM jsonb_array_elements_text(NEW.subjects) AS subject),
                '')), 'C') ||
            setweight(to_tsvector('olcs_search', coalesce(
                (SELECT string_agg(isbn, ' ') FROM jsonb_array_elements_text(NEW.isbns) AS isbn),
                '')), 'D');
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER catalog_book_search_vector
    BEFORE INSERT OR UPDATE OF title, subtitle, authors_data, subjects, isbns ON catalog_book
    FOR EACH ROW EXECUTE FUNCTION catalog_book_search_vector()
    """,
    "UPDATE catalog_book SET title = title",
    "CREATE INDEX catalog_book_search_idx ON catalog_book USING gin (tenant_id, search_vector)",
]
POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_book_search_idx",
    "DROP TRIGGER IF EXISTS catalog_book_search_vector ON catalog_book",
    "DROP FUNCTION IF EXISTS catalog_book_search_vector()",
    "ALTER TABLE catalog_book DROP COLUMN IF EXISTS search_vector",
]


def run(statements_by_vendor: dict[str, list[str]]):
    def apply(apps, schema_editor) -> None:
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"No search index for the {schema_editor.connection.vendor} database.")
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_catalog")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        )
    ]
