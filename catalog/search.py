"""Full-text search over a library's books with each database's own engine.

SQLite (the embedded default): an FTS5 table `catalog_book_fts` (unicode61 tokenizer with
diacritics removed) kept in step with `catalog_book` by triggers. Every word is indexed under
its library (`t<tenant id>x<word>`, see `library_words`), so a search reads its own library's
entries only. PostgreSQL: a narrow table `catalog_booksearch`, kept in step by triggers, holding
each book's weighted `tsvector` (lexemes keyed by library the same way, accents stripped with
`unaccent`) and its title's lexemes alone, each with a GIN index; and `catalog_booksearchterm`,
the same lexemes as btree rows with the best field each occurs in, from which a one-word search
counts its matches without visiting them. Migrations catalog/0002, 0004, 0006, 0008 and 0009
create them; this module only queries them (and provides the SQL function the SQLite triggers
call).

Every word of the query must match, as a word prefix (`tolk` finds Tolkien). Ranking is in
tiers, so that a title match always beats a subject match however common the word is:

1. books with every word in the title;
2. then books with every word in the title, subtitle or author names;
3. then every other match (subjects, ISBNs).

Within a tier, books are ranked by relevance (SQLite's bm25, PostgreSQL's ts_rank, with the
title weighing most) when the tier holds at most `SEARCH_RANK_LIMIT` books; a larger tier (a
very common word) is listed newest first instead, because ranking it would mean scoring every
match on every request. A query that is an ISBN (10 or 13, hyphens allowed) is answered from
the ISBN index instead, so an ISBN-10 finds the book stored with its ISBN-13.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from catalog.identifiers import InvalidIsbn, normalize_isbn
from catalog.models import BookIsbn, CatalogStats
from tenants.models import Tenant

# FTS5 column weights, in column order: title, subtitle, authors, subjects, isbns.
SQLITE_WEIGHTS = (10.0, 4.0, 6.0, 2.0, 1.0)
MAX_TERMS = 12
# A word as both the index and the query see it: letters and digits (the FTS5 tokenizer also
# splits at underscores).
_WORD = re.compile(r"[^\W_]+")
_ISBN_SHAPE = re.compile(r"^[0-9][0-9\- ]{8,15}[0-9Xx]$")
logger = logging.getLogger(__name__)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def query_terms(q: str) -> list[str]:
    """The words of a query, lower-cased; punctuation and operators are not syntax here."""
    return [term.lower() for term in words(q)][:MAX_TERMS]


def library_prefix(tenant_id: int) -> str:
    return f"t{tenant_id}x"


def library_words(tenant_id: int | None, text: str | None) -> str | None:
    """A text as the SQLite index holds it: each word prefixed with its library's id.

    The tenant id is digits and the separator `x` is not, so `t5xhistory` (library 5) can
    never be read as a word of library 51. Accents and case are left to the tokenizer.
    """
    if not text or tenant_id is None:
        return text
    prefix = library_prefix(tenant_id)
    return " ".join(prefix + word for word in words(text))


def register_sqlite_functions(dbapi_connection) -> None:
    """Make `olcs_library_words` callable in SQL on a SQLite connection (the FTS triggers use
    it: a connection without it, such as the sqlite3 shell, cannot write books)."""
    dbapi_connection.create_function("olcs_library_words", 2, library_words, deterministic=True)


def as_isbn(q: str) -> str | None:
    candidate = q.strip()
    if not _ISBN_SHAPE.match(candidate):
        return None
    try:
        return normalize_isbn(candidate)
    except InvalidIsbn:
        return None


def search_book_ids(*, tenant: Tenant, q: str, limit: int, offset: int) -> tuple[list[int], int]:
    """Ids of the best matches (best first) for one page, and the number of matches.

    Answers are cached (SEARCH_CACHE_SECONDS) under the library's catalog generation, which
    every change to its books moves on (CatalogStats): a cached page is never stale, and the
    same search repeated, or paged through, skips counting and ranking its matches again.
    """
    if settings.SEARCH_CACHE_SECONDS <= 0:
        return _search_book_ids(tenant=tenant, q=q, limit=limit, offset=offset)
    generation = CatalogStats.of(tenant).generation
    digest = hashlib.sha256(q.strip().encode("utf-8", "surrogatepass")).hexdigest()
    # The library's creation time too: an id and generation reused (a restored backup, a test
    # database rolled back) must not meet an older library's answers.
    key = (
        f"olcs:search:1:{tenant.pk}:{tenant.created_at.timestamp()}:{generation}:"
        f"{settings.SEARCH_RANK_LIMIT}:{limit}:{offset}:{digest}"
    )
    try:
        cached = cache.get(key)
    except Exception:  # the cache is an optimisation: when it is down, search still answers
        logger.warning("Search cache unavailable; searching without it.", exc_info=True)
        return _search_book_ids(tenant=tenant, q=q, limit=limit, offset=offset)
    if cached is not None:
        return cached
    answer = _search_book_ids(tenant=tenant, q=q, limit=limit, offset=offset)
    try:
        cache.set(key, answer, settings.SEARCH_CACHE_SECONDS)
    except Exception:
        logger.warning("Search cache unavailable; answer not cached.", exc_info=True)
    return answer


def _search_book_ids(*, tenant: Tenant, q: str, limit: int, offset: int) -> tuple[list[int], int]:
    isbn = as_isbn(q)
    if isbn is not None:
        # Sorted here: ordered by book in SQL, the planner would walk the library's whole
        # (tenant, book, isbn) index instead of looking the ISBN up.
        ids = sorted(
            set(BookIsbn.objects.for_tenant(tenant).filter(isbn13=isbn).values_list("book_id", flat=True))
        )
        return ids[offset : offset + limit], len(ids)
    terms = query_terms(q)
    if not terms:
        return [], 0
    engine = _PostgreSQL(tenant.pk, terms) if connection.vendor == "postgresql" else _SQLite(tenant.pk, terms)
    return engine.page(limit, offset)


@dataclass
class _Tier:
    condition: str  # SQL, with `params`
    params: list
    size: int = 0


class _Engine:
    """One search: its tiers, their sizes (one query), then the page's rows tier by tier."""

    table: str
    id_column: str

    def rank_order(self) -> tuple[str, list]:
        """ORDER BY for a tier small enough to rank, and its parameters."""
        raise NotImplementedError

    def tiers(self) -> list[_Tier]:
        raise NotImplementedError

    def newest_first(self) -> str:
        return f"{self.id_column} DESC"

    def count_tiers(self, cursor, tiers: list[_Tier]) -> None:
        """Each tier's size, in one query."""
        counts = ", ".join(
            f"(SELECT count(*) FROM {self.table} WHERE {tier.condition})"  # noqa: S608 - constants only  # nosec B608
            for tier in tiers
        )
        cursor.execute(f"SELECT {counts}", [param for tier in tiers for param in tier.params])
        for tier, size in zip(tiers, cursor.fetchone(), strict=True):
            tier.size = size

    def page(self, limit: int, offset: int) -> tuple[list[int], int]:
        tiers = self.tiers()
        with connection.cursor() as cursor:
            self.count_tiers(cursor, tiers)
            ids: list[int] = []
            skip = offset
            for tier in tiers:
                if len(ids) == limit:
                    break
                if skip >= tier.size:
                    skip -= tier.size
                    continue
                order, order_params = (
                    self.rank_order()
                    if tier.size <= settings.SEARCH_RANK_LIMIT
                    else (self.newest_first(), [])
                )
                cursor.execute(
                    f"SELECT {self.id_column} FROM {self.table} WHERE {tier.condition} "  # noqa: S608 - constants only  # nosec B608
                    f"ORDER BY {order} LIMIT %s OFFSET %s",
                    [*tier.params, *order_params, limit - len(ids), skip],
                )
                ids += [row[0] for row in cursor.fetchall()]
                skip = 0
        return ids, sum(tier.size for tier in tiers)


class _SQLite(_Engine):
    table = "catalog_book_fts"
    id_column = "rowid"

    def rank_order(self) -> tuple[str, list]:
        return f"bm25(catalog_book_fts, {', '.join(map(str, SQLITE_WEIGHTS))}), rowid", []

    def __init__(self, tenant_id: int, terms: list[str]):
        prefix = library_prefix(tenant_id)
        # Each term quoted (so no word is FTS5 syntax) and made a prefix; terms are ANDed.
        self.match = " AND ".join(f'"{prefix}{term}"*' for term in terms)

    def tiers(self) -> list[_Tier]:
        everywhere = f"({self.match})"
        in_title = f"{{title}} : ({self.match})"
        in_names = f"{{title subtitle authors}} : ({self.match})"
        return [
            _Tier("catalog_book_fts MATCH %s", [in_title]),
            _Tier("catalog_book_fts MATCH %s", [f"({in_names}) NOT ({in_title})"]),
            _Tier("catalog_book_fts MATCH %s", [f"{everywhere} NOT ({in_names})"]),
        ]


class _PostgreSQL(_Engine):
    # Migration 0008: ~300-byte rows, so counting or ranking thousands of matches reads a few
    # thousand pages rather than catalog_book's 1.5 KB rows.
    table = "catalog_booksearch"
    id_column = "book_id"
    # The query's lexemes keyed by library like the vector's (migration 0006), through the same
    # text search configuration, so accents and case fold the same way on both sides.
    QUERY = "olcs_library_query(%s, to_tsquery('olcs_search', %s))"

    def __init__(self, tenant_id: int, terms: list[str]):
        self.tenant_id = tenant_id
        self.terms = terms

    def tsquery(self, weights: str = "") -> str:
        return " & ".join(f"{term}:*{weights}" for term in self.terms)

    def newest_first(self) -> str:
        # `book_id + 0`: ordered by the bare id, the planner walks the primary key backwards
        # testing every book of every library rather than sorting the few thousand matches.
        return "book_id + 0 DESC"

    def rank_order(self) -> tuple[str, list]:
        return f"ts_rank(vector, {self.QUERY}) DESC, book_id", [self.tenant_id, self.tsquery()]

    def matches(self) -> tuple[_Tier, _Tier, _Tier]:
        """Every word in the title; in title, subtitle or author names (weights A, B); anywhere."""
        # The title from the title's own lexemes: an exact GIN match, where a weight (A) would be
        # checked on every match's row. The same books: a vector's A lexemes are its title's.
        return (
            _Tier(f"title_vector @@ {self.QUERY}", [self.tenant_id, self.tsquery()]),
            _Tier(f"vector @@ {self.QUERY}", [self.tenant_id, self.tsquery("AB")]),
            _Tier(f"vector @@ {self.QUERY}", [self.tenant_id, self.tsquery()]),
        )

    def count_tiers(self, cursor, tiers: list[_Tier]) -> None:
        sizes = None
        if len(self.terms) == 1:
            # One word: counted from the terms' btree alone (migration 0009), no row visited.
            # NULLs when the word did not become a single prefix (the parser split it).
            cursor.execute(
                f"SELECT title, names, total FROM olcs_search_prefix_tiers({self.QUERY})",  # noqa: S608 - constants only  # nosec B608
                [self.tenant_id, self.tsquery()],
            )
            sizes = cursor.fetchone()
        if sizes is None or sizes[2] is None:
            sizes = self._count_matches(cursor)
        title, names, total = sizes
        for tier, size in zip(tiers, (title, names - title, total - names), strict=True):
            tier.size = size

    def _count_matches(self, cursor) -> tuple[int, int, int]:
        """The tier sizes from the GIN index, which intersects several words' matches well.

        One pass over the matches, each tested against the narrower queries in memory: a
        count per tier would read every match's row again.
        """
        in_title, in_names, everywhere = self.matches()
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE {in_title.condition}), count(*) FILTER (WHERE {in_names.condition}), "  # noqa: S608 - constants only  # nosec B608
            f"count(*) FROM {self.table} WHERE {everywhere.condition}",
            [*in_title.params, *in_names.params, *everywhere.params],
        )
        return cursor.fetchone()

    def tiers(self) -> list[_Tier]:
        in_title, in_names, everywhere = self.matches()
        return [
            in_title,
            _Tier(f"{in_names.condition} AND NOT {in_title.condition}", [*in_names.params, *in_title.params]),
            _Tier(
                f"{everywhere.condition} AND NOT {in_names.condition}", [*everywhere.params, *in_names.params]
            ),
        ]
