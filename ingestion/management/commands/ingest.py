from django.core.management.base import BaseCommand, CommandError

from ingestion import services
from ingestion.management.progress import follow
from ingestion.models import IngestionJob
from ingestion.serializers import IngestionRequestSerializer
from olcs.http import flatten_errors
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Ingest works from Open Library into a library's catalog (runs on the worker)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--query", help="author:X, subject:X, title:X or free text.")
        what.add_argument("--keys", nargs="+", metavar="KEY", help="Work or edition keys.")
        what.add_argument("--isbns", nargs="+", metavar="ISBN")
        parser.add_argument(
            "--limit", type=int, default=None, help="Most works to ingest (1-1000, default 50)."
        )
        parser.add_argument("--wait", action="store_true", help="Follow the job until it finishes.")
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="Run the job in this process instead of on the worker (implies --wait).",
        )

    def handle(
        self,
        *args,
        tenant,
        query=None,
        keys=None,
        isbns=None,
        limit=None,
        wait=False,
        in_process=False,
        **options,
    ):
        library = Tenant.objects.filter(slug=tenant).first()
        if library is None:
            raise CommandError(f"No library with the slug {tenant!r}.")
        payload = (
            {"query": query}
            if query is not None
            else {"open_library_keys": keys}
            if keys
            else {"isbns": isbns}
        )
        if limit is not None:
            payload["limit"] = limit
        request = IngestionRequestSerializer(data=payload)
        if not request.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in flatten_errors(request.errors).items()
            )
            raise CommandError(f"Invalid request: {problems}")
        data = request.validated_data
        try:
            job = services.create_job(
                tenant=library,
                kind=data["kind"],
                query=data.get("query", ""),
                open_library_keys=data.get("open_library_keys", ()),
                isbns=data.get("isbns", ()),
                limit=data["limit"],
                # The operator's own command: not charged to the library's ingestion budget.
                budget_exempt=True,
            )
        except services.TooManyTrackedQueries as exc:
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(f"Job {job.pk} created for {library.slug} ({job.get_kind_display()}).")
        if in_process:
            while services.run_job(job_id=job.pk) == "continued":
                pass
        if wait or in_process:
            job = follow(job, self.stdout.write, interactive=self.stdout.isatty() and not in_process)
            if job.status != IngestionJob.Status.COMPLETED:
                raise CommandError(f"Job {job.pk} {job.status}: {job.error or 'see its log'}")
            self.stdout.write(self.style.SUCCESS(f"Job {job.pk} completed."))
