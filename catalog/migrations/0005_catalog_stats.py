"""CatalogStats: each library's book count and catalog generation, kept by triggers.

SQLite: row triggers (writers take turns anyway). PostgreSQL: statement triggers over the
transition tables, one upsert per statement with the libraries in id order, so a bulk insert
pays once and two transactions always lock the libraries' rows in the same order. Filled for
the books that already exist.
"""

import django.db.models.deletion
from django.db import migrations, models

SQLITE_FORWARD = [
    """
    CREATE TRIGGER catalog_stats_insert AFTER INSERT ON catalog_book BEGIN
        INSERT INTO catalog_catalogstats (tenant_id, books, generation) VALUES (NEW.tenant_id, 1, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET books = books + 1, generation = generation + 1;
    END
    """,
    """
    CREATE TRIGGER catalog_stats_delete AFTER DELETE ON catalog_book BEGIN
        UPDATE catalog_catalogstats SET books = books - 1, generation = generation + 1
        WHERE tenant_id = OLD.tenant_id;
    END
    """,
    """
    CREATE TRIGGER catalog_stats_update AFTER UPDATE ON catalog_book BEGIN
        UPDATE catalog_catalogstats SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS catalog_stats_update",
    "DROP TRIGGER IF EXISTS catalog_stats_delete",
    "DROP TRIGGER IF EXISTS catalog_stats_insert",
]

POSTGRESQL_FORWARD = [
    """
    CREATE FUNCTION catalog_stats_added() RETURNS trigger AS $$
    BEGIN
        INSERT INTO catalog_catalogstats (tenant_id, books, generation)
        SELECT tenant_id, count(*), 1 FROM new_books GROUP BY tenant_id ORDER BY tenant_id
        ON CONFLICT (tenant_id) DO UPDATE SET
            books = catalog_catalogstats.books + EXCLUDED.books,
            generation = catalog_catalogstats.generation + 1;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION catalog_stats_removed() RETURNS trigger AS $$
    BEGIN
        UPDATE catalog_catalogstats AS stats SET books = stats.books - gone.books, generation = stats.generation + 1
        FROM (SELECT tenant_id, count(*) AS books FROM old_books GROUP BY tenant_id ORDER BY tenant_id) AS gone
        WHERE stats.tenant_id = gone.tenant_id;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION catalog_stats_changed() RETURNS trigger AS $$
    BEGIN
        UPDATE catalog_catalogstats AS stats SET generation = stats.generation + 1
        FROM (SELECT DISTINCT tenant_id FROM new_books ORDER BY tenant_id) AS changed
        WHERE stats.tenant_id = changed.tenant_id;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER catalog_stats_insert AFTER INSERT ON catalog_book
    REFERENCING NEW TABLE AS new_books FOR EACH STATEMENT EXECUTE FUNCTION catalog_stats_added()
    """,
    """
    CREATE TRIGGER catalog_stats_delete AFTER DELETE ON catalog_book
    REFERENCING OLD TABLE AS old_books FOR EACH STATEMENT EXECUTE FUNCTION catalog_stats_removed()
    """,
    """
    CREATE TRIGGER catalog_stats_update AFTER UPDATE ON catalog_book
    REFERENCING NEW TABLE AS new_books FOR EACH STATEMENT EXECUTE FUNCTION catalog_stats_changed()
    """,
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS catalog_stats_update ON catalog_book",
    "DROP TRIGGER IF EXISTS catalog_stats_delete ON catalog_book",
    "DROP TRIGGER IF EXISTS catalog_stats_insert ON catalog_book",
    "DROP FUNCTION IF EXISTS catalog_stats_changed()",
    "DROP FUNCTION IF EXISTS catalog_stats_removed()",
    "DROP FUNCTION IF EXISTS catalog_stats_added()",
]
FILL = """
    INSERT INTO catalog_catalogstats (tenant_id, books, generation)
    SELECT tenant_id, count(*), 1 FROM catalog_book GROUP BY tenant_id
"""


def run(statements_by_vendor: dict[str, list[str]]):
    def apply(apps, schema_editor) -> None:
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"No catalog stats triggers for the {schema_editor.connection.vendor} database.")
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_search_per_library"),
        ("tenants", "0002_tenant_resync_settings"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogStats",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="tenants.tenant",
                    ),
                ),
                ("books", models.BigIntegerField(default=0)),
                ("generation", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name_plural": "catalog stats"},
        ),
        migrations.RunPython(
            run({"sqlite": [*SQLITE_FORWARD, FILL], "postgresql": [*POSTGRESQL_FORWARD, FILL]}),
            run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        ),
    ]
