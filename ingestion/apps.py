from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IngestionConfig(AppConfig):
    name = "ingestion"
    verbose_name = "Ingestion"

    def ready(self) -> None:
        from ingestion.schedules import ensure_schedules_after_migrate

        post_migrate.connect(ensure_schedules_after_migrate, sender=self)
