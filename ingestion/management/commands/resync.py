import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ingestion import services
from ingestion.management.progress import follow
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Start a re-sync of one library (or every library with re-sync enabled) now."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Only this library.")
        parser.add_argument("--wait", action="store_true", help="Follow the jobs until they finish.")

    def handle(self, *args, tenant=None, wait=False, **options):
        if tenant is not None:
            libraries = list(Tenant.objects.filter(slug=tenant))
            if not libraries:
                raise CommandError(f"No library with the slug {tenant!r}.")
        else:
            libraries = list(Tenant.objects.filter(resync_enabled=True).order_by("slug"))
        jobs = []
        for library in libraries:
            with transaction.atomic():
                job = services.start_resync(tenant=library)
            jobs.append(job)
            self.stdout.write(f"Re-sync job {job.pk} created for {library.slug}.")
        if not jobs:
            self.stdout.write("No library has re-sync enabled.")
        if wait:
            for job in jobs:
                follow(job, self.stdout.write, interactive=sys.stdout.isatty())
