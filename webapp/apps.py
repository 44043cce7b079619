from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_pragmas(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA busy_timeout = 30000;")


class FrontierConfig(AppConfig):
    name = "webapp"
    label = "frontier"
    verbose_name = "Frontier"

    def ready(self) -> None:
        connection_created.connect(_sqlite_pragmas)
