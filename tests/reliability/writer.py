"""A background writer for test_concurrent_writers, run in a child process with the real settings.

    python -m tests.reliability.writer --slug shared --name w1 --books 4 --iterations 40 --go FILE

Prints "ready" once Django is set up, waits for FILE (so every process starts at once), then
per iteration calls three real services that read then write rows other processes write too:
`upsert_book` on one of the library's shared works (new content every time, so a new version),
`record_submission` for the shared patron, and `take_slots` on the library's API limit. Prints
one JSON line: how many of each succeeded, and every error (type and message), instead of
stopping at the first one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import django

EMAIL = "rita.reader@example.org"


def shared_key(number: int) -> str:
    return f"/works/OL{900 + number}W"


def content(name: str, iteration: int, number: int) -> dict:
    return {
        "title": f"Shared work {number}",
        "subtitle": f"revision {iteration} by {name}",
        "description": None,
        "authors": [{"name": "Ann Author", "open_library_key": "/authors/OL1A"}],
        "subjects": ["Concurrency", f"{name}-{iteration}"],
        "languages": ["eng"],
        "first_publish_year": 1950 + number,
        "cover_id": None,
        "isbns": [],
        "edition_count": 1,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--books", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--go", type=Path, required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "olcs.settings")
    django.setup()
    from catalog.services import UpsertOutcome, upsert_book
    from patrons.models import SubmissionItem
    from patrons.pii import Personal
    from patrons.services import BookRequest, record_submission
    from tenants.models import Tenant
    from tenants.ratelimit import take_slots

    tenant = Tenant.objects.get(slug=args.slug)
    done = {"created": 0, "updated": 0, "unchanged": 0, "submissions": 0, "slots": 0}
    errors: list[str] = []

    def attempt(action) -> None:
        try:
            action()
        except Exception as exc:  # counted and reported: the test asserts there are none
            errors.append(f"{type(exc).__name__}: {exc}"[:300])

    def write_book(iteration: int) -> None:
        number = iteration % args.books
        _, outcome = upsert_book(
            tenant=tenant,
            open_library_key=shared_key(number),
            content=content(args.name, iteration, number),
        )
        done[UpsertOutcome(outcome).value] += 1

    def submit(iteration: int) -> None:
        key = shared_key(iteration % args.books)
        record_submission(
            tenant=tenant,
            email=Personal(EMAIL),
            name=Personal("Rita Reader"),
            books=[BookRequest(kind=SubmissionItem.Kind.WORK, input=key, open_library_key=key)],
        )
        done["submissions"] += 1

    def take_slot() -> None:
        usage = take_slots(tenant=tenant, bucket="api")
        if usage is None or not usage.allowed:
            raise RuntimeError(f"no API slot: {usage}")  # None: the store failed (fail open)
        done["slots"] += 1

    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while not args.go.exists():
        if time.monotonic() > deadline:
            print("the go file never appeared", file=sys.stderr)
            return 1
        time.sleep(0.01)
    started = time.monotonic()
    for iteration in range(args.iterations):
        attempt(lambda iteration=iteration: write_book(iteration))
        attempt(lambda iteration=iteration: submit(iteration))
        attempt(take_slot)
    print(json.dumps({**done, "errors": errors, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
