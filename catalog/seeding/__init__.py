"""A realistic synthetic catalog, generated inside the database: for benchmarks, demos and load tests.

Titles draw words with a long-tailed (Zipf-like) frequency, rare words included; authors carry
accents (a pool of `AUTHORS_PER_TENANT` per library, one or two per book); ISBN-13s have valid
check digits; each book has one to three versions whose snapshots differ as real upstream edits
would (more editions, a description or a cover added later).

How: Python only fills a few small tables (word bag, subjects, languages, ISBN digit sums, the
author pool). A batch of books is then a handful of INSERT … SELECT statements: random numbers
drawn in SQL become each book's texts and JSON and each version's canonical snapshot and hash,
and those fill every catalog table. The derived columns are computed twice on purpose, for speed:
here in SQL (catalog.seeding.plan, catalog.seeding.writer) and in Python by the ORM path
(catalog.services.upsert_book); tests/catalog/test_seed.py checks the seeder writes what
upsert_book writes, row by row, on SQLite and on PostgreSQL.

- vocabulary: the word lists, names, subjects and the small tables drawn from;
- plan: the batches, and the SQL that makes a batch (both dialects, reproducible randomness);
- writer: the SQL that writes a batch into the catalog, the connection's bulk-load settings,
  the trigger handling and the WAL checkpointer;
- generator: SQLite's generator process, a standard-library-only script of its own.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from catalog.seeding.plan import AUTHORS_PER_TENANT, BATCH, BATCH_LIMIT, _Plan, plan_batches
from catalog.seeding.writer import _Session
from tenants.models import Tenant

__all__ = ["AUTHORS_PER_TENANT", "BATCH", "BATCH_LIMIT", "SeedReport", "seed_catalog", "seed_tenants"]


@dataclass
class SeedReport:
    tenants: int
    books: int
    versions: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.books / max(self.seconds, 1e-9)


def seed_tenants(count: int, prefix: str = "seed") -> list[Tenant]:
    tenants = []
    for n in range(1, count + 1):
        tenant, _ = Tenant.objects.get_or_create(slug=f"{prefix}-{n}", defaults={"name": f"Seed Library {n}"})
        tenants.append(tenant)
    return tenants


def seed_catalog(
    *,
    tenants: list[Tenant],
    books: int,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH,
    workers: int | None = None,
) -> SeedReport:
    """Add `books` synthetic books spread evenly over `tenants`; the same `seed`, the same content.

    Each batch of `batch_size` books (the libraries one after the other, so a batch may hold
    the end of one and the start of the next) is one transaction; `progress(done, total)` is
    called after each. `workers`: PostgreSQL connections writing batches side by side
    (default: one per CPU, up to 4; the same seed then gives the same catalog for the same
    number of workers). SQLite has one writer.
    """
    started = time.perf_counter()
    if not tenants:
        raise ValueError("seed_catalog needs at least one library")
    if not 1 <= batch_size <= BATCH_LIMIT:
        raise ValueError(f"batch_size must be between 1 and {BATCH_LIMIT:,}")
    per_tenant = [books // len(tenants) + (1 if i < books % len(tenants) else 0) for i in range(len(tenants))]
    jobs = plan_batches(
        [(tenant.pk, count) for tenant, count in zip(tenants, per_tenant, strict=True)], batch_size
    )
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    plan = _Plan(connection.vendor, batch_size)
    done = versions = 0
    with _Session(plan, rng if seed is not None else None, seed, workers=workers) as session:
        pools = {tenant.pk: session.author_pool(tenant, rng) for tenant in tenants}
        for size, written in session.run(jobs, pools):
            done += size
            versions += written
            if progress:
                progress(done, books)
    return SeedReport(len(tenants), done, versions, time.perf_counter() - started)
