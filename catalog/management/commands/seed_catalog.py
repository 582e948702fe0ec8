import sys
import time

from django.core.management.base import BaseCommand, CommandError

from catalog.seeding import BATCH, BATCH_LIMIT, seed_catalog, seed_tenants


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Command(BaseCommand):
    help = (
        "Bulk-generate a realistic synthetic catalog (for benchmarks and demos) in libraries seed-1..seed-T."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenants", type=int, default=1, help="How many libraries (seed-1 … seed-T).")
        parser.add_argument("--books", type=int, required=True, help="Books in all, spread evenly.")
        parser.add_argument("--prefix", default="seed", help="Slug prefix of the libraries.")
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help="Random seed: the same seed, the same content (default: random).",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH, help="Books per transaction.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="PostgreSQL: connections writing side by side (default: one per CPU, up to 4).",
        )

    def handle(self, *args, tenants: int, books: int, prefix: str, seed, batch_size: int, workers, **options):
        if min(tenants, books, batch_size, workers or 1) < 1:
            raise CommandError("--tenants, --books, --batch-size and --workers must be at least 1.")
        if batch_size > BATCH_LIMIT:
            raise CommandError(f"--batch-size can be at most {BATCH_LIMIT:,}.")
        libraries = seed_tenants(tenants, prefix)
        started = time.perf_counter()
        interactive = sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            rate = done / max(elapsed, 1e-9)
            filled = int(30 * done / total)
            eta = (total - done) / rate if rate else 0
            line = (
                f"[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} books  {rate:,.0f}/s  "
                f"{_duration(elapsed)} elapsed, {_duration(eta)} left"
            )
            self.stderr.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
            self.stderr.flush()

        report = seed_catalog(
            tenants=libraries,
            books=books,
            seed=seed,
            progress=progress,
            batch_size=batch_size,
            workers=workers,
        )
        if interactive:
            self.stderr.write("")
        self.stdout.write(
            f"Seeded {report.books:,} books ({report.versions:,} versions) in {report.tenants} libraries "
            f"in {report.seconds:.1f} s = {report.rate:,.0f} books/s."
        )
