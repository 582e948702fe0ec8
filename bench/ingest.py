"""Ingestion benchmark: 1,000 works from a fake Open Library that answers after 100 ms.

Prints works/second, Open Library requests per work (target <= 1.5 for a query ingestion),
and the time and requests of a re-sync when nothing changed, then one where a few works did.

    .venv/bin/python bench/ingest.py                 # SQLite file in a temp dir, 3 req/s
    .venv/bin/python bench/ingest.py --rps 50        # the pipeline itself, less throttled
    DATABASE_URL=postgres://... .venv/bin/python bench/ingest.py

The jobs run in this process through the same service the worker calls (ingestion.services.run_job);
the fake Open Library is served over HTTP on loopback, so the real client, retries and the
shared throttle are all in the path.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--works", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the fake takes per answer")
    parser.add_argument("--rps", type=int, default=3, help="OPEN_LIBRARY_MAX_RPS for the run")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="olcs-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ["OPEN_LIBRARY_MAX_RPS"] = str(args.rps)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["INGESTION_SLICE_SECONDS"] = "100000"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "olcs.settings")
    # In-process on the development keys: development mode, as before DEBUG defaulted to false.
    os.environ.setdefault("DEBUG", "true")

    from tests.fake_openlibrary import FakeOpenLibrary

    fake = FakeOpenLibrary(latency=args.latency)
    for n in range(1, args.works + 1):
        fake.add_work(
            f"/works/OL{n}W",
            f"Benchmark volume {n}",
            authors=[(f"/authors/OL{n % 50 + 1}A", f"Author {n % 50}")],
            description=f"Volume {n} of the benchmark shelf.",
            subjects=["Benchmarks", f"Shelf {n % 10}"],
            covers=[n],
            first_publish_year=1900 + n % 120,
            edition_count=n % 7 + 1,
            last_modified=1_700_000_000 + n,
        )
    base_url, stop = fake.serve()
    os.environ["OPEN_LIBRARY_BASE_URL"] = base_url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from catalog.models import BookVersion
    from ingestion import services
    from ingestion.models import IngestionJob
    from tenants.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Benchmark Library"})
    print(
        f"database: {connection.vendor}   works: {args.works}   latency: {args.latency * 1000:.0f} ms   rps cap: {args.rps}"
    )

    def run(job: IngestionJob) -> tuple[IngestionJob, float, int]:
        fake.requests.clear()
        started = time.perf_counter()
        while services.run_job(job_id=job.pk) == "continued":
            pass
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        return job, elapsed, len(fake.requests)

    def create(**kwargs) -> IngestionJob:
        from django.db import transaction

        with transaction.atomic():
            # The operator's bench, like the operator's commands, is not charged to the budget.
            job = services.create_job(tenant=tenant, budget_exempt=True, **kwargs)
        # The bench runs the job itself; the on-commit enqueue went to the ORM broker, unused here.
        return job

    job, elapsed, requests_made = run(create(kind="query", query="author:Author", limit=args.works))
    print(
        f"query ingestion: {job.works_created} created in {elapsed:.1f} s = {job.works_created / elapsed:.1f} works/s; "
        f"{requests_made} Open Library requests = {requests_made / max(job.works_found, 1):.3f} per work (target <= 1.5)"
    )
    versions_before = BookVersion.objects.count()
    job, elapsed, requests_made = run(services.start_resync(tenant=tenant, budget_exempt=True))
    print(
        f"re-sync, nothing changed: {elapsed:.2f} s, {requests_made} requests for {job.works_found} works, "
        f"{job.works_unchanged} unchanged, {BookVersion.objects.count() - versions_before} new versions"
    )
    for n in range(1, 11):
        work = fake.works[f"/works/OL{n}W"]
        work.description = f"Revised blurb {n}."
        work.last_modified += 1000
    job, elapsed, requests_made = run(services.start_resync(tenant=tenant, budget_exempt=True))
    print(
        f"re-sync, 10 works changed: {elapsed:.2f} s, {requests_made} requests, "
        f"{job.works_updated} updated, {job.works_unchanged} unchanged"
    )
    stop()


if __name__ == "__main__":
    main()
