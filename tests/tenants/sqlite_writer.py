"""A concurrent writer for test_sqlite_concurrency, run in a child process with the real settings.

    python -m tests.tenants.sqlite_writer seed --slug counter
    python -m tests.tenants.sqlite_writer write --slug counter --threads 4 --iterations 50 --go FILE

`write` prints "ready" once Django is set up, waits for FILE to exist (so every process starts
writing at the same moment), then runs the threads. Each thread does, per iteration, one
read-then-write transaction on a counter kept in the tenant's name and one API key insert.
Any error in any thread makes the process exit 1 with the traceback on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import django


def seed(slug: str) -> None:
    from tenants.models import Tenant

    Tenant.objects.create(slug=slug, name="0")


def write(slug: str, iterations: int) -> None:
    from django.db import connection, transaction

    from tenants.models import Tenant
    from tenants.services import issue_api_key

    try:
        for number in range(iterations):
            with transaction.atomic():
                tenant = Tenant.objects.get(slug=slug)
                tenant.name = str(int(tenant.name) + 1)
                tenant.save(update_fields=["name"])
            issue_api_key(
                tenant=tenant,
                name=f"writer {os.getpid()}/{threading.get_ident()}/{number}",
                scopes=["catalog:read"],
            )
    finally:
        connection.close()


def wait_for(go_file: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{go_file} never appeared")
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed", "write"])
    parser.add_argument("--slug", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "olcs.settings")
    django.setup()

    if args.command == "seed":
        seed(args.slug)
        return 0

    failures: list[str] = []
    start = threading.Barrier(args.threads)

    def run() -> None:
        try:
            start.wait()
            write(args.slug, args.iterations)
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=run) for _ in range(args.threads)]
    print("ready", flush=True)
    if args.go is not None:
        wait_for(args.go)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
