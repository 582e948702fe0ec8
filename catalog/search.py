"""Full-text search over a library's books with each database's own engine.

SQLite (the embedded default): an FTS5 table `catalog_book_fts` (unicode61 tokenizer with
diacritics removed, prefix indexes) kept in step with `catalog_book` by triggers.
PostgreSQL: a weighted `tsvector` column `catalog_book.search_vector` filled by a trigger,
with a text search configuration that strips accents (`unaccent`), and a GIN index on
(tenant_id, search_vector) (`btree_gin`). Both are created by migration
catalog/0002_search_index; this module only queries them.

Every word of the query must match, as a word prefix (`tolk` finds Tolkien). Title matches
weigh most, then authors and subtitle, then subjects, then ISBNs. A query that is an ISBN
(10 or 13, hyphens allowed) is answered from the ISBN index instead, so an ISBN-10 finds the
book stored with its ISBN-13.
"""

from __future__ import annotations

import re

from django.db import connection

from catalog.models import BookIsbn
from patrons.isbn import InvalidIsbn, normalize_isbn
from tenants.models import Tenant

# FTS5 column weights, in column order: title, subtitle, authors, subjects, isbns.
SQLITE_WEIGHTS = (10.0, 4.0, 6.0, 2.0, 1.0)
MAX_TERMS = 12
_WORD = re.compile(r"\w+", re.UNICODE)
_ISBN_SHAPE = re.compile(r"^[0-9][0-9\- ]{8,15}[0-9Xx]$")


def query_terms(q: str) -> list[str]:
    """The words of a query, lower-cased; punctuation and operators are not syntax here."""
    return [term.lower() for term in _WORD.findall(q)][:MAX_TERMS]


def as_isbn(q: str) -> str | None:
    candidate = q.strip()
    if not _ISBN_SHAPE.match(candidate):
        return None
    try:
        return normalize_isbn(candidate)
    except InvalidIsbn:
        return None


def search_book_ids(*, tenant: Tenant, q: str, limit: int, offset: int) -> tuple[list[int], int]:
    """Ids of the best matches (best first) for one page, and the number of matches."""
    isbn = as_isbn(q)
    if isbn is not None:
        matches = BookIsbn.objects.for_tenant(tenant).filter(isbn13=isbn).order_by("book_id")
        ids = list(matches.values_list("book_id", flat=True).distinct())
        return ids[offset : offset + limit], len(ids)
    terms = query_terms(q)
    if not terms:
        return [], 0
    if connection.vendor == "postgresql":
        return _search_postgresql(tenant.pk, terms, limit, offset)
    return _search_sqlite(tenant.pk, terms, limit, offset)


def _search_sqlite(tenant_id: int, terms: list[str], limit: int, offset: int) -> tuple[list[int], int]:
    # Each term quoted (so no word is FTS5 syntax) and made a prefix; terms are ANDed.
    match = " ".join('"{}"*'.format(term.replace('"', "")) for term in terms)
    weights = ", ".join(str(weight) for weight in SQLITE_WEIGHTS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid FROM catalog_book_fts WHERE catalog_book_fts MATCH %s AND tenant_id = %s "  # noqa: S608 - constants only
            f"ORDER BY bm25(catalog_book_fts, {weights}), rowid LIMIT %s OFFSET %s",
            [match, tenant_id, limit, offset],
        )
        ids = [row[0] for row in cursor.fetchall()]
        total = _total(
            cursor,
            ids,
            offset,
            limit,
            (
                "SELECT count(*) FROM catalog_book_fts WHERE catalog_book_fts MATCH %s AND tenant_id = %s",
                [match, tenant_id],
            ),
        )
    return ids, total


def _search_postgresql(tenant_id: int, terms: list[str], limit: int, offset: int) -> tuple[list[int], int]:
    tsquery = " & ".join(f"{term}:*" for term in terms)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM catalog_book, to_tsquery('olcs_search', %s) AS query "
            "WHERE tenant_id = %s AND search_vector @@ query "
            "ORDER BY ts_rank(search_vector, query) DESC, id LIMIT %s OFFSET %s",
            [tsquery, tenant_id, limit, offset],
        )
        ids = [row[0] for row in cursor.fetchall()]
        total = _total(
            cursor,
            ids,
            offset,
            limit,
            (
                "SELECT count(*) FROM catalog_book WHERE tenant_id = %s "
                "AND search_vector @@ to_tsquery('olcs_search', %s)",
                [tenant_id, tsquery],
            ),
        )
    return ids, total


def _total(cursor, ids: list[int], offset: int, limit: int, count_query: tuple[str, list]) -> int:
    # A short first page already tells the total: no second scan of the index.
    if offset == 0 and len(ids) < limit:
        return len(ids)
    cursor.execute(*count_query)
    return cursor.fetchone()[0]
