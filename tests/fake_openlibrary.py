"""A fake Open Library for tests and benchmarks: never the real one.

One in-memory catalog answers the endpoints OLCS uses, in Open Library's shapes (search
with `fields=`, `key:(…)` and `isbn:(…)` queries, works, editions, authors, /isbn/ redirects,
the Books API, redirect and delete records, JSON and HTML 404s). It can be mounted on
`responses` (in-process) or served over HTTP on loopback (`serve()`) for a real worker.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from catalog.identifiers import isbn10_to_13, isbn13_to_10

HTML_404 = "<!DOCTYPE html><html><head><title>Page not found</title></head><body>404</body></html>"


@dataclass
class FakeWork:
    key: str
    title: str
    authors: list[tuple[str, str]] = field(default_factory=list)  # (author key, name)
    description: object = None  # a string or a /type/text object, as upstream
    subjects: list[str] = field(default_factory=list)
    covers: list[int] = field(default_factory=list)
    isbns: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: ["eng"])
    first_publish_year: int | None = None
    edition_count: int = 1
    subtitle: str | None = None
    last_modified: int = 1_600_000_000

    def record(self) -> dict:
        record = {
            "key": self.key,
            "title": self.title,
            "type": {"key": "/type/work"},
            "authors": [
                {"author": {"key": key}, "type": {"key": "/type/author_role"}} for key, _ in self.authors
            ],
            "subjects": self.subjects,
            "covers": self.covers,
            "latest_revision": 3,
            "last_modified": {"type": "/type/datetime", "value": "2020-09-13T12:26:40.000000"},
        }
        if self.subtitle:
            record["subtitle"] = self.subtitle
        if self.description is not None:
            record["description"] = self.description
        if self.first_publish_year:
            record["first_publish_date"] = str(self.first_publish_year)
        return record

    def search_doc(self) -> dict:
        doc = {
            "key": self.key,
            "title": self.title,
            "author_name": [name for _, name in self.authors],
            "author_key": [key.rsplit("/", 1)[-1] for key, _ in self.authors],
            "edition_count": self.edition_count,
            "isbn": [*self.isbns, *[i10 for i in self.isbns if (i10 := isbn13_to_10(i))]],
            "subject": self.subjects,
            "language": self.languages,
            "last_modified_i": self.last_modified,
        }
        if self.subtitle:
            doc["subtitle"] = self.subtitle
        if self.first_publish_year:
            doc["first_publish_year"] = self.first_publish_year
        if self.covers and self.covers[0] > 0:
            doc["cover_i"] = self.covers[0]
        return doc


class FakeOpenLibrary:
    def __init__(self, *, latency: float = 0.0):
        self.latency = latency
        self.works: dict[str, FakeWork] = {}
        self.redirects: dict[str, str] = {}  # work key -> location
        self.deleted: set[str] = set()
        self.editions: dict[str, dict] = {}  # edition key -> record
        self.failures: list[
            tuple[str, int, dict, str]
        ] = []  # (path prefix, status, headers, body), used once each
        self.requests: list[str] = []
        # Ids ("OL2W") whose every request answers 503: in its path or anywhere in its query,
        # as a batched search naming it among others.
        self.unavailable: set[str] = set()
        self._lock = threading.Lock()

    # --- building the catalog ----------------------------------------------------------

    def add_work(self, key: str, title: str, **kwargs) -> FakeWork:
        work = FakeWork(key=key, title=title, **kwargs)
        self.works[key] = work
        for n, isbn in enumerate(work.isbns):
            edition_key = f"/books/OL{abs(hash((key, n))) % 10**8}M"
            self.editions[edition_key] = {
                "key": edition_key,
                "title": title,
                "type": {"key": "/type/edition"},
                "works": [{"key": key}],
                "isbn_13": [isbn],
                "languages": [{"key": f"/languages/{lang}"} for lang in work.languages],
            }
        return work

    def add_edition(self, key: str, work_key: str, isbn_10: list[str] | None = None) -> None:
        self.editions[key] = {
            "key": key,
            "title": self.works[work_key].title if work_key in self.works else "",
            "type": {"key": "/type/edition"},
            "works": [{"key": work_key}],
            "isbn_10": isbn_10 or [],
        }

    def redirect(self, from_key: str, to_key: str) -> None:
        self.redirects[from_key] = to_key

    def delete(self, key: str) -> None:
        self.deleted.add(key)

    def make_unavailable(self, *idents: str) -> None:
        """Every request naming one of these ids ("OL2W", a bare id) answers 503 from now on."""
        self.unavailable.update(idents)

    def fail_next(self, path_prefix: str, status: int, headers: dict | None = None, body: str = "") -> None:
        """The next request under `path_prefix` gets this answer instead (once)."""
        self.failures.append((path_prefix, status, headers or {}, body))

    def count(self, prefix: str = "") -> int:
        return sum(1 for path in self.requests if path.startswith(prefix))

    # --- answering ------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict, str]:
        with self._lock:
            self.requests.append(f"{path}?{urlencode(query, doseq=True)}" if query else path)
            for index, (prefix, status, headers, body) in enumerate(self.failures):
                if path.startswith(prefix):
                    del self.failures[index]
                    return status, {"Content-Type": "application/json", **headers}, body
            named = " ".join([path, *(value for values in query.values() for value in values)])
            if any(re.search(rf"\b{re.escape(ident)}\b", named) for ident in self.unavailable):
                return 503, {"Content-Type": "text/html"}, "<html><body>503 Service Unavailable</body></html>"
        if self.latency:
            time.sleep(self.latency)
        params = {name: values[-1] for name, values in query.items()}
        if path == "/search.json":
            return self.search(params)
        if path == "/api/books":
            return self.books_api(params)
        editions = re.fullmatch(r"/works/([^/]+)/editions\.json", path)
        if editions:
            return self.work_editions(f"/works/{editions.group(1)}", params)
        match = re.fullmatch(r"/(works|books|authors|isbn)/([^/]+)\.json", path)
        if not match:
            return 404, {"Content-Type": "text/html"}, HTML_404
        kind, ident = match.groups()
        if kind == "works":
            return self.work(f"/works/{ident}")
        if kind == "books":
            record = self.editions.get(f"/books/{ident}")
            return (
                (200, *_json(record))
                if record
                else (404, *_json({"error": "notfound", "key": f"/books/{ident}"}))
            )
        if kind == "authors":
            return self.author(f"/authors/{ident}")
        return self.isbn(ident)

    def work(self, key: str) -> tuple[int, dict, str]:
        if key in self.redirects:
            return 200, *_json(
                {"key": key, "type": {"key": "/type/redirect"}, "location": self.redirects[key]}
            )
        if key in self.deleted:
            return 200, *_json({"key": key, "type": {"key": "/type/delete"}})
        work = self.works.get(key)
        if work is None:
            return 404, *_json({"error": "notfound", "key": key})
        return 200, *_json(work.record())

    def work_editions(self, key: str, params: dict[str, str]) -> tuple[int, dict, str]:
        """A page of a work's editions. `size` is the work's edition_count when that is more than
        the editions the fake holds (as in search's edition_count), else how many it holds."""
        work = self.works.get(key)
        if work is None or key in self.redirects or key in self.deleted:
            return 404, *_json({"error": "notfound", "key": key})
        limit, offset = int(params.get("limit", 50)), int(params.get("offset", 0))
        linked = [
            record
            for record in self.editions.values()
            if any(link.get("key") == key for link in record.get("works", []))
        ]
        links = {"self": f"{key}/editions.json", "work": key}
        if offset + limit < len(linked):
            links["next"] = f"{key}/editions.json?limit={limit}&offset={offset + limit}"
        return 200, *_json(
            {
                "links": links,
                "size": max(work.edition_count, len(linked)),
                "entries": linked[offset : offset + limit],
            }
        )

    def author(self, key: str) -> tuple[int, dict, str]:
        for work in self.works.values():
            for author_key, name in work.authors:
                if author_key == key:
                    return 200, *_json({"key": key, "name": name, "type": {"key": "/type/author"}})
        return 404, *_json({"error": "notfound", "key": key})

    def isbn(self, raw: str) -> tuple[int, dict, str]:
        isbn = isbn10_to_13(raw) if len(raw) == 10 else raw
        for key, record in self.editions.items():
            if isbn in record.get("isbn_13", []) or raw in record.get("isbn_10", []):
                return 302, {"Location": f"{key}.json", "Content-Type": "text/html"}, ""
        return 404, {"Content-Type": "text/html"}, HTML_404

    def search(self, params: dict[str, str]) -> tuple[int, dict, str]:
        limit = int(params.get("limit", 100))
        page = int(params.get("page", 1))
        works = [w for w in self.works.values() if w.key not in self.redirects and w.key not in self.deleted]
        if "q" in params:
            q = params["q"]
            keys = re.fullmatch(r"key:\((.*)\)", q)
            isbns = re.fullmatch(r"isbn:\((.*)\)", q)
            if keys:
                wanted = {k.strip() for k in keys.group(1).split(" OR ")}
                works = [w for w in works if w.key in wanted]
            elif isbns:
                wanted = {k.strip() for k in isbns.group(1).split(" OR ")}
                works = [w for w in works if wanted & set(w.search_doc()["isbn"])]
            else:
                words = q.lower().split()
                works = [w for w in works if all(word in _text(w) for word in words)]
        for name in ("author", "subject", "title"):
            if name in params:
                needle = params[name].lower()
                works = [w for w in works if needle in _field(w, name)]
        total = len(works)
        chunk = works[(page - 1) * limit : page * limit]
        return 200, *_json(
            {"numFound": total, "start": (page - 1) * limit, "docs": [w.search_doc() for w in chunk]}
        )

    def books_api(self, params: dict[str, str]) -> tuple[int, dict, str]:
        answer = {}
        for bibkey in params.get("bibkeys", "").split(","):
            if not bibkey.startswith("ISBN:"):
                continue
            isbn = bibkey[5:]
            isbn13 = isbn10_to_13(isbn) if len(isbn) == 10 else isbn
            for record in self.editions.values():
                if isbn13 in record.get("isbn_13", []) or isbn in record.get("isbn_10", []):
                    answer[bibkey] = {"bib_key": bibkey, "details": record}
                    break
        return 200, *_json(answer)

    # --- adapters ---------------------------------------------------------------------------

    def mount(self, rsps, base_url: str) -> None:
        """Answer every request under base_url through `responses`."""

        def callback(request):
            parts = urlsplit(request.url)
            status, headers, body = self.handle(request.method, parts.path, parse_qs(parts.query))
            if status == 302:
                # responses does not follow redirects by itself: answer the target directly.
                target = headers["Location"]
                status, headers, body = self.handle("GET", target, {})
            return status, headers, body

        rsps.add_callback("GET", re.compile(re.escape(base_url) + r"/.*"), callback=callback)

    def wsgi(self, environ, start_response):
        status, headers, body = self.handle(
            environ["REQUEST_METHOD"], environ["PATH_INFO"], parse_qs(environ.get("QUERY_STRING", ""))
        )
        reasons = {
            200: "OK",
            302: "Found",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        start_response(f"{status} {reasons.get(status, 'Status')}", list(headers.items()))
        return [body.encode("utf-8")]

    def serve(self) -> tuple[str, callable]:
        """Serve on a free loopback port in a thread. Returns (base URL, stop function)."""
        server = make_server(
            "127.0.0.1", 0, self.wsgi, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return f"http://127.0.0.1:{server.server_port}", stop


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def _json(payload) -> tuple[dict, str]:
    return {"Content-Type": "application/json"}, json.dumps(payload)


def _text(work: FakeWork) -> str:
    return " ".join([work.title, *(name for _, name in work.authors), *work.subjects]).lower()


def _field(work: FakeWork, name: str) -> str:
    if name == "author":
        return " ".join(n for _, n in work.authors).lower()
    if name == "subject":
        return " ".join(work.subjects).lower()
    return work.title.lower()
