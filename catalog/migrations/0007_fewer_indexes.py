"""Fewer catalog indexes: each lookup is served by a unique index, and no tenant_id index alone.

Every catalog table already has indexes that start with tenant_id, so the foreign key's own
index on it only cost writes. The unique constraints of the link tables now put the looked-up
column before the book — (tenant, isbn13, book), (tenant, kind, value, book), (tenant, author,
book) — so they replace the separate lookup indexes; SQLite, without statistics, used to pick
the unique index with the book first and walk a library's entire ISBN list (24 ms for one ISBN
at a million books).

The foreign-key indexes are dropped by name rather than by AlterField: on SQLite AlterField
rebuilds the table, and rebuilding catalog_book would drop its search and stats triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ("author", "book", "bookauthor", "bookfacet", "bookisbn", "bookversion")


def _index_name(schema_editor, table: str) -> str:
    """The name Django gave the foreign key's index (the same on SQLite and PostgreSQL)."""
    return schema_editor._create_index_name(f"catalog_{table}", ["tenant_id"], suffix="")


def drop_tenant_indexes(apps, schema_editor) -> None:
    for table in TABLES:
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {schema_editor.quote_name(_index_name(schema_editor, table))}"
        )


def create_tenant_indexes(apps, schema_editor) -> None:
    for table in TABLES:
        name = schema_editor.quote_name(_index_name(schema_editor, table))
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON catalog_{table} (tenant_id)")


def tenant_field(related_name: str = "+") -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        to="tenants.tenant",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_search_vector_per_library"),
        ("tenants", "0002_tenant_resync_settings"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name=name, name="tenant", field=tenant_field())
                for name in TABLES
                if name != "book"
            ]
            + [migrations.AlterField(model_name="book", name="tenant", field=tenant_field("books"))],
            database_operations=[migrations.RunPython(drop_tenant_indexes, create_tenant_indexes)],
        ),
        migrations.RemoveConstraint(
            model_name="bookauthor",
            name="bookauthor_uniq",
        ),
        migrations.RemoveConstraint(
            model_name="bookfacet",
            name="bookfacet_uniq",
        ),
        migrations.RemoveConstraint(
            model_name="bookisbn",
            name="bookisbn_uniq",
        ),
        migrations.RemoveIndex(
            model_name="bookauthor",
            name="bookauthor_author_idx",
        ),
        migrations.RemoveIndex(
            model_name="bookfacet",
            name="bookfacet_lookup_idx",
        ),
        migrations.RemoveIndex(
            model_name="bookisbn",
            name="bookisbn_lookup_idx",
        ),
        migrations.AddConstraint(
            model_name="bookauthor",
            constraint=models.UniqueConstraint(fields=("tenant", "author", "book"), name="bookauthor_uniq"),
        ),
        migrations.AddConstraint(
            model_name="bookfacet",
            constraint=models.UniqueConstraint(
                fields=("tenant", "kind", "value", "book"), name="bookfacet_uniq"
            ),
        ),
        migrations.AddConstraint(
            model_name="bookisbn",
            constraint=models.UniqueConstraint(fields=("tenant", "isbn13", "book"), name="bookisbn_uniq"),
        ),
    ]
