"""Soak test: two libraries under steady mixed traffic for 10 minutes, on SQLite or PostgreSQL.

The script runs a real deployment with production settings (DEBUG off) on a fresh database:
`migrate`, two libraries made with `create_tenant`, gunicorn with 2 workers and one qcluster,
plus a fake Open Library served in this process on loopback. It seeds each library by
ingestion (some works twice, so that they have two versions), measures saturation with a short
open-loop ramp of the same mix (unless --saturation is given), then sends traffic at half of it:
a 1-minute warm-up, then 10 measured minutes. The mix, for both libraries alike: list pages,
cursor pages, search, detail, diff, rate-limit reads, patron submissions (ISBNs the fake knows:
one already in the catalog, up to two not yet), ingestion jobs (a few keys, some changed
upstream meanwhile), and a few requests that must fail (another library's book: 404; a wrong
ISBN check digit: 400).

Targets: errors < 0.1 % (any 5xx, connection error or unexpected status; intended 4xx and
429s are not errors), read p95 < 300 ms, RSS growth of the gunicorn and qcluster process trees
< 10 % (first minute after the warm-up against the last minute), the task queue empty within
the broker's retry interval after the load stops, and no "database is locked" in the logs.

    timeout 900 .venv/bin/python bench/soak.py --database sqlite
    timeout 900 .venv/bin/python bench/soak.py --database postgres --json /tmp/soak-pg.json
    .venv/bin/python bench/soak.py --warmup 5 --duration 20 --saturation 40     # a smoke run

PostgreSQL: the database of --postgres-url (default olcs_soak) is dropped and created again;
the role needs CREATEDB. Rate limits stay on, with limits too high to be reached, so the
limiter's writes are in every request. Logs of gunicorn and qcluster stay in the work
directory printed at the start. Everything the script starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.submissions import free_port, isbn13, manage, stop, wait_until_ready  # noqa: E402
from tests.fake_openlibrary import FakeOpenLibrary  # noqa: E402

ERROR_TARGET_PCT = 0.1
READ_P95_TARGET_MS = 300
RSS_GROWTH_TARGET_PCT = 10
SAMPLE_SECONDS = 5
WORDS = [
    "harbor",
    "lantern",
    "meadow",
    "quarry",
    "saffron",
    "thistle",
    "willow",
    "ember",
    "orchard",
    "cinder",
]
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Castellanos", "Novak", "Haddad", "Brennan"]
SLUGS = ("soak-north", "soak-south")


@dataclass
class Library:
    slug: str
    key: str
    book_ids: list[str] = field(default_factory=list)
    diff_ids: list[str] = field(default_factory=list)
    cursor_urls: list[str] = field(default_factory=list)
    next_new_work: itertools.count = field(default_factory=lambda: itertools.count())


@dataclass
class Result:
    phase: str
    kind: str
    category: str  # read or write
    status: int | None  # None: no answer (connection error, timeout)
    ms: float
    outcome: str  # ok, intended-4xx, error


# --- The fake Open Library ------------------------------------------------------------------


def build_fake(*, works: int, seed: int, latency: float) -> FakeOpenLibrary:
    """Works 1..seed are the 'soak' shelf the libraries ingest; the rest only patrons ask for."""
    fake = FakeOpenLibrary(latency=latency)
    for n in range(1, works + 1):
        fake.add_work(
            f"/works/OL{n}W",
            f"{WORDS[n % 10].title()} {WORDS[n // 10 % 10]} volume {n}",
            authors=[(f"/authors/OL{n % 40 + 1}A", f"{SURNAMES[n % 8]} {WORDS[n % 7]}")],
            description=f"Volume {n}.",
            subjects=["Soak shelf" if n <= seed else "Reading list", f"Topic {n % 12}"],
            covers=[n],
            isbns=[isbn13(n)],
            first_publish_year=1900 + n % 120,
            last_modified=1_700_000_000 + n,
        )
    return fake


def change_upstream(fake: FakeOpenLibrary, n: int) -> None:
    """Work n changes on Open Library: its next ingestion makes a new version."""
    work = fake.works[f"/works/OL{n}W"]
    work.last_modified += 1
    work.description = f"Volume {n}, revised at {work.last_modified}."


# --- Processes: the trees of gunicorn and qcluster -------------------------------------------


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as stat:
                text = stat.read()
        except OSError:
            continue
        pid = int(path.split("/")[2])
        children[int(text.rsplit(")", 1)[1].split()[1])].append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def open_fds(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return total


def start_logged(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """Like bench.submissions.start, but keeps stderr: the logs are grepped at the end."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            list(args), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


# --- Traffic --------------------------------------------------------------------------------


class Traffic:
    """Picks the next request of the mix and sends it. Thread-safe."""

    READS = {"list": 15, "cursor page": 15, "search": 20, "detail": 15, "diff": 8, "rate-limits": 5}
    WRITES = {"submission": 8, "ingestion": 2}
    INTENDED_4XX = {"other library's book (404)": 2, "wrong ISBN (400)": 1}

    def __init__(self, *, base: str, libraries: list[Library], fake: FakeOpenLibrary, seed: int, works: int):
        self.base = base
        self.libraries = libraries
        self.fake = fake
        self.seed = seed
        self.works = works
        self.lock = threading.Lock()
        self.rng = random.Random(9)
        self.results: list[Result] = []

    def pick(self) -> str:
        mix = {**self.READS, **self.WRITES, **self.INTENDED_4XX}
        with self.lock:
            return self.rng.choices(list(mix), weights=list(mix.values()))[0]

    def request(self, kind: str) -> tuple[str, str, dict | None, set[int], str]:
        """(method, url, json body, expected statuses, category) of one request of `kind`."""
        with self.lock:
            rng = self.rng
            library = rng.choice(self.libraries)
            books = f"{self.base}/tenants/{library.slug}/books"
            if kind == "list":
                ordering = rng.choice(["title", "-updated_at", "first_publish_year"])
                return "GET", f"{books}/?ordering={ordering}&limit=20", None, {200}, "read"
            if kind == "cursor page":
                return "GET", rng.choice(library.cursor_urls), None, {200}, "read"
            if kind == "search":
                n = rng.randint(1, self.seed)
                q = rng.choice(
                    [
                        WORDS[n % 10],
                        WORDS[n % 10][:4],
                        f"{WORDS[n % 10]} {WORDS[n // 10 % 10]}",
                        SURNAMES[n % 8],
                        f"volume {n}",
                        isbn13(n),
                    ]
                )
                return "GET", f"{books}/search?q={quote(q)}", None, {200}, "read"
            if kind == "detail":
                return "GET", f"{books}/{rng.choice(library.book_ids)}", None, {200}, "read"
            if kind == "diff":
                return "GET", f"{books}/{rng.choice(library.diff_ids)}/versions/1/diff/2", None, {200}, "read"
            if kind == "rate-limits":
                return "GET", f"{self.base}/tenants/{library.slug}/rate-limits/", None, {200}, "read"
            if kind == "other library's book (404)":
                other = next(lib for lib in self.libraries if lib is not library)
                return "GET", f"{books}/{rng.choice(other.book_ids)}", None, {404}, "read"
            submissions = f"{self.base}/tenants/{library.slug}/submissions/"
            patron = rng.randint(1, 200)
            if kind == "submission":
                isbns = [isbn13(rng.randint(1, self.seed))]
                for _ in range(rng.randint(0, 2)):
                    # Works beyond the seed, in turn: new to this library, so a worker resolves them.
                    isbns.append(
                        isbn13(self.seed + 1 + next(library.next_new_work) % (self.works - self.seed))
                    )
                body = {
                    "email": f"Reader.{patron}@Example.org",
                    "name": f"Reader {patron}",
                    "books": [{"isbn": isbn} for isbn in isbns],
                }
                return "POST", submissions, body, {201, 202}, "write"
            if kind == "wrong ISBN (400)":
                wrong = isbn13(rng.randint(1, self.seed))
                wrong = wrong[:-1] + str((int(wrong[-1]) + 1) % 10)
                body = {"email": f"reader.{patron}@example.org", "name": "R", "books": [{"isbn": wrong}]}
                return "POST", submissions, body, {400}, "write"
            # ingestion: a few works of the shelf, about one in three changed upstream meanwhile
            numbers = rng.sample(range(1, self.seed + 1), rng.randint(1, 4))
            for n in numbers:
                if rng.random() < 0.3:
                    change_upstream(self.fake, n)
            body = {"open_library_keys": [f"OL{n}W" for n in numbers]}
            return "POST", f"{self.base}/tenants/{library.slug}/ingestion/", body, {202}, "write"

    def send(self, kind: str, phase: str) -> Result:
        method, url, body, expected, category = self.request(kind)
        library = next(lib for lib in self.libraries if f"/tenants/{lib.slug}/" in url)
        headers = {"Authorization": f"Bearer {library.key}"}
        started = time.perf_counter()
        try:
            response = requests.request(method, url, json=body, headers=headers, timeout=30)
            status = response.status_code
        except requests.RequestException:
            status = None
        ms = (time.perf_counter() - started) * 1000
        if status in expected:
            outcome = "intended-4xx" if status >= 400 else "ok"
        elif status == 429:
            outcome = "intended-4xx"  # throttled: the limits are set out of reach, but it is a 4xx by design
        else:
            outcome = "error"
        result = Result(phase, kind, category, status, ms, outcome)
        with self.lock:
            self.results.append(result)
        return result


def open_loop(
    traffic: Traffic, *, rate: float, seconds: float, phase: str, pool: ThreadPoolExecutor
) -> float:
    """Send at `rate` per second for `seconds`, not waiting for answers. Returns the worst
    lag of a send behind its schedule (the client keeping up)."""
    started = time.monotonic()
    worst_lag = 0.0
    for k in itertools.count():
        due = started + k / rate
        if due - started >= seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            worst_lag = max(worst_lag, -delay)
        pool.submit(traffic.send, traffic.pick(), phase)
    return worst_lag


def ramp(
    traffic: Traffic, *, rates: list[int], seconds: float, pool: ThreadPoolExecutor
) -> tuple[float, list[dict]]:
    """The soak's own mix, open loop, at growing rates until p95 passes the read target, errors
    pass 1 % or the answers fall behind. Saturation: the highest rate that held."""
    rows = []
    # A neighbour's burst on a shared machine can spoil one short step: a step that misses is
    # run again once, and the ramp ends only when the same rate misses twice.
    for rate, attempt in ((rate, attempt) for rate in rates for attempt in (1, 2)):
        if attempt == 2 and rows[-1]["held"]:
            continue
        phase = f"ramp-{rate}-{attempt}"
        began = time.monotonic()
        open_loop(traffic, rate=rate, seconds=seconds, phase=phase, pool=pool)
        wait_until = time.monotonic() + 35  # the answers still on their way (30 s timeout each)
        while sum(r.phase == phase for r in traffic.results) < round(rate * seconds) - 1:
            if time.monotonic() > wait_until:
                break
            time.sleep(0.05)
        done = [r for r in traffic.results if r.phase == phase]
        row = {
            "rate": rate,
            "attempt": attempt,
            "answered_rps": len(done) / (time.monotonic() - began),
            "p95_ms": percentile([r.ms for r in done], 95),
            "errors": sum(r.outcome == "error" for r in done),
            "requests": len(done),
        }
        row["held"] = (
            row["p95_ms"] <= READ_P95_TARGET_MS
            and row["errors"] <= 0.01 * row["requests"]
            and row["answered_rps"] >= 0.9 * rate
        )
        rows.append(row)
        print(
            f"  ramp: {rate:3} req/s offered, {row['answered_rps']:5.1f} answered, p95 {row['p95_ms']:6.1f} ms, "
            f"errors {row['errors']}"
            + ("" if row["held"] else "  <- missed" if attempt == 1 else "  <- saturated"),
            flush=True,
        )
        if attempt == 2 and not row["held"]:
            break
    held = [r["rate"] for r in rows if r["held"]]
    return float(max(held) if held else rates[0]), rows


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# --- The deployment's state, read from its database ----------------------------------------


def queue_state() -> dict[str, int]:
    from django.db import connection
    from django_q.models import OrmQ

    from ingestion.models import IngestionJob
    from patrons.models import Submission

    try:
        return {
            "queued_tasks": OrmQ.objects.count(),
            "unfinished_jobs": IngestionJob.objects.filter(status__in=["pending", "running"]).count(),
            "resolving_submissions": Submission.objects.filter(status="resolving").count(),
        }
    finally:
        connection.close()


class Sampler(threading.Thread):
    """Every few seconds: RSS and open files of both process trees, the queue, the load."""

    def __init__(self, *, web: int, worker: int):
        super().__init__(daemon=True)
        self.roots = {"gunicorn": web, "qcluster": worker}
        self.samples: list[dict] = []
        self.finish = threading.Event()

    def sample(self) -> dict:
        row: dict = {"t": time.monotonic(), "load": os.getloadavg()[0]}
        for name, root in self.roots.items():
            tree = process_tree(root)
            row[f"{name}_rss_kib"] = rss_kib(tree)
            row[f"{name}_fds"] = open_fds(tree)
            row[f"{name}_processes"] = len(tree)
        row.update(queue_state())
        return row

    def run(self) -> None:
        while not self.finish.wait(SAMPLE_SECONDS):
            self.samples.append(self.sample())

    def between(self, start: float, end: float) -> list[dict]:
        return [s for s in self.samples if start <= s["t"] <= end]


# --- Setting up -------------------------------------------------------------------------------


def fresh_database(args) -> str:
    if args.database == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='olcs-soak-')}/soak.sqlite3"
    import psycopg

    parts = urlsplit(args.postgres_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return args.postgres_url


def call(library: Library, method: str, url: str, **kwargs) -> requests.Response:
    response = requests.request(
        method, url, headers={"Authorization": f"Bearer {library.key}"}, timeout=60, **kwargs
    )
    if response.status_code >= 300:
        raise SystemExit(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
    return response


def ingest_and_wait(base: str, libraries: list[Library], body: dict) -> None:
    """One ingestion job per library, all at once; waits until every one has completed."""
    jobs = {
        library.slug: call(library, "POST", f"{base}/tenants/{library.slug}/ingestion/", json=body).json()
        for library in libraries
    }
    deadline = time.monotonic() + 180
    for library in libraries:
        job = jobs[library.slug]
        while job["status"] in ("pending", "running"):
            if time.monotonic() > deadline:
                raise SystemExit(f"seed ingestion of {library.slug} did not finish: {job}")
            time.sleep(0.5)
            job = call(library, "GET", f"{base}/tenants/{library.slug}/ingestion/jobs/{job['id']}").json()
        if job["status"] != "completed":
            raise SystemExit(f"seed ingestion of {library.slug} ended {job['status']}: {job.get('error')}")


def seed(base: str, libraries: list[Library], fake: FakeOpenLibrary, works: int) -> None:
    """Ingest the shelf, change half of it upstream and ingest again (second versions for the
    diffs), then collect each library's book ids and cursor pages."""
    started = time.monotonic()
    ingest_and_wait(base, libraries, {"query": "subject:soak", "limit": works})
    print(f"seed ingestion took {time.monotonic() - started:.0f} s", flush=True)
    for n in range(1, works + 1, 2):
        change_upstream(fake, n)
    ingest_and_wait(base, libraries, {"query": "subject:soak", "limit": works})
    for library in libraries:
        url = f"{base}/tenants/{library.slug}/books/?ordering=title&limit=20"
        while url:
            page = call(library, "GET", url).json()
            library.book_ids += [book["id"] for book in page["items"]]
            library.diff_ids += [book["id"] for book in page["items"] if book["current_version"] >= 2]
            url = page["next"]
            if url:
                library.cursor_urls.append(url)


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # runs the finally: everything is stopped


def main() -> None:
    began = time.monotonic()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgres://olcs:olcs@127.0.0.1:5432/olcs_soak", help="dropped and created"
    )
    parser.add_argument("--duration", type=float, default=600, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=60, help="seconds of load before measuring")
    parser.add_argument(
        "--saturation", type=float, help="requests/s of the mix the deployment saturates at (skips the ramp)"
    )
    parser.add_argument(
        "--load-share", type=float, default=0.5, help="the soak's rate, as a share of saturation"
    )
    parser.add_argument("--ramp-seconds", type=float, default=6, help="per step of the ramp")
    parser.add_argument("--seed", type=int, default=200, help="works each library ingests before the load")
    parser.add_argument("--works", type=int, default=8000, help="works the fake Open Library knows")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the fake takes per answer")
    parser.add_argument("--rps", type=int, default=50, help="OPEN_LIBRARY_MAX_RPS for the run")
    parser.add_argument(
        "--budget", type=float, default=880, help="seconds the whole run may take (timeout 900)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    fake = build_fake(works=args.works, seed=args.seed, latency=args.latency)
    open_library_url, stop_fake = fake.serve()
    database_url = fresh_database(args)
    workdir = Path(tempfile.mkdtemp(prefix=f"olcs-soak-{args.database}-logs-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("HMAC_SECRET_KEYS", "REDIS_URL", "TESTING"):
        env.pop(name, None)
    limit = "100000000"
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        HMAC_SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DJANGO_SETTINGS_MODULE="olcs.settings",
        OPEN_LIBRARY_BASE_URL=open_library_url,
        OPEN_LIBRARY_MAX_RPS=str(args.rps),
        # Limits on, out of reach: the limiter's writes are in the path, no request is refused.
        RATE_LIMIT_ENABLED="true",
        API_RATE_LIMIT_REQUESTS=limit,
        INGESTION_RATE_LIMIT_REQUESTS=limit,
        LOG_LEVEL="WARNING",
        Q_WORKERS="2",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django_q.models import Failure, Success

    from ingestion.models import IngestionJob
    from patrons.models import Submission

    retry_seconds = settings.Q_CLUSTER["retry"]
    print(f"database: {args.database} ({database_url})   logs: {workdir}", flush=True)
    manage(env, "migrate", "--noinput")
    print(f"migrated in {time.monotonic() - began:.0f} s", flush=True)
    libraries = []
    for slug in SLUGS:
        created = json.loads(manage(env, "create_tenant", "--name", f"Soak {slug}", "--slug", slug, "--json"))
        libraries.append(Library(slug=slug, key=created["api_key"]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    worker = start_logged(env, workdir / "qcluster.log", sys.executable, "manage.py", "qcluster")
    web = start_logged(
        env, workdir / "gunicorn.log", gunicorn, "olcs.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"
    )
    processes = [web, worker]
    sampler = Sampler(web=web.pid, worker=worker.pid)
    pool = ThreadPoolExecutor(max_workers=64)
    report: dict = {}
    try:
        wait_until_ready(base)
        print(f"gunicorn and qcluster up after {time.monotonic() - began:.0f} s", flush=True)
        seed(base, libraries, fake, args.seed)
        print(
            "seeded: "
            + ", ".join(
                f"{lib.slug} {len(lib.book_ids)} books ({len(lib.diff_ids)} with 2 versions)"
                for lib in libraries
            )
            + f"   setup took {time.monotonic() - began:.0f} s",
            flush=True,
        )
        traffic = Traffic(base=base, libraries=libraries, fake=fake, seed=args.seed, works=args.works)

        ramp_rows: list[dict] = []
        if args.saturation:
            saturation = args.saturation
            print(f"saturation: {saturation:.1f} req/s (given)")
        else:
            saturation, ramp_rows = ramp(
                traffic, rates=[5, 10, 15, 20, 25, 30, 40, 50, 60, 80], seconds=args.ramp_seconds, pool=pool
            )
            print(f"saturation: {saturation:.1f} req/s (measured)")
        rate = saturation * args.load_share
        left = args.budget - (time.monotonic() - began)
        if args.warmup + args.duration + 30 > left:
            raise SystemExit(f"warm-up + duration do not fit the {left:.0f} s left of the budget")
        print(
            f"load: {rate:.1f} req/s, warm-up {args.warmup:.0f} s, measured {args.duration:.0f} s", flush=True
        )

        load_at_start = os.getloadavg()
        sampler.start()
        lag_warmup = open_loop(traffic, rate=rate, seconds=args.warmup, phase="warmup", pool=pool)
        measured_from = time.monotonic()
        lag = open_loop(traffic, rate=rate, seconds=args.duration, phase="soak", pool=pool)
        pool.shutdown(wait=True)  # the answers still on their way
        load_stopped = time.monotonic()
        end_sample = sampler.sample()
        load_at_end = os.getloadavg()

        drain_deadline = min(load_stopped + retry_seconds, began + args.budget - 10)
        state = queue_state()
        while any(state.values()) and time.monotonic() < drain_deadline:
            time.sleep(0.5)
            state = queue_state()
        drained_s = time.monotonic() - load_stopped if not any(state.values()) else None
        sampler.finish.set()
        sampler.join()

        window = min(60.0, args.duration / 3)
        first = sampler.between(measured_from, measured_from + window)
        last = sampler.between(load_stopped - window, load_stopped) or [end_sample]
        logs = {
            name: (workdir / f"{name}.log").read_text(errors="replace") for name in ("gunicorn", "qcluster")
        }
        soak = [r for r in traffic.results if r.phase == "soak"]
        report = summarize(
            args=args,
            soak=soak,
            rate=rate,
            saturation=saturation,
            ramp_rows=ramp_rows,
            first=first,
            last=last,
            end_sample=end_sample,
            drained_s=drained_s,
            state_after=state,
            retry_seconds=retry_seconds,
            logs=logs,
            loads=(load_at_start, load_at_end),
            mean_load=statistics.mean(s["load"] for s in sampler.samples) if sampler.samples else None,
            lags=(lag_warmup, lag),
            worker={
                "tasks_succeeded": Success.objects.count(),
                "tasks_failed": Failure.objects.count(),
                "jobs": dict(Counter(IngestionJob.objects.values_list("status", flat=True))),
                "submissions": dict(Counter(Submission.objects.values_list("status", flat=True))),
            },
        )
        report["logs"] = str(workdir)
        report["samples"] = [
            {**sample, "t": round(sample["t"] - measured_from, 1)} for sample in sampler.samples
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        sampler.finish.set()
        stop(processes)
        stop_fake()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    sys.exit(0 if report.get("targets_met") else 1)


def summarize(
    *,
    args,
    soak,
    rate,
    saturation,
    ramp_rows,
    first,
    last,
    end_sample,
    drained_s,
    state_after,
    retry_seconds,
    logs,
    loads,
    mean_load,
    lags,
    worker,
) -> dict:
    outcomes = Counter(r.outcome for r in soak)
    errors = [r for r in soak if r.outcome == "error"]
    error_pct = 100 * len(errors) / len(soak) if soak else 0.0
    intended = Counter(r.status for r in soak if r.outcome == "intended-4xx")
    latency = {}
    for category in ("read", "write"):
        values = [r.ms for r in soak if r.category == category and r.status is not None]
        latency[category] = {p: percentile(values, p) for p in (50, 95, 99)} | {"count": len(values)}
    kinds = {}
    for kind in [*Traffic.READS, *Traffic.WRITES, *Traffic.INTENDED_4XX]:
        values = [r.ms for r in soak if r.kind == kind and r.status is not None]
        kinds[kind] = {
            "count": sum(r.kind == kind for r in soak),
            "errors": sum(r.kind == kind and r.outcome == "error" for r in soak),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
        }
    memory = {}
    for name in ("gunicorn", "qcluster"):
        start = statistics.mean(s[f"{name}_rss_kib"] for s in first) if first else float("nan")
        end = statistics.mean(s[f"{name}_rss_kib"] for s in last)
        memory[name] = {
            "rss_first_minute_mib": start / 1024,
            "rss_last_minute_mib": end / 1024,
            "rss_growth_pct": 100 * (end - start) / start if start else float("nan"),
            "fds_start": first[0][f"{name}_fds"] if first else None,
            "fds_end": end_sample[f"{name}_fds"],
            "processes": end_sample[f"{name}_processes"],
        }
    locked = {name: text.lower().count("database is locked") for name, text in logs.items()}
    error_lines = {
        name: text.count('"level": "ERROR"') + text.count("Traceback") for name, text in logs.items()
    }
    checks = {
        "errors": error_pct < ERROR_TARGET_PCT,
        "read p95": latency["read"][95] < READ_P95_TARGET_MS,
        "RSS gunicorn": memory["gunicorn"]["rss_growth_pct"] < RSS_GROWTH_TARGET_PCT,
        "RSS qcluster": memory["qcluster"]["rss_growth_pct"] < RSS_GROWTH_TARGET_PCT,
        "queue drained": drained_s is not None and drained_s <= retry_seconds,
        "database is locked": sum(locked.values()) == 0,
    }
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731

    print(
        f"\nsoak on {args.database}: {len(soak)} requests in {args.duration:.0f} s at {rate:.1f} req/s "
        f"(half of {saturation:.1f}), 2 libraries; load average {loads[0][0]:.2f} at the start, "
        f"{loads[1][0]:.2f} at the end, {mean_load or 0:.2f} on average; client lag behind "
        f"schedule at most {lags[1] * 1000:.0f} ms"
    )
    if ramp_rows:
        print(
            "ramp (open loop, the same mix): "
            + ", ".join(
                f"{r['rate']} req/s p95 {r['p95_ms']:.0f} ms{'' if r['held'] else ' (missed)'}"
                for r in ramp_rows
            )
        )
    print(f"\n{'request':30} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, row in kinds.items():
        print(
            f"{kind:30} {row['count']:7} {row['errors']:7} {row['p50']:8.1f} {row['p95']:8.1f} {row['p99']:8.1f}"
        )
    for category in ("read", "write"):
        row = latency[category]
        print(
            f"{'all ' + category + 's':30} {row['count']:7} {'':7} {row[50]:8.1f} {row[95]:8.1f} {row[99]:8.1f}"
        )
    statuses = Counter(r.status for r in errors)
    print(f"\n{'figure':44} {'value':>36}  target")
    rows = [
        (
            "errors (5xx, no answer, unexpected)",
            f"{len(errors)} of {len(soak)} = {error_pct:.3f} %",
            f"< {ERROR_TARGET_PCT} %: {verdict(checks['errors'])}",
        ),
        ("  by status", ", ".join(f"{k or 'no answer'}: {v}" for k, v in statuses.items()) or "-", ""),
        ("intended 4xx (not errors)", ", ".join(f"{k}: {v}" for k, v in sorted(intended.items())) or "-", ""),
        (
            "read p95 / p99",
            f"{latency['read'][95]:.1f} / {latency['read'][99]:.1f} ms",
            f"< {READ_P95_TARGET_MS} ms: {verdict(checks['read p95'])}",
        ),
        ("write p95 / p99", f"{latency['write'][95]:.1f} / {latency['write'][99]:.1f} ms", ""),
    ]
    for name, row in memory.items():
        rows.append(
            (
                f"RSS {name} ({row['processes']} processes)",
                f"{row['rss_first_minute_mib']:.1f} -> {row['rss_last_minute_mib']:.1f} MiB "
                f"({row['rss_growth_pct']:+.1f} %)",
                f"< {RSS_GROWTH_TARGET_PCT} %: {verdict(checks['RSS ' + name])}",
            )
        )
        rows.append((f"open fds {name}", f"{row['fds_start']} -> {row['fds_end']}", ""))
    rows += [
        (
            "queue drained after the load stopped",
            f"{drained_s:.1f} s" if drained_s is not None else f"NOT drained: {state_after}",
            f"<= retry {retry_seconds} s: {verdict(checks['queue drained'])}",
        ),
        (
            '"database is locked" in the logs',
            f"gunicorn {locked['gunicorn']}, qcluster {locked['qcluster']}",
            f"0: {verdict(checks['database is locked'])}",
        ),
        (
            "ERROR lines / tracebacks in the logs",
            f"gunicorn {error_lines['gunicorn']}, qcluster {error_lines['qcluster']}",
            "",
        ),
        (
            "worker tasks kept (save_limit) / failed",
            f"{worker['tasks_succeeded']} / {worker['tasks_failed']}",
            "",
        ),
        ("ingestion jobs", ", ".join(f"{k} {v}" for k, v in sorted(worker["jobs"].items())), ""),
        ("submissions", ", ".join(f"{k} {v}" for k, v in sorted(worker["submissions"].items())), ""),
    ]
    for name, value, target in rows:
        print(f"{name:44} {value:>36}  {target}")
    met = all(checks.values())
    print(
        "\ntargets met" if met else "\nTARGETS MISSED: " + ", ".join(k for k, ok in checks.items() if not ok)
    )
    return {
        "database": args.database,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rate_rps": rate,
        "saturation_rps": saturation,
        "ramp": ramp_rows,
        "requests": len(soak),
        "outcomes": dict(outcomes),
        "error_pct": error_pct,
        "error_statuses": {str(k): v for k, v in statuses.items()},
        "intended_4xx": {str(k): v for k, v in intended.items()},
        "latency_ms": {c: {str(k): v for k, v in row.items()} for c, row in latency.items()},
        "by_kind": kinds,
        "memory": memory,
        "drained_s": drained_s,
        "retry_interval_s": retry_seconds,
        "database_is_locked": locked,
        "error_lines": error_lines,
        "worker": worker,
        "load_average_start": loads[0],
        "load_average_end": loads[1],
        "load_average_mean": mean_load,
        "client_lag_s": lags[1],
        "checks": checks,
        "targets_met": met,
    }


if __name__ == "__main__":
    main()
