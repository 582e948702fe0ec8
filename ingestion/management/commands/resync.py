from django.core.management.base import BaseCommand, CommandError

from ingestion import services
from ingestion.management.progress import follow
from ingestion.models import IngestionJob
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
            try:
                # The operator's own command: not charged to the library's ingestion budget.
                job = services.start_resync(tenant=library, budget_exempt=True)
            except services.ResyncInProgress as exc:
                self.stdout.write(f"{library.slug}: {exc} Not started again.")
                continue
            jobs.append(job)
            self.stdout.write(f"Re-sync job {job.pk} created for {library.slug}.")
        if not libraries:
            self.stdout.write("No library has re-sync enabled.")
        if wait:
            finished = [follow(job, self.stdout.write, interactive=self.stdout.isatty()) for job in jobs]
            failed = [job for job in finished if job.status != IngestionJob.Status.COMPLETED]
            if failed:
                raise CommandError(
                    "; ".join(f"Job {job.pk} {job.status}: {job.error or 'see its log'}" for job in failed)
                )
