"""The only code that talks to Open Library: a polite HTTP client and the records it parses.

Everything Open Library sends is turned into frozen dataclasses here, with keys normalised
(`/works/OL…W`, `/books/OL…M`, `/authors/OL…A`), so the rest of OLCS never sees the API's
quirks (see shared/openlibrary/README.md). Every failure reaches callers as OpenLibraryError
(OpenLibraryNotFound for unknown records); `retryable` says whether trying later may help.

Politeness: an identifying User-Agent, a (connect, read) timeout on every request, the
deployment-wide throttle (ingestion/throttle.py) before every request sent, retries included,
and retries with exponential backoff and full jitter on 429/5xx and network errors, honouring
a capped Retry-After.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from django.conf import settings

import olcs
from catalog.identifiers import (
    InvalidKey,
    Kind,
    isbn13_to_10,
    normalize_author_key,
    normalize_edition_key,
    normalize_isbn,
    normalize_key,
    normalize_work_key,
)
from ingestion.throttle import Throttle, default_throttle

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
# An answer must arrive whole within this many read timeouts: the read timeout bounds each
# socket read only, and a server trickling a byte at a time would otherwise hold a worker.
BODY_DEADLINE_READ_TIMEOUTS = 3
MAX_RECORD_REDIRECTS = 5  # /type/redirect records followed for one lookup
MAX_HTTP_REDIRECTS = 5  # HTTP 3xx followed for one request
MAX_BATCH = 100  # keys or ISBNs in one search or Books API request
SEARCH_BY = frozenset({"q", "author", "subject", "title"})
# Since 2025 search leaves out isbn, subject, ... unless they are named here.
SEARCH_FIELDS = (
    "key,title,subtitle,author_name,author_key,first_publish_year,cover_i,edition_count,isbn,subject,language,"
    "last_modified_i"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class OpenLibraryError(Exception):
    """Open Library could not give a usable answer. `retryable`: trying later may succeed."""

    def __init__(
        self, message: str, *, url: str | None = None, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retryable = retryable


class OpenLibraryNotFound(OpenLibraryError):
    """Open Library has no such record (a 404, as JSON `{"error": "notfound"}` or an HTML page)."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = 404) -> None:
        super().__init__(message, url=url, status=status, retryable=False)


# --- Records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDoc:
    """One work in a search answer (only the fields OLCS asks for)."""

    work_key: str
    title: str
    subtitle: str | None = None
    author_names: tuple[str, ...] = ()
    author_keys: tuple[str, ...] = ()
    first_publish_year: int | None = None
    cover_id: int | None = None
    edition_count: int = 0
    isbns: tuple[str, ...] = ()  # as Open Library gives them: ISBN-10s and ISBN-13s, unvalidated
    subjects: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # MARC codes: "eng", "fre"
    # The work record's last change (epoch seconds): unchanged means no need to fetch it again.
    last_modified: int | None = None


@dataclass(frozen=True)
class SearchPage:
    num_found: int
    docs: tuple[SearchDoc, ...]


@dataclass(frozen=True)
class WorkRecord:
    key: str
    title: str
    subtitle: str | None = None
    description: str | None = None
    subjects: tuple[str, ...] = ()
    author_keys: tuple[str, ...] = ()
    cover_ids: tuple[int, ...] = ()
    first_publish_date: str | None = None  # as given: "1954", "October 1, 1988"
    redirected_from: tuple[str, ...] = ()  # the keys that redirected to `key`, in order
    # The record's last change (epoch seconds), as search's `last_modified_i` gives it.
    last_modified: int | None = None


@dataclass(frozen=True)
class EditionRecord:
    key: str
    title: str
    work_keys: tuple[str, ...] = ()
    isbn_10: tuple[str, ...] = ()  # as given (whitespace stripped), possibly malformed
    isbn_13: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # "eng" from /languages/eng
    publish_date: str | None = None
    redirected_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkEditions:
    """A work's editions as listed (perhaps not all of them) and how many it has in all."""

    total: int
    editions: tuple[EditionRecord, ...] = ()


@dataclass(frozen=True)
class AuthorRecord:
    key: str
    name: str
    bio: str | None = None
    redirected_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletedRecord:
    """A record Open Library deleted: log it and skip it."""

    key: str
    redirected_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class BooksApiRecord:
    """One edition found by ISBN through the Books API."""

    isbn13: str  # the ISBN asked for, as ISBN-13
    edition_key: str
    work_keys: tuple[str, ...] = ()  # only in jscmd=details answers
    title: str = ""


# --- Parsing ------------------------------------------------------------------------------


def text_value(value: object) -> str | None:
    """A plain string or a `{"type": "/type/text", "value": ...}` object as stripped text.

    None for None, an empty string, or anything else.
    """
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, str):
        return value.strip() or None
    return None


def _strings(values: object) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return ()
    stripped = (value.strip() for value in values if isinstance(value, str))
    return tuple(dict.fromkeys(value for value in stripped if value))


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _positive_ints(values: object) -> tuple[int, ...]:
    """Cover and photo ids: Open Library puts -1 (and sometimes 0) where there is none."""
    if not isinstance(values, list):
        return ()
    ids = (_int_or_none(value) for value in values)
    return tuple(dict.fromkeys(value for value in ids if value is not None and value > 0))


def _keys(values: object, kind: Kind) -> tuple[str, ...]:
    """Keys of `kind` from a list of `{"key": ...}` objects or strings; others are dropped."""
    if not isinstance(values, list):
        return ()
    keys = []
    for value in values:
        raw = value.get("key") if isinstance(value, Mapping) else value
        try:
            keys.append(normalize_key(raw, kind))
        except InvalidKey:
            logger.info("ignored a %s key Open Library gave: %.80r", kind, raw)
    return tuple(dict.fromkeys(keys))


def _author_keys(authors: object) -> tuple[str, ...]:
    """Work authors are `[{"author": {"key": ...}, "type": ...}]`; edition authors `[{"key": ...}]`."""
    if not isinstance(authors, list):
        return ()
    return _keys(
        [entry.get("author", entry) if isinstance(entry, Mapping) else entry for entry in authors], "author"
    )


def _languages(values: object) -> tuple[str, ...]:
    """ "eng" from `[{"key": "/languages/eng"}]`, `["/languages/eng"]` or `["eng"]`."""
    if not isinstance(values, list):
        return ()
    codes = []
    for value in values:
        raw = value.get("key") if isinstance(value, Mapping) else value
        if isinstance(raw, str) and raw.strip():
            codes.append(raw.strip().rsplit("/", 1)[-1])
    return tuple(dict.fromkeys(codes))


def _type_key(data: Mapping) -> str | None:
    # {"key": "/type/work"} usually, the bare string in some old records.
    record_type = data.get("type")
    if isinstance(record_type, Mapping):
        record_type = record_type.get("key")
    return record_type if isinstance(record_type, str) else None


def _search_doc(doc: object) -> SearchDoc | None:
    if not isinstance(doc, Mapping):
        return None
    try:
        work_key = normalize_work_key(doc.get("key"))
    except InvalidKey:
        logger.warning("skipped a search result without a work key: %.80r", doc.get("key"))
        return None
    cover_id = _int_or_none(doc.get("cover_i"))
    return SearchDoc(
        work_key=work_key,
        title=text_value(doc.get("title")) or "",
        subtitle=text_value(doc.get("subtitle")),
        author_names=_strings(doc.get("author_name")),
        author_keys=_keys(doc.get("author_key"), "author"),
        first_publish_year=_int_or_none(doc.get("first_publish_year")),
        cover_id=cover_id if cover_id is not None and cover_id > 0 else None,
        edition_count=_int_or_none(doc.get("edition_count")) or 0,
        isbns=_strings(doc.get("isbn")),
        subjects=_strings(doc.get("subject")),
        languages=_strings(doc.get("language")),
        last_modified=_int_or_none(doc.get("last_modified_i")),
    )


def _work_record(data: Mapping, key: str, redirected_from: tuple[str, ...]) -> WorkRecord:
    return WorkRecord(
        key=key,
        title=text_value(data.get("title")) or "",
        subtitle=text_value(data.get("subtitle")),
        description=text_value(data.get("description")),
        subjects=_strings(data.get("subjects")),
        author_keys=_author_keys(data.get("authors")),
        cover_ids=_positive_ints(data.get("covers")),
        first_publish_date=text_value(data.get("first_publish_date")),
        redirected_from=redirected_from,
        last_modified=_epoch_seconds(data.get("last_modified")),
    )


def _epoch_seconds(value: object) -> int | None:
    """Epoch seconds of a `{"type": "/type/datetime", "value": "2020-09-13T12:26:40.000000"}`
    (UTC, as Open Library keeps it); None when absent or unreadable."""
    text = text_value(value)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _edition_record(data: Mapping, key: str, redirected_from: tuple[str, ...] = ()) -> EditionRecord:
    return EditionRecord(
        key=key,
        title=text_value(data.get("title")) or "",
        work_keys=_keys(data.get("works"), "work"),
        isbn_10=_strings(data.get("isbn_10")),
        isbn_13=_strings(data.get("isbn_13")),
        languages=_languages(data.get("languages")),
        publish_date=text_value(data.get("publish_date")),
        redirected_from=redirected_from,
    )


def _author_record(data: Mapping, key: str, redirected_from: tuple[str, ...]) -> AuthorRecord:
    return AuthorRecord(
        key=key,
        name=text_value(data.get("name")) or text_value(data.get("personal_name")) or "",
        bio=text_value(data.get("bio")),
        redirected_from=redirected_from,
    )


def _books_api_record(isbn13: str, entry: object) -> BooksApiRecord | None:
    """One Books API entry: jscmd=details wraps the edition record in "details"; jscmd=data
    gives a summary with the edition's "key" and no works."""
    if not isinstance(entry, Mapping):
        return None
    details = entry.get("details") if isinstance(entry.get("details"), Mapping) else entry
    for candidate in (details.get("key"), entry.get("key"), entry.get("info_url"), entry.get("url")):
        if isinstance(candidate, str):
            try:
                edition_key = normalize_edition_key(candidate)
                break
            except InvalidKey:
                continue
    else:
        logger.warning("skipped a Books API answer for ISBN %s without an edition key", isbn13)
        return None
    return BooksApiRecord(
        isbn13=isbn13,
        edition_key=edition_key,
        work_keys=_keys(details.get("works"), "work"),
        title=text_value(details.get("title")) or "",
    )


def _isbn13s(isbns: Iterable[str]) -> list[str]:
    """Requested ISBNs as distinct ISBN-13s, in order; InvalidIsbn for an invalid one."""
    if isinstance(isbns, str):
        raise TypeError("pass a list of ISBNs, not one string")
    wanted = list(dict.fromkeys(normalize_isbn(isbn) for isbn in isbns))
    if len(wanted) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} ISBNs per request, got {len(wanted)}")
    return wanted


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if seconds < 0:
            return None
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def user_agent() -> str:
    """`OLCS/<version> (<deployment URL>; <contact email>)`: Open Library asks clients to say who they are."""
    details = "; ".join(part for part in (settings.PUBLIC_BASE_URL, settings.OPEN_LIBRARY_CONTACT) if part)
    return f"OLCS/{olcs.__version__} ({details})" if details else f"OLCS/{olcs.__version__}"


def _timeout_setting() -> tuple[float, float]:
    value = settings.OPEN_LIBRARY_TIMEOUT_SECONDS
    if isinstance(value, list | tuple):
        connect, read = value
        return float(connect), float(read)
    return float(value), float(value)


@dataclass
class _Failure:
    """Why an attempt failed in a way worth retrying."""

    status: int | None = None
    retry_after: float | None = None
    error: Exception | None = None

    def describe(self) -> str:
        return f"answered {self.status}" if self.status else f"failed ({type(self.error).__name__})"


# --- The client ---------------------------------------------------------------------------


class OpenLibraryClient:
    """Open Library's API as parsed records. One client per task or request; not thread-safe.

    `request_count` counts HTTP requests sent (redirect hops and retries included).
    `sleep` and `clock` are for tests; `throttle` defaults to the deployment's shared one.
    """

    max_body_bytes = MAX_BODY_BYTES

    def __init__(
        self,
        base_url: str | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        throttle: Throttle | None = None,
    ) -> None:
        self.base_url = (base_url or settings.OPEN_LIBRARY_BASE_URL).rstrip("/")
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.throttle = throttle if throttle is not None else default_throttle()
        self.timeout = _timeout_setting()
        self.max_attempts = max(1, int(settings.OPEN_LIBRARY_MAX_ATTEMPTS))
        self.max_retry_after = float(settings.OPEN_LIBRARY_MAX_RETRY_AFTER_SECONDS)
        self.backoff_base = float(settings.OPEN_LIBRARY_BACKOFF_BASE_SECONDS)
        self.headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        self.request_count = 0
        self.retry_count = 0

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> OpenLibraryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Search ---

    def search(self, *, field: str, value: str, page: int = 1, limit: int = 100) -> SearchPage:
        """One page of works matching `value` in `field` ("q", "author", "subject" or "title")."""
        if field not in SEARCH_BY:
            raise ValueError(f"search field must be one of {sorted(SEARCH_BY)}, not {field!r}")
        if not isinstance(value, str) or not value.strip():
            raise ValueError("search value must not be empty")
        if page < 1 or not 1 <= limit <= 1000:
            raise ValueError("page must be at least 1 and limit between 1 and 1000")
        return self._search({field: value.strip(), "page": page, "limit": limit})

    def search_works_by_keys(self, keys: Iterable[str]) -> dict[str, SearchDoc]:
        """Search docs of up to 100 works in one request, by normalised work key.

        Keys Open Library does not know (or merged into another work) are absent.
        """
        if isinstance(keys, str):
            raise TypeError("pass a list of work keys, not one string")
        wanted = list(dict.fromkeys(normalize_work_key(key) for key in keys))
        if not wanted:
            return {}
        if len(wanted) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} work keys per search, got {len(wanted)}")
        page = self._search({"q": f"key:({' OR '.join(wanted)})", "page": 1, "limit": len(wanted)})
        return {doc.work_key: doc for doc in page.docs if doc.work_key in wanted}

    def search_works_by_isbns(self, isbns: Iterable[str]) -> dict[str, SearchDoc]:
        """The work of each of up to 100 ISBNs in one search request.

        Each found ISBN appears twice in the answer, as ISBN-13 and (for 978 ISBNs) as
        ISBN-10. Raises InvalidIsbn for an invalid ISBN before sending anything.
        """
        wanted = _isbn13s(isbns)
        if not wanted:
            return {}
        # Open Library indexes both forms of every ISBN, so asking for the ISBN-13 is enough.
        page = self._search(
            {"q": f"isbn:({' OR '.join(wanted)})", "page": 1, "limit": min(2 * len(wanted), 1000)}
        )
        by_isbn: dict[str, SearchDoc] = {}
        for doc in page.docs:
            for raw in doc.isbns:
                try:
                    isbn13 = normalize_isbn(raw)
                except ValueError:
                    continue
                if isbn13 in wanted and isbn13 not in by_isbn:
                    by_isbn[isbn13] = doc
                    isbn10 = isbn13_to_10(isbn13)
                    if isbn10:
                        by_isbn[isbn10] = doc
        return by_isbn

    def _search(self, params: dict[str, str | int]) -> SearchPage:
        data = self._get_json("/search.json", {**params, "fields": SEARCH_FIELDS})
        if not isinstance(data, Mapping) or not isinstance(data.get("docs"), list):
            raise OpenLibraryError(
                "Open Library's search answer has no docs list", url=self._url("/search.json")
            )
        docs = tuple(doc for doc in map(_search_doc, data["docs"]) if doc is not None)
        # "numFound" in most answers, "num_found" in some, both in others.
        num_found = _int_or_none(data.get("numFound", data.get("num_found")))
        return SearchPage(num_found=num_found if num_found is not None else len(docs), docs=docs)

    # --- Records ---

    def get_work(self, key: str) -> WorkRecord | DeletedRecord:
        """A work, after following merges to the surviving work (its key is the final one)."""
        data, final_key, redirected_from = self._fetch_record("work", normalize_work_key(key))
        if data is None:
            return DeletedRecord(key=final_key, redirected_from=redirected_from)
        return _work_record(data, final_key, redirected_from)

    def get_edition(self, key: str) -> EditionRecord | DeletedRecord:
        """An edition, after following merges."""
        data, final_key, redirected_from = self._fetch_record("edition", normalize_edition_key(key))
        if data is None:
            return DeletedRecord(key=final_key, redirected_from=redirected_from)
        return _edition_record(data, final_key, redirected_from)

    def get_author(self, key: str) -> AuthorRecord | DeletedRecord:
        """An author, after following merges."""
        data, final_key, redirected_from = self._fetch_record("author", normalize_author_key(key))
        if data is None:
            return DeletedRecord(key=final_key, redirected_from=redirected_from)
        return _author_record(data, final_key, redirected_from)

    def get_work_editions(self, key: str, *, limit: int = 50, max_pages: int = 20) -> list[EditionRecord]:
        """The editions of a work, `limit` per request, at most `max_pages` requests.

        Pass the work's final key (from get_work): a merged work's key has no editions.
        """
        return list(self.work_editions(key, limit=limit, max_pages=max_pages).editions)

    def work_editions(self, key: str, *, limit: int = 50, max_pages: int = 20) -> WorkEditions:
        """The editions of a work as get_work_editions lists them, with how many the work has
        in all (Open Library's `size`, which counts editions past `max_pages` too)."""
        work_key = normalize_work_key(key)
        if not 1 <= limit <= 1000 or max_pages < 1:
            raise ValueError("limit must be between 1 and 1000 and max_pages at least 1")
        editions: dict[str, EditionRecord] = {}
        offset = 0
        size = None
        for _ in range(max_pages):
            data = self._get_json(f"{work_key}/editions.json", {"limit": limit, "offset": offset})
            if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
                raise OpenLibraryError(
                    f"Open Library's editions answer for {work_key} has no entries list",
                    url=self._url(f"{work_key}/editions.json"),
                )
            entries = data["entries"]
            for entry in entries:
                edition = self._edition_entry(entry)
                if edition is not None:
                    editions.setdefault(edition.key, edition)
            offset += len(entries)
            size = _int_or_none(data.get("size"))
            links = data.get("links") if isinstance(data.get("links"), Mapping) else {}
            if not entries or not links.get("next") or (size is not None and offset >= size):
                break
        else:
            logger.info("stopped listing the editions of %s after %d pages", work_key, max_pages)
        total = max(size, len(editions)) if size is not None else len(editions)
        return WorkEditions(total=total, editions=tuple(editions.values()))

    def _edition_entry(self, entry: object) -> EditionRecord | None:
        if not isinstance(entry, Mapping):
            return None
        if _type_key(entry) not in (None, "/type/edition"):
            logger.info("skipped a %s entry in a work's editions", _type_key(entry))
            return None
        try:
            key = normalize_edition_key(entry.get("key"))
        except InvalidKey:
            logger.warning("skipped an edition without an edition key: %.80r", entry.get("key"))
            return None
        return _edition_record(entry, key)

    def edition_for_isbn(self, isbn: str) -> EditionRecord:
        """The edition with this ISBN (any form). OpenLibraryNotFound if unknown or deleted."""
        isbn13 = normalize_isbn(isbn)
        path = f"/isbn/{isbn13}.json"
        data = self._get_json(path)  # a 302 to /books/OL…M.json, followed
        if not isinstance(data, Mapping):
            raise OpenLibraryError(f"Open Library's answer for {path} is not a record", url=self._url(path))
        try:
            key = normalize_edition_key(data.get("key"))
        except InvalidKey as exc:
            raise OpenLibraryError(
                f"Open Library's answer for {path} is not an edition", url=self._url(path)
            ) from exc
        record, final_key, redirected_from = self._fetch_record("edition", key, first=data)
        if record is None:
            raise OpenLibraryNotFound(
                f"the edition of ISBN {isbn13} ({final_key}) was deleted", url=self._url(path)
            )
        return _edition_record(record, final_key, redirected_from)

    def books_by_isbns(self, isbns: Iterable[str]) -> dict[str, BooksApiRecord]:
        """Editions of up to 100 ISBNs in ONE Books API request, by ISBN-13.

        ISBNs Open Library does not know are absent. Raises InvalidIsbn for an invalid ISBN
        before sending anything.
        """
        wanted = _isbn13s(isbns)
        if not wanted:
            return {}
        params = {
            "bibkeys": ",".join(f"ISBN:{isbn}" for isbn in wanted),
            "format": "json",
            "jscmd": "details",
        }
        data = self._get_json("/api/books", params)
        if not isinstance(data, Mapping):
            raise OpenLibraryError(
                "Open Library's Books API answer is not an object", url=self._url("/api/books")
            )
        records: dict[str, BooksApiRecord] = {}
        for bibkey, entry in data.items():
            # Answers are keyed by the bibkey as it was asked for: "ISBN:9780140328721".
            kind, _, value = str(bibkey).partition(":")
            if kind.upper() != "ISBN":
                continue
            try:
                isbn13 = normalize_isbn(value)
            except ValueError:
                continue
            if isbn13 in wanted and isbn13 not in records:
                record = _books_api_record(isbn13, entry)
                if record is not None:
                    records[isbn13] = record
        return records

    def _fetch_record(
        self, kind: Kind, key: str, *, first: Mapping | None = None
    ) -> tuple[Mapping | None, str, tuple[str, ...]]:
        """(record, final key, keys redirected from), following /type/redirect records.

        The record is None when the final record is deleted. A loop, more than
        MAX_RECORD_REDIRECTS hops or a redirect to another kind of key is an OpenLibraryError.
        """
        chain = [key]
        data = first if first is not None else self._get_json(f"{key}.json")
        while True:
            if not isinstance(data, Mapping):
                raise OpenLibraryError(
                    f"Open Library's answer for {chain[-1]} is not a record", url=self._url(chain[-1])
                )
            own_key = data.get("key")
            if own_key is not None:
                try:
                    own_key = normalize_key(own_key, kind)
                except InvalidKey as exc:
                    raise OpenLibraryError(
                        f"Open Library answered record {own_key!r:.80} for {chain[-1]}",
                        url=self._url(chain[-1]),
                    ) from exc
                if own_key not in chain:
                    chain.append(own_key)  # an HTTP redirect moved us to another record
            if _type_key(data) != "/type/redirect":
                break
            location = data.get("location")
            try:
                target = normalize_key(location, kind)
            except InvalidKey as exc:
                raise OpenLibraryError(
                    f"{chain[-1]} redirects to {location!r:.80}, which is not a {kind} key",
                    url=self._url(chain[-1]),
                ) from exc
            if target in chain:
                raise OpenLibraryError(
                    f"redirect loop: {' -> '.join([*chain, target])}", url=self._url(chain[-1])
                )
            if len(chain) > MAX_RECORD_REDIRECTS:
                raise OpenLibraryError(
                    f"more than {MAX_RECORD_REDIRECTS} redirects from {chain[0]}: {' -> '.join([*chain, target])}",
                    url=self._url(chain[-1]),
                )
            chain.append(target)
            data = self._get_json(f"{target}.json")
        final_key, redirected_from = chain[-1], tuple(chain[:-1])
        if _type_key(data) == "/type/delete":
            logger.info("Open Library record %s is deleted", final_key)
            return None, final_key, redirected_from
        return data, final_key, redirected_from

    # --- HTTP ---

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a JSON answer: throttled, redirects followed, retried; OpenLibraryError otherwise."""
        url = self._url(path)
        attempt = 1
        visited: list[str] = []
        while True:
            try:
                response = self._send(url, params)
                try:
                    if response.is_redirect:
                        visited.append(response.url)
                        url = self._redirect_target(path, response, visited)
                        params = None  # the new location carries its own query
                        continue
                    if response.status_code not in RETRY_STATUSES:
                        return self._json_answer(response, url)
                    failure = _Failure(
                        status=response.status_code,
                        retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
                    )
                finally:
                    response.close()
            except requests.exceptions.SSLError as exc:
                raise OpenLibraryError(f"TLS failed for {path}: {exc.__class__.__name__}", url=url) from exc
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                failure = _Failure(error=exc)
            except requests.RequestException as exc:
                raise OpenLibraryError(
                    f"request for {path} failed: {exc.__class__.__name__}", url=url
                ) from exc

            path_now = urlsplit(url).path
            if attempt >= self.max_attempts:
                raise self._gave_up(failure, path_now, url, attempt)
            wait = self._retry_wait(attempt, failure.retry_after)
            logger.warning(
                "Open Library %s %s; retry %d of %d in %.2f s",
                path_now,
                failure.describe(),
                attempt,
                self.max_attempts - 1,
                wait,
                extra={"ol_path": path_now, "status": failure.status, "wait_seconds": round(wait, 3)},
            )
            self.retry_count += 1
            self.sleep(wait)
            attempt += 1

    def _redirect_target(self, path: str, response: requests.Response, visited: list[str]) -> str:
        """Where a 3xx answer sends us, if it may be followed; OpenLibraryError otherwise.

        Only Open Library itself (OPEN_LIBRARY_BASE_URL's scheme, host and port) is followed:
        a redirect to anywhere else could make a loopback or internal service's JSON a catalog
        record, and one to plain http would downgrade the connection. Not retried: the answer
        is deliberate, and retrying would only ask again.
        """
        location = response.headers.get("Location", "").strip()
        status = response.status_code
        if not location:
            raise OpenLibraryError(
                f"Open Library answered {status} for {path}, a redirect without a location",
                url=response.url,
                status=status,
            )
        target = urljoin(response.url, location)
        if _origin(target) != _origin(self.base_url):
            raise OpenLibraryError(
                f"Open Library redirected {path} to {location!r:.200} off Open Library; not followed",
                url=response.url,
                status=status,
            )
        if target in visited:
            raise OpenLibraryError(
                f"redirect loop from {path}: {urlsplit(target).path} again", url=response.url, status=status
            )
        if len(visited) > MAX_HTTP_REDIRECTS:
            raise OpenLibraryError(
                f"more than {MAX_HTTP_REDIRECTS} HTTP redirects from {path}", url=response.url, status=status
            )
        return target

    def _send(self, url: str, params: Mapping[str, str | int] | None) -> requests.Response:
        self.throttle.acquire()
        self.request_count += 1
        started = self.clock()
        response = self.session.get(
            url, params=params, headers=self.headers, timeout=self.timeout, stream=True, allow_redirects=False
        )
        logger.debug(
            "GET %s -> %s in %.0f ms",
            urlsplit(url).path,
            response.status_code,
            (self.clock() - started) * 1000,
        )
        return response

    def _retry_wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # Honoured, but capped: Open Library has sent Retry-After: 21600.
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_retry_after, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - full jitter, not a secret

    def _gave_up(self, failure: _Failure, path: str, url: str, attempts: int) -> OpenLibraryError:
        if failure.status == 429:
            message = f"Open Library rate limited {path} (429) on all {attempts} attempts"
        elif failure.status is not None:
            message = (
                f"Open Library is unavailable: {path} answered {failure.status} on all {attempts} attempts"
            )
        else:
            message = (
                f"Open Library is unavailable: {path} failed ({type(failure.error).__name__}) "
                f"on all {attempts} attempts"
            )
        error = OpenLibraryError(message, url=url, status=failure.status, retryable=True)
        error.__cause__ = failure.error
        return error

    def _read_body(self, response: requests.Response, url: str) -> bytes:
        """The body, read in chunks and abandoned past max_body_bytes (never loaded whole)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise OpenLibraryError(
                f"Open Library's answer for {urlsplit(url).path} is {int(declared)} bytes, over the "
                f"{self.max_body_bytes} byte limit",
                url=url,
                status=response.status_code,
            )
        chunks, size = [], 0
        deadline = self.clock() + self.timeout[1] * BODY_DEADLINE_READ_TIMEOUTS
        for chunk in self._body_chunks(response):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise OpenLibraryError(
                    f"Open Library's answer for {urlsplit(url).path} is over the {self.max_body_bytes} byte limit",
                    url=url,
                    status=response.status_code,
                )
            chunks.append(chunk)
            if self.clock() > deadline:
                # Retried like any other read timeout.
                raise requests.exceptions.ReadTimeout(
                    f"the answer took longer than {self.timeout[1] * BODY_DEADLINE_READ_TIMEOUTS:g} s to arrive"
                )
        return b"".join(chunks)

    @staticmethod
    def _body_chunks(response: requests.Response) -> Iterable[bytes]:
        """The body as it arrives: each chunk is what one socket read gave (read1), so a slow
        answer is seen between reads, not after 64 KiB have trickled in. urllib3's errors are
        raised as the requests errors that `iter_content` would raise."""
        raw = response.raw
        if not hasattr(raw, "read1"):  # not a urllib3 response (a test double)
            yield from response.iter_content(chunk_size=64 * 1024)
            return
        try:
            while chunk := raw.read1(64 * 1024, decode_content=True):
                yield chunk
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError) as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc

    def _json_answer(self, response: requests.Response, url: str) -> Any:
        path = urlsplit(url).path
        status = response.status_code
        if status == 404:
            raise OpenLibraryNotFound(self._not_found_message(response, url), url=url)
        if not 200 <= status < 300:
            raise OpenLibraryError(f"Open Library answered {status} for {path}", url=url, status=status)
        body = self._read_body(response, url)
        try:
            data = json.loads(body)
        except ValueError as exc:
            # A maintenance or error page, typically; the content type alone is not trusted.
            if "html" in response.headers.get("Content-Type", "").lower() or body.lstrip()[:1] == b"<":
                raise OpenLibraryError(
                    f"Open Library answered HTML where JSON was expected for {path}", url=url, status=status
                ) from exc
            raise OpenLibraryError(
                f"Open Library's answer for {path} is malformed JSON: {exc}", url=url, status=status
            ) from exc
        if isinstance(data, Mapping) and data.get("error") == "notfound":
            raise OpenLibraryNotFound(
                f"Open Library has no {data.get('key') or path}", url=url, status=status
            )
        return data

    def _not_found_message(self, response: requests.Response, url: str) -> str:
        path = urlsplit(url).path
        try:
            data = json.loads(self._read_body(response, url))
        except (ValueError, OpenLibraryError, requests.RequestException):
            return f"Open Library has no {path} (404)"  # the HTML "page not found"
        key = data.get("key") if isinstance(data, Mapping) else None
        return f"Open Library has no {key if isinstance(key, str) else path} (404)"
