"""Books without a first publish year sort before every known year, BCE years included."""

from django.db import migrations

UNKNOWN_YEAR_SORT = -(2**31)  # catalog.models.UNKNOWN_YEAR_SORT when this was written


def forward(apps, schema_editor) -> None:
    Book = apps.get_model("catalog", "Book")
    Book.objects.filter(first_publish_year__isnull=True).update(year_sort=UNKNOWN_YEAR_SORT)


def backward(apps, schema_editor) -> None:
    Book = apps.get_model("catalog", "Book")
    Book.objects.filter(first_publish_year__isnull=True).update(year_sort=0)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_search_index")]

    operations = [migrations.RunPython(forward, backward)]
