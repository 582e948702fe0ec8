from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The librarians' console as an app, so its template tags load (`{% load olcs_admin %}`)."""

    name = "olcs.console"
    label = "console"
