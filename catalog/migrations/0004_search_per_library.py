"""SQLite: the FTS5 index keyed by library, so a search reads only its own library's entries.

Each word is indexed as `t<tenant id>x<word>` (catalog.search.library_words, registered on
every SQLite connection as the SQL function olcs_library_words). A query for `history` in
library 5 then reads the entries of `t5xhistory` and nothing of the other libraries: before,
the library was an unindexed column checked row by row after the match, which at a million
books in ten libraries cost 330 ms for a common word. PostgreSQL keeps its tsvector and GIN
index on (tenant_id, search_vector): GIN intersects the two itself.
"""

import importlib

from django.db import migrations

from catalog.search import register_sqlite_functions

previous = importlib.import_module("catalog.migrations.0002_search_index")

SQLITE_FTS_VALUES = """
    NEW.id,
    olcs_library_words(NEW.tenant_id, NEW.title),
    olcs_library_words(NEW.tenant_id, NEW.subtitle),
    olcs_library_words(NEW.tenant_id,
        (SELECT group_concat(json_extract(value, '$.name'), ' ') FROM json_each(NEW.authors_data))),
    olcs_library_words(NEW.tenant_id, (SELECT group_concat(value, ' ') FROM json_each(NEW.subjects))),
    olcs_library_words(NEW.tenant_id, (SELECT group_concat(value, ' ') FROM json_each(NEW.isbns)))
"""
FTS_COLUMNS = "rowid, title, subtitle, authors, subjects, isbns"

SQLITE_FORWARD = [
    *previous.SQLITE_BACKWARD,
    """
    CREATE VIRTUAL TABLE catalog_book_fts USING fts5(
        title, subtitle, authors, subjects, isbns,
        tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER catalog_book_fts_insert AFTER INSERT ON catalog_book BEGIN
        INSERT INTO catalog_book_fts ({FTS_COLUMNS}) VALUES ({SQLITE_FTS_VALUES});
    END
    """,
    """
    CREATE TRIGGER catalog_book_fts_delete AFTER DELETE ON catalog_book BEGIN
        DELETE FROM catalog_book_fts WHERE rowid = OLD.id;
    END
    """,
    f"""
    CREATE TRIGGER catalog_book_fts_update
    AFTER UPDATE OF tenant_id, title, subtitle, authors_data, subjects, isbns ON catalog_book BEGIN
        DELETE FROM catalog_book_fts WHERE rowid = OLD.id;
        INSERT INTO catalog_book_fts ({FTS_COLUMNS}) VALUES ({SQLITE_FTS_VALUES});
    END
    """,
    f"""
    INSERT INTO catalog_book_fts ({FTS_COLUMNS})
    SELECT {SQLITE_FTS_VALUES.replace("NEW.", "catalog_book.")} FROM catalog_book
    """,
]
SQLITE_BACKWARD = [*previous.SQLITE_BACKWARD, *previous.SQLITE_FORWARD]


def run(statements: list[str]):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return
        register_sqlite_functions(schema_editor.connection.connection)
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_unknown_year_sorts_first")]

    operations = [migrations.RunPython(run(SQLITE_FORWARD), run(SQLITE_BACKWARD))]
