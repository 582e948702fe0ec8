"""What a seed generates: the batches, and the SQL that makes a batch's books in the database.

A batch goes through three tables: olcs_seed_r, every random decision about each book (as
numbers drawn from 62-bit random integers, reproducible from a seed); olcs_seed_b, each book's
texts and JSON pieces; olcs_seed_v, each version's canonical snapshot and hash. `_Plan` writes
that SQL for SQLite or PostgreSQL (`_Dialect`: the few expressions they spell differently);
catalog.seeding.writer then fills the catalog tables from olcs_seed_b and olcs_seed_v.
"""

# Every statement here is put together from this module's constants and integers, never from input.
# ruff: noqa: S608

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable

from catalog.models import CONTENT_FIELDS, fold
from catalog.seeding.vocabulary import (
    LANGUAGES,
    SUBJECTS,
    SUBTITLES,
    _isbn_triplets,
    _word_bag,
    canonical_json,
    search_words,
)

AUTHORS_PER_TENANT = 5_000
BATCH = 50_000
BATCH_LIMIT = 200_000
# Seeded Open Library keys are /works/OL{id + KEY_OFFSET}W: far above the real ones.
KEY_OFFSET = 900_000_000
SECOND = 1_000_000
DAY = 86_400 * SECOND
ISBN_BODY = 999_000_000  # the 9 digits after 978/979 of the first ISBN (the second is a little above)
# A batch: (library id, books) parts, one transaction.
Batch = list[tuple[int, int]]


def plan_batches(per_tenant: list[tuple[int, int]], batch_size: int) -> list[Batch]:
    """Batches of `batch_size` books from (library id, books), one library after the other.

    A batch may hold the end of one library and the start of the next.
    """
    jobs: list[Batch] = [[]]
    room = batch_size
    for tenant_id, count in per_tenant:
        while count:
            if not room:
                jobs.append([])
                room = batch_size
            take = min(count, room)
            jobs[-1].append((tenant_id, take))
            count -= take
            room -= take
    return [job for job in jobs if job]


class _Draws:
    """Random integers cut from the 62-bit random numbers s0, s1, … drawn for each book.

    One random number feeds several draws: far fewer random() calls (a Python function on
    SQLite when the catalog must be reproducible) than one per drawn value.
    """

    WIDTH = 62

    def __init__(self) -> None:
        self.slots = 1
        self.used = 0

    def below(self, n: int) -> str:
        """SQL for a uniform integer in [0, n) (8 spare bits keep the modulo bias under 0.4 %)."""
        if n <= 1:
            return "0"
        exact = n & (n - 1) == 0
        bits = (n - 1).bit_length() + (0 if exact else 8)
        if bits > self.WIDTH:
            raise ValueError(f"cannot draw below {n}")
        if self.used + bits > self.WIDTH:
            self.slots += 1
            self.used = 0
        value = f"((s{self.slots - 1} >> {self.used}) & {(1 << bits) - 1})"
        self.used += bits
        return value if exact else f"({value} % {n})"

    def chance(self, percent: int) -> str:
        return f"({self.below(100)} < {percent})"


class _Dialect:
    """The few expressions SQLite and PostgreSQL spell differently."""

    # PostgreSQL's random() is a double with 52 random bits: two of them make 62.
    POSTGRESQL_RANDOM62 = (
        "((floor(random() * 2147483648)::bigint << 31) | floor(random() * 2147483648)::bigint)"
    )

    def __init__(self, vendor: str) -> None:
        if vendor not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"seed_catalog supports SQLite and PostgreSQL, not {vendor}")
        self.sqlite = vendor == "sqlite"

    @staticmethod
    def text(value: str) -> str:
        return f"CAST({value} AS TEXT)"

    def format(self, template: str, *values: str) -> str:
        """printf-style text in one allocation; only %s (PostgreSQL's format() knows no other)."""
        assert template.count("%s") == len(values) and "%%" not in template and "'" not in template
        return f"{'printf' if self.sqlite else 'format'}('{template}', {', '.join(values)})"

    def quote(self, value: str) -> str:
        """A text as a JSON string, escaped as json.dumps(ensure_ascii=False) escapes it."""
        return f"json_quote({value})" if self.sqlite else f"to_json(CAST({value} AS TEXT))::text"

    def sha256(self, value: str) -> str:
        if self.sqlite:
            return f"olcs_seed_sha256({value})"
        return f"encode(sha256(convert_to({value}, 'UTF8')), 'hex')"

    def json(self, value: str) -> str:
        return value if self.sqlite else f"CAST({value} AS jsonb)"

    def timestamp(self, micros: str) -> str:
        """A moment given in epoch microseconds, as the ORM stores a DateTimeField."""
        if self.sqlite:
            # str() of the naive UTC datetime: 'YYYY-MM-DD HH:MM:SS', then '.ffffff' unless zero.
            return (
                f"(datetime({micros} / {SECOND}, 'unixepoch') || CASE WHEN {micros} % {SECOND} = 0 "
                f"THEN '' ELSE printf('.%06d', {micros} % {SECOND}) END)"
            )
        return f"(to_timestamp({micros} / {SECOND}) + ({micros} % {SECOND}) * INTERVAL '1 microsecond')"

    def temp(self, name: str) -> str:
        return f"temp.{name}" if self.sqlite else f"pg_temp.{name}"


def _isbn_sql(d: _Dialect, prefix: str, a: str, b: str, c: str) -> tuple[str, str]:
    """SQL for the ISBN-13 and the ISBN-10 ('' for 979) of `prefix` (978/979) and triplets a, b, c."""
    check13 = f"((10 - ({prefix} % 10 + 30 + {a}.w313 + {b}.w131 + {c}.w313) % 10) % 10)"
    check10 = f"((11 - ({a}.w10a + {b}.w10b + {c}.w10c) % 11) % 11)"
    isbn13 = d.format("%s%s%s%s%s", prefix, f"{a}.txt", f"{b}.txt", f"{c}.txt", check13)
    check = f"CASE {check10} WHEN 10 THEN 'X' ELSE {d.text(check10)} END"
    isbn10 = f"CASE WHEN {prefix} = 979 THEN '' ELSE {d.format('%s%s%s%s', f'{a}.txt', f'{b}.txt', f'{c}.txt', check)} END"
    return isbn13, isbn10


def _case_version(column: str, v: str = "n.v") -> str:
    """Column `column`1, 2 or 3 of book b, for version `v`."""
    return f"(CASE {v} WHEN 1 THEN b.{column}1 WHEN 2 THEN b.{column}2 ELSE b.{column}3 END)"


EMPTY_LIST = "'[]'"


class _Plan:
    """The SQL of a batch for one database engine, and the small tables it draws from.

    A batch goes through three tables: olcs_seed_r, every random decision about each book (as
    numbers); olcs_seed_b, each book's texts and JSON pieces; olcs_seed_v, each version's
    canonical snapshot and hash. Every catalog table is then filled from olcs_seed_b and
    olcs_seed_v. Books are numbered n = 1 … size within the batch (on SQLite, renumbered in the
    order they last changed within each library, so ids follow time); ids are given when they
    are inserted (SQLite: the next free ids, base + n; PostgreSQL: the sequence, drawn into
    olcs_seed_r).
    """

    def __init__(self, vendor: str, batch_size: int) -> None:
        self.d = _Dialect(vendor)
        self.batch_size = batch_size
        self.word_bag = _word_bag()
        self.subject_bag = [i for i, (_, weight) in enumerate(SUBJECTS) for _ in range(weight)]
        self.language_bag = [code for code, weight in LANGUAGES for _ in range(weight)]
        folded_subjects = {fold(subject)[:200] for subject, _ in SUBJECTS}
        assert len(folded_subjects) == len(SUBJECTS), "two subjects fold alike: their facets would merge"
        self.draws = _Draws()
        self.draw_columns = self._draw_columns()
        self.book_columns, self.book_joins = self._book_columns()
        self.snapshot_sql, self.changed_sql = self._snapshot_sql()

    def _draw_columns(self) -> dict[str, str]:
        """The columns of olcs_seed_r: every random decision about a book, as a number.

        Expressions over the random numbers s0, s1, …; `{now}` (epoch µs) is filled per batch.
        """
        r = self.draws
        n_subjects = len(SUBJECTS)
        pool = AUTHORS_PER_TENANT
        # Half the books have one version, a quarter two, a quarter three.
        nv = f"(CASE {r.below(4)} WHEN 0 THEN 1 WHEN 1 THEN 1 WHEN 2 THEN 2 ELSE 3 END)"

        def since(percent_later: int) -> str:
            """The version something appeared in: 1, or (percent_later % of the time) a later one."""
            return f"(CASE WHEN {nv} > 1 AND {r.chance(percent_later)} THEN 2 + {r.below(2)} % ({nv} - 1) ELSE 1 END)"

        u_year = r.below(1000)
        # Authors: a few prolific ones (the index goes as u², so low indexes come up far more often).
        u_author = r.below(100_000)
        a1 = f"({u_author} * {u_author} * {pool} / 10000000000)"
        x3, d2 = r.below(n_subjects - 2), r.below(n_subjects - 1)
        u_ec = r.below(1000)
        ec1 = f"(1 + {u_ec} * {u_ec} * {u_ec} * 60 / 1000000000)"  # mostly a few editions, some many
        step2 = r.below(8)
        body1 = r.below(ISBN_BODY)
        # The latest version within three years; the earlier ones an hour to 400 days apart.
        latest = f"({{now}} - {r.below(3 * 365 * DAY)})"
        gap2 = f"({3600 * SECOND} + {r.below(400 * DAY)})"
        gap3 = f"({3600 * SECOND} + {r.below(400 * DAY)})"
        return {
            "n": "n",
            "id": "id",
            "tenant_id": "{tenant}",
            "nv": nv,
            "nw": f"(2 + {r.below(4)})",  # words in the title
            **{f"w{k}": r.below(len(self.word_bag)) for k in range(1, 6)},
            "sub": f"(CASE WHEN {r.chance(12)} THEN {r.below(len(SUBTITLES))} END)",
            "desc_from": f"(CASE WHEN {r.chance(85)} THEN {since(40)} END)",
            "template": r.below(3),
            "year": f"(CASE WHEN {r.chance(5)} THEN NULL WHEN {r.chance(20)} THEN 1500 + {r.below(400)} "
            f"ELSE 2025 - {u_year} * {u_year} * 125 / 1000000 END)",
            "a1": a1,
            "a2": f"(CASE WHEN {r.chance(15)} THEN ({a1} + 1 + {r.below(pool - 1)}) % {pool} END)",
            "sb": r.below(len(self.subject_bag)),
            # The second and third subjects: distinct offsets from the first, when there are more.
            "n_subjects": f"(1 + {r.below(3)})",
            "d2": d2,
            "d3": f"({x3} + CASE WHEN {x3} >= {d2} THEN 1 ELSE 0 END)",
            "lang": r.below(len(self.language_bag)),
            "cover_from": f"(CASE WHEN {r.chance(82)} THEN {since(20)} END)",
            "cover_id": f"(1 + {r.below(14_000_000)})",
            "prefix": f"(CASE WHEN {r.chance(8)} THEN 979 ELSE 978 END)",
            "body1": body1,
            "body2": f"(CASE WHEN {r.chance(45)} THEN {body1} + 1 + {r.below(500)} END)",
            "ec1": ec1,
            # Every later version counts more editions than the one before.
            "ec2": f"({ec1} + 1 + {step2})",
            "ec3": f"({ec1} + 2 + {step2} + {r.below(8)})",
            "t1": f"({latest} - CASE WHEN {nv} >= 2 THEN {gap2} ELSE 0 END - CASE WHEN {nv} = 3 THEN {gap3} ELSE 0 END)",
            "t2": f"(CASE {nv} WHEN 1 THEN NULL WHEN 2 THEN {latest} ELSE {latest} - {gap3} END)",
            "t3": f"(CASE WHEN {nv} = 3 THEN {latest} END)",
            "latest": latest,
        }

    def _book_columns(self) -> tuple[dict[str, tuple[str, bool]], list[str]]:
        """The columns of olcs_seed_b ({name: (SQL, is text)}) and the joins they read.

        Expressions over olcs_seed_r r and small tables.
        """
        d, temp = self.d, self.d.temp
        n_subjects = len(SUBJECTS)
        more = [f"CASE WHEN r.nw >= {k} THEN w{k}.{{}} ELSE '' END" for k in (3, 4, 5)]
        title = d.format("%s %s%s%s%s", "w1.cap", "w2.word", *(m.format("sp") for m in more))
        title_sort = d.format("%s %s%s%s%s", "w1.folded", "w2.folded", *(m.format("spfolded") for m in more))
        # spj has its own leading space.
        title_json = d.format('"%s%s%s%s%s"', "w1.capj", "w2.spj", *(m.format("spj") for m in more))
        year_text = f"coalesce({d.text('r.year')}, 'unknown date')"
        description = (
            "CASE WHEN r.desc_from IS NULL THEN NULL "
            f"WHEN r.template = 0 THEN {d.format('%s: a %s book of %s.', title, 's1.lower_name', year_text)} "
            f"WHEN r.template = 1 THEN {d.format('%s writes about %s and %s.', 'a1.name', 'w2.word', 'w3.word')} "
            f"ELSE {d.format('Essays on %s, %s and %s.', 'w1.word', 'w4.word', 's1.lower_name')} END"
        )
        isbn1, isbn1_10 = _isbn_sql(d, "r.prefix", "xa", "xb", "xc")
        isbn2, isbn2_10 = _isbn_sql(d, "r.prefix", "ya", "yb", "yc")
        isbn2 = f"CASE WHEN r.body2 IS NOT NULL THEN {isbn2} END"
        second = d.format(',"%s"', isbn2)
        isbns = d.format('["%s"%s]', isbn1, f"CASE WHEN r.body2 IS NOT NULL THEN {second} ELSE '' END")
        text = {
            "title": title,
            "title_sort": f"substr({title_sort}, 1, 200)",
            "subtitle": "coalesce(st.subtitle, '')",
            "description": description,
            # The JSON of the texts, for the snapshots.
            "title_j": title_json,
            "subtitle_j": "coalesce(st.json, 'null')",
            "description_j": d.quote(description),
            "authors": d.format("[%s%s]", "a1.json", "coalesce(a2.cjson, '')"),
            "subjects": d.format("[%s%s%s]", "s1.q", "coalesce(s2.cq, '')", "coalesce(s3.cq, '')"),
            "f1": "s1.folded",
            "f2": "s2.folded",
            "f3": "s3.folded",
            "languages": "l.list",
            "lang": "l.folded",
            "isbn1": isbn1,
            "isbn1_10": isbn1_10,
            "isbn2": isbn2,
            "isbn2_10": f"CASE WHEN r.body2 IS NOT NULL THEN {isbn2_10} END",
            "isbns": isbns,
            "ts1": d.timestamp("r.t1"),
            "ts2": d.timestamp("r.t2"),
            "ts3": d.timestamp("r.t3"),
        }
        if d.sqlite:
            # The search words of the subtitle, authors and subjects joined by spaces: the FTS rows.
            text.update(
                {
                    "subtitle_words": "coalesce(st.words, '')",
                    "author_words": d.format("%s%s", "a1.words", "coalesce(a2.spwords, '')"),
                    "subject_words": d.format(
                        "%s%s%s", "s1.words", "coalesce(s2.spwords, '')", "coalesce(s3.spwords, '')"
                    ),
                }
            )
        numbers = [
            "n",
            "id",
            "tenant_id",
            "nv",
            "a1",
            "a2",
            "year",
            "cover_from",
            "ec1",
            "ec2",
            "ec3",
            "latest",
            "desc_from",
        ]
        columns = {name: (f"r.{name}", False) for name in numbers}
        columns["a1"] = ("a1.id", False)
        columns["a2"] = ("a2.id", False)
        columns["cover_id"] = ("CASE WHEN r.cover_from IS NOT NULL THEN r.cover_id END", False)
        columns.update({name: (sql, True) for name, sql in text.items()})
        subjects = f"{temp('olcs_seed_subjects')}"
        joins = [
            *(f"JOIN {temp('olcs_seed_words')} w{k} ON w{k}.i = r.w{k}" for k in range(1, 6)),
            f"JOIN {temp('olcs_seed_authors')} a1 ON a1.tenant_id = r.tenant_id AND a1.idx = r.a1",
            f"LEFT JOIN {temp('olcs_seed_authors')} a2 ON a2.tenant_id = r.tenant_id AND a2.idx = r.a2",
            f"JOIN {temp('olcs_seed_subject_bag')} sb ON sb.i = r.sb",
            f"JOIN {subjects} s1 ON s1.i = sb.s",
            f"LEFT JOIN {subjects} s2 ON s2.i = CASE WHEN r.n_subjects >= 2 THEN (sb.s + 1 + r.d2) % {n_subjects} END",
            f"LEFT JOIN {subjects} s3 ON s3.i = CASE WHEN r.n_subjects >= 3 THEN (sb.s + 1 + r.d3) % {n_subjects} END",
            f"JOIN {temp('olcs_seed_langs')} l ON l.i = r.lang",
            f"LEFT JOIN {temp('olcs_seed_subtitles')} st ON st.i = r.sub",
            f"JOIN {temp('olcs_seed_isbn')} xa ON xa.i = r.body1 / 1000000",
            f"JOIN {temp('olcs_seed_isbn')} xb ON xb.i = r.body1 / 1000 % 1000",
            f"JOIN {temp('olcs_seed_isbn')} xc ON xc.i = r.body1 % 1000",
            f"LEFT JOIN {temp('olcs_seed_isbn')} ya ON ya.i = r.body2 / 1000000",
            f"LEFT JOIN {temp('olcs_seed_isbn')} yb ON yb.i = r.body2 / 1000 % 1000",
            f"LEFT JOIN {temp('olcs_seed_isbn')} yc ON yc.i = r.body2 % 1000",
        ]
        return columns, joins

    def _snapshot_sql(self) -> tuple[str, str]:
        """SQL for the canonical snapshot text and the changed fields of book b at version n.v."""
        d = self.d
        values = {
            "title": "b.title_j",
            "subtitle": "b.subtitle_j",
            "description": "CASE WHEN b.desc_from <= n.v THEN b.description_j ELSE 'null' END",
            "authors": "b.authors",
            "subjects": "b.subjects",
            "languages": "b.languages",
            "first_publish_year": f"coalesce({d.text('b.year')}, 'null')",
            "cover_id": f"CASE WHEN b.cover_from <= n.v THEN {d.text('b.cover_id')} ELSE 'null' END",
            "isbns": "b.isbns",
            "edition_count": d.text(_case_version("ec")),
        }
        # Version 1 lists every non-empty field; a later version the fields that differ from the
        # one before (catalog.services.changed_fields): more editions, maybe a description or cover.
        first = {
            "title": None,
            "subtitle": "b.subtitle <> ''",
            "description": "b.desc_from = 1",
            "authors": None,
            "subjects": None,
            "languages": None,
            "first_publish_year": "b.year IS NOT NULL",
            "cover_id": "b.cover_from = 1",
            "isbns": None,
            "edition_count": None,
        }
        later = {"description": "b.desc_from = n.v", "cover_id": "b.cover_from = n.v", "edition_count": None}
        if set(values) != set(CONTENT_FIELDS):
            raise NotImplementedError(
                "catalog.models.CONTENT_FIELDS changed: teach catalog/seeding/plan.py the new fields"
            )
        # Keys in sorted order, no spaces: the text is its own canonical form (content_hash).
        fields = sorted(CONTENT_FIELDS)
        template = "{" + ",".join(f'"{field}":%s' for field in fields) + "}"
        snapshot = d.format(template, *(values[field] for field in fields))

        def listed(conditions: dict[str, str | None]) -> str:
            parts = [
                f"'\"{field}\",'"
                if conditions[field] is None
                else f"CASE WHEN {conditions[field]} THEN '\"{field}\",' ELSE '' END"
                for field in CONTENT_FIELDS
                if field in conditions
            ]
            return f"'[' || rtrim({' || '.join(parts)}, ',') || ']'"

        return snapshot, f"CASE WHEN n.v = 1 THEN {listed(first)} ELSE {listed(later)} END"

    # -- tables -------------------------------------------------------------------------------------

    @functools.cached_property
    def helper_tables(self) -> dict[str, tuple[str, list[tuple]]]:
        """The fixed small tables (and olcs_seed_r) with their rows, in the generating connection's temp schema."""
        return {
            "olcs_seed_vn": ("v integer PRIMARY KEY", [(1,), (2,), (3,)]),
            "olcs_seed_nums": (
                "n integer PRIMARY KEY",
                [(n,) for n in range(1, self.batch_size + 1)] if self.d.sqlite else [],
            ),
            # sp…: after a space; …j: escaped as inside a JSON string.
            "olcs_seed_words": (
                "i integer PRIMARY KEY, word text, cap text, folded text, sp text, spfolded text, capj text, spj text",
                [(i, *entry) for i, entry in enumerate(self.word_bag)],
            ),
            # q: as a JSON string; cq: the same after a comma; sp: the name after a space;
            # words, spwords: its search words joined by spaces (search_words()).
            "olcs_seed_subjects": (
                "i integer PRIMARY KEY, name text, q text, cq text, sp text, lower_name text, folded text, "
                "words text, spwords text",
                [
                    (
                        i,
                        name,
                        canonical_json(name),
                        "," + canonical_json(name),
                        " " + name,
                        name.lower(),
                        fold(name)[:200],
                        search_words(name),
                        " " + search_words(name),
                    )
                    for i, (name, _) in enumerate(SUBJECTS)
                ],
            ),
            "olcs_seed_subject_bag": ("i integer PRIMARY KEY, s integer", list(enumerate(self.subject_bag))),
            "olcs_seed_langs": (
                "i integer PRIMARY KEY, list text, folded text",
                [(i, canonical_json([code]), fold(code)[:200]) for i, code in enumerate(self.language_bag)],
            ),
            "olcs_seed_subtitles": (
                "i integer PRIMARY KEY, subtitle text, json text, words text",
                [
                    (i, subtitle, canonical_json(subtitle), search_words(subtitle))
                    for i, subtitle in enumerate(SUBTITLES)
                ],
            ),
            "olcs_seed_isbn": (
                "i integer PRIMARY KEY, txt text, w313 integer, w131 integer, w10a integer, w10b integer, w10c integer",
                _isbn_triplets(),
            ),
            "olcs_seed_authors": (
                "tenant_id bigint, idx integer, id bigint, name text, sp text, json text, cjson text, "
                "words text, spwords text, PRIMARY KEY (tenant_id, idx)",
                [],
            ),
            # SQLite: the books as made, before they are numbered in time order (generate()).
            **(
                {
                    "olcs_seed_unsorted": (self.batch_tables()["olcs_seed_b"], []),
                    "olcs_seed_order": ("n integer PRIMARY KEY, made integer", []),
                }
                if self.d.sqlite
                else {}
            ),
            "olcs_seed_r": (
                "n integer PRIMARY KEY, "
                + ", ".join(f"{name} bigint" for name in self.draw_columns if name != "n"),
                [],
            ),
        }

    def batch_tables(self) -> dict[str, str]:
        """The tables a batch is written from (olcs_seed_b, olcs_seed_v): name, columns."""
        moment = "text" if self.d.sqlite else "timestamptz"
        book = ", ".join(
            f"{name} {moment if name.startswith('ts') else 'text' if is_text else 'bigint'}"
            for name, (_, is_text) in self.book_columns.items()
            if name != "n"
        )
        return {
            "olcs_seed_b": f"n integer PRIMARY KEY, {book}",
            # k = 4 n + v: the book and the version in one integer key.
            "olcs_seed_v": "k integer PRIMARY KEY, n integer, book_id bigint, tenant_id bigint, v integer, snap text, changed text, "
            f"hash text, ts {moment}",
        }

    def all_tables(self) -> list[str]:
        return [*self.helper_tables, *self.batch_tables()]

    @staticmethod
    def author_rows(pools: dict[int, list[tuple[int, str, str]]]) -> list[tuple]:
        """The rows of olcs_seed_authors for each library's pool of (id, key, name)."""
        return [
            (
                tenant_id,
                idx,
                author_id,
                name,
                " " + name,
                entry,
                "," + entry,
                search_words(name),
                " " + search_words(name),
            )
            for tenant_id, pool in pools.items()
            for idx, (author_id, key, name) in enumerate(pool)
            for entry in [canonical_json({"name": name, "open_library_key": key})]
        ]

    # -- generating a batch -------------------------------------------------------------------------

    def generate(
        self, execute: Callable[[str], object], *, parts: list[tuple[int, int]], out: str, random_sql: str
    ) -> None:
        """Fill olcs_seed_r (temp) and out.olcs_seed_b, out.olcs_seed_v with a batch: (library, books) parts."""
        d, temp = self.d, self.d.temp
        size = sum(count for _, count in parts)
        ends = itertools.accumulate(count for _, count in parts)
        tenant = " ".join(
            f"WHEN n <= {int(end)} THEN {int(tenant_id)}"
            for (tenant_id, _), end in zip(parts, ends, strict=True)
        )
        if size > self.batch_size:
            raise ValueError(f"a batch has at most {self.batch_size:,} books")
        for table in (temp("olcs_seed_r"), f"{out}olcs_seed_b", f"{out}olcs_seed_v"):
            execute(f"DELETE FROM {table}")  # nosec B608  # SQL built from code: table names and numbers, no input
        randoms = ", ".join(f"{random_sql} AS s{k}" for k in range(self.draws.slots))
        if d.sqlite:
            source = f"SELECT n, NULL AS id, {randoms} FROM {temp('olcs_seed_nums')} WHERE n <= {int(size)}"  # nosec B608  # SQL built from code: table names and numbers, no input
        else:
            # Ids from the sequence now: a concurrent insert elsewhere gets others.
            source = (
                f"SELECT n, nextval(pg_get_serial_sequence('catalog_book', 'id')) AS id, {randoms} "  # nosec B608  # SQL built from code: table names and numbers, no input
                f"FROM generate_series(1, {int(size)}) AS n"
            )
        now = time.time_ns() // 1000
        draws = (
            ", ".join(self.draw_columns.values())
            .replace("{now}", str(now))
            .replace("{tenant}", f"CASE {tenant} END")
        )
        # MATERIALIZED: each random number drawn once, however often the draws read it.
        execute(
            f"WITH s AS MATERIALIZED ({source}) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"INSERT INTO {temp('olcs_seed_r')} ({', '.join(self.draw_columns)}) SELECT {draws} FROM s"
        )
        columns = ", ".join(sql for sql, _ in self.book_columns.values())
        names = ", ".join(self.book_columns)
        # SQLite: made into a temp table first, then numbered in the order they last changed
        # (within each library), as a real catalog's ids follow time: the writer's ids (base + n)
        # then go into the updated_at index in order too, where random inserts cost the most.
        made = temp("olcs_seed_unsorted") if d.sqlite else f"{out}olcs_seed_b"
        if d.sqlite:
            execute(f"DELETE FROM {made}")  # nosec B608  # SQL built from code: table names and numbers, no input
        execute(
            f"INSERT INTO {made} ({names}) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"SELECT {columns} FROM {temp('olcs_seed_r')} r {' '.join(self.book_joins)}"
        )
        if d.sqlite:
            # The order is worked out on narrow rows, then the wide ones are copied in it.
            execute(f"DELETE FROM {temp('olcs_seed_order')}")  # nosec B608  # SQL built from code: table names and numbers, no input
            execute(
                f"INSERT INTO {temp('olcs_seed_order')} (n, made) "  # nosec B608  # SQL built from code: table names and numbers, no input
                f"SELECT row_number() OVER (ORDER BY tenant_id, latest, n), n FROM {made}"
            )
            others = ", ".join(f"u.{name}" for name in self.book_columns if name != "n")
            execute(
                f"INSERT INTO {out}olcs_seed_b ({names}) "  # nosec B608  # SQL built from code: table names and numbers, no input
                f"SELECT o.n, {others} FROM {temp('olcs_seed_order')} o JOIN {made} u ON u.n = o.made ORDER BY o.n"
            )
        execute(
            f"WITH s AS MATERIALIZED (SELECT b.n * 4 + n.v AS k, b.n AS n, b.id AS book_id, b.tenant_id, n.v AS v, "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"{self.snapshot_sql} AS snap, {self.changed_sql} AS changed, {_case_version('ts')} AS ts "
            f"FROM {out}olcs_seed_b b JOIN {temp('olcs_seed_vn')} n ON n.v <= b.nv) "
            f"INSERT INTO {out}olcs_seed_v (k, n, book_id, tenant_id, v, snap, changed, hash, ts) "
            f"SELECT k, n, book_id, tenant_id, v, snap, changed, {d.sha256('snap')}, ts FROM s"
        )

    def analyze(self, execute, table: str) -> None:
        if not self.d.sqlite:
            execute(f"ANALYZE {table}")  # the planner's row counts for the joins that follow
