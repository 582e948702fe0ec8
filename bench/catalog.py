"""Catalog read benchmark: a million books in ten libraries, read in-process and over HTTP.

Seeds the catalog with `seed_catalog` (unless it is already there), then measures p50/p95
latency and requests/second of: list page 1, a list page at offset ~100,000 and the same
depth by cursor, search for a common word, a rare word, a prefix and an ISBN, book detail,
and a diff. "In-process" runs Django's test client in this process; "HTTP" runs gunicorn with
2 workers on loopback and reports both the client's latency and the server's own time (the
`Server-Timing` header). Targets (server side): search p95 <= 30 ms, list by cursor <= 20 ms,
detail <= 10 ms.

    .venv/bin/python bench/catalog.py                                   # SQLite file in /tmp
    DATABASE_URL=postgres://olcs:olcs@127.0.0.1:5432/olcs_bench .venv/bin/python bench/catalog.py
    .venv/bin/python bench/catalog.py --books 100000 --requests 100     # quicker
    .venv/bin/python bench/catalog.py --no-search-cache --only search   # the search scenarios only
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--books", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200, help="per scenario and mode")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="client threads for requests/second over HTTP"
    )
    parser.add_argument(
        "--no-search-cache",
        action="store_true",
        help="SEARCH_CACHE_SECONDS=0: every search counts and ranks its matches (the cold case)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="only the scenarios whose name contains TEXT (repeatable), e.g. --only search",
    )
    args = parser.parse_args()

    default_db = Path(tempfile.gettempdir()) / f"olcs-bench-catalog-{args.books}.sqlite3"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{default_db}")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="olcs.settings",
        DEBUG="false",
        SERVER_TIMING="true",  # the server-side figures come from this header
        SECRET_KEY=secrets.token_urlsafe(64),
        HMAC_SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        # The catalog is measured here, not the per-library request budget (bench/ratelimit.py).
        RATE_LIMIT_ENABLED="false",
        SEARCH_CACHE_SECONDS="0" if args.no_search_cache else os.environ.get("SEARCH_CACHE_SECONDS", "300"),
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    from catalog.models import Book, BookIsbn
    from catalog.pagination import encode_cursor
    from catalog.seeding.vocabulary import RARE_WORDS
    from tenants.models import Tenant
    from tenants.services import issue_api_key

    slug = "seed-1"
    existing = Book.objects.count()
    if existing < args.books:
        print(
            f"seeding {args.books - existing:,} books into {args.tenants} libraries ({connection.vendor}) ...",
            flush=True,
        )
        started = time.perf_counter()
        call_command("seed_catalog", tenants=args.tenants, books=args.books - existing)
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
        if connection.vendor == "postgresql":
            # What autovacuum would do within minutes: the visibility map the search terms'
            # index-only scans need, and fresh statistics, before anything is measured.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE)")
    tenant = Tenant.objects.get(slug=slug)
    books = Book.objects.for_tenant(tenant)
    in_tenant = books.count()
    print(
        f"database: {connection.vendor}   books: {Book.objects.count():,} in {Tenant.objects.count()} libraries; "
        f"{in_tenant:,} in {slug}; search cache {'off' if args.no_search_cache else 'on'}",
        flush=True,
    )
    _, raw_key = issue_api_key(tenant=tenant, name="bench", scopes=["catalog:read"])

    rng = random.Random(7)
    depth = min(100_000, in_tenant - 20)
    at_depth = books.order_by("title_sort", "id").values_list("title_sort", "id")[depth - 1]
    cursor = encode_cursor({"o": "title", "k": [at_depth[0], at_depth[1]], "d": "n"})
    rare = next(w for w in RARE_WORDS if books.filter(title__icontains=w).exists())
    isbn = BookIsbn.objects.for_tenant(tenant).exclude(isbn10="").values_list("isbn10", flat=True)[1234]
    isbn_hyphenated = f"{isbn[0]}-{isbn[1:4]}-{isbn[4:9]}-{isbn[9]}"
    sample_ids = list(books.values_list("id", flat=True)[:: max(1, in_tenant // 500)][:500])
    diff_ids = list(books.filter(current_version__gte=2).values_list("id", flat=True)[:500])
    base = f"/tenants/{slug}/books"
    scenarios = {
        "list page 1": lambda: f"{base}/",
        f"list offset {depth:,}": lambda: f"{base}/?offset={depth}",
        f"list cursor at {depth:,}": lambda: f"{base}/?{urlencode({'cursor': cursor})}",
        "list by author name (müller)": lambda: f"{base}/?author=muller",
        "list by subject (history)": lambda: f"{base}/?subject=History",
        "search common word": lambda: f"{base}/search?q=history",
        f"search rare word ({rare})": lambda: f"{base}/search?q={rare}",
        "search prefix (mou)": lambda: f"{base}/search?q=mou",
        "search ISBN-10": lambda: f"{base}/search?q={isbn_hyphenated}",
        "detail": lambda: f"{base}/{rng.choice(sample_ids)}",
        "diff v1..v2": lambda: f"{base}/{rng.choice(diff_ids)}/versions/1/diff/2",
    }
    if args.only:
        scenarios = {
            name: path for name, path in scenarios.items() if any(text in name for text in args.only)
        }
    headers = {"Authorization": f"Bearer {raw_key}"}

    print(f"\nin-process (Django test client), {args.requests} requests each")
    client = Client(HTTP_AUTHORIZATION=headers["Authorization"])
    report = []
    for name, path in scenarios.items():
        for _ in range(5):
            client.get(path())  # warm caches
        times = []
        started = time.perf_counter()
        for _ in range(args.requests):
            t0 = time.perf_counter()
            response = client.get(path())
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (name, response.status_code, response.content[:200])
        elapsed = time.perf_counter() - started
        report.append((name, times, args.requests / elapsed))
    print_table(report, ["p50 ms", "p95 ms", "req/s"])

    connection.close()
    http_report = run_http(scenarios, headers, args)
    print(
        f"\nHTTP, gunicorn 2 workers on loopback, {args.requests} sequential requests each "
        f"(+ {args.concurrency} threads for req/s); server = Server-Timing"
    )
    print_table(http_report, ["server p50", "server p95", "client p50", "client p95", "req/s"])


def run_http(scenarios, headers, args):
    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "olcs.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/health", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.3)
        session = requests.Session()
        session.headers.update(headers)
        report = []
        for name, path in scenarios.items():
            for _ in range(5):
                session.get(url + path())
            server_times, client_times = [], []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                response = session.get(url + path())
                client_times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, (name, response.status_code, response.text[:200])
                server_times.append(
                    float(re.search(r"dur=([\d.]+)", response.headers["Server-Timing"]).group(1))
                )

            def one(_, make_path=path):
                return requests.get(url + make_path(), headers=headers, timeout=30).status_code

            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                statuses = list(pool.map(one, range(args.requests)))
            rps = args.requests / (time.perf_counter() - started)
            assert set(statuses) == {200}, statuses
            report.append((name, server_times, client_times, rps))
        return report
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def print_table(rows, columns) -> None:
    width = max(len(row[0]) for row in rows) + 2
    print(f"{'':{width}}" + "".join(f"{c:>12}" for c in columns))
    for row in rows:
        name, *series, rps = row
        cells = []
        for values in series:
            cells += [percentile(values, 50), percentile(values, 95)]
        print(f"{name:{width}}" + "".join(f"{c:>12.1f}" for c in cells) + f"{rps:>12.0f}")


if __name__ == "__main__":
    main()
