from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0004_tracked_queries_plural"),
    ]

    operations = [
        migrations.AddField(
            model_name="ingestionjob",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
