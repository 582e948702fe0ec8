from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_search_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        from catalog.search import register_sqlite_functions

        register_sqlite_functions(connection.connection)


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        connection_created.connect(_register_search_functions, dispatch_uid="catalog-search-functions")
