"""Wiring: Django's admin with the librarians' site (a dashboard per library) as `admin.site`."""

from django.contrib.admin.apps import AdminConfig


class OlcsAdminConfig(AdminConfig):
    default_site = "olcs.console.sites.OlcsAdminSite"
