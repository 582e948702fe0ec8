"""A realistic synthetic catalog, generated inside the database: for benchmarks, demos and load tests.

Titles draw words with a long-tailed (Zipf-like) frequency, rare words included; authors carry
accents (a pool of `AUTHORS_PER_TENANT` per library, one or two per book); ISBN-13s have valid
check digits; each book has one to three versions whose snapshots differ as real upstream edits
would (more editions, a description or a cover added later).

How: Python only fills a few small tables (word bag, subjects, languages, ISBN digit sums, the
author pool). A batch of books is then a handful of INSERT … SELECT statements: random numbers
drawn in SQL become each book's texts and JSON (olcs_seed_b) and each version's canonical
snapshot and hash (olcs_seed_v), and those fill every catalog table. Every derived value is
what the ORM path (catalog.services.upsert_book) writes: tests/catalog/test_seed.py checks it
row by row, on SQLite and on PostgreSQL.

SQLite: a generator process (catalog/seed_generator.py) makes the next batch in a database file
of its own (in memory, under /dev/shm) while the current one is written from the file before it,
attached read-only; the FTS5 index and the library counts (CatalogStats) are filled with one
INSERT per batch while their per-row insert triggers are dropped — dropped and re-created (from
the migration's own SQL) inside each batch's transaction, so no other connection ever sees it
missing and a failed batch rolls back to it; a checkpointer thread copies the WAL into the
database file meanwhile. PostgreSQL: worker connections write batches side by side; the
search_vector trigger stays on.
"""

# Every statement here is put together from this module's constants and integers, never from input.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import json
import os
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from catalog.models import CONTENT_FIELDS, Author, BookFacet, BookVersion, fold, year_sort_key
from catalog.search import words
from catalog.seed_generator import SLOTS, GeneratorProcess, Recorder, register_functions, slot_schema
from tenants.models import Tenant

_search_index = importlib.import_module("catalog.migrations.0004_search_per_library")
_catalog_stats = importlib.import_module("catalog.migrations.0005_catalog_stats")

WORDS = [
    "history",
    "war",
    "love",
    "life",
    "world",
    "house",
    "night",
    "time",
    "river",
    "city",
    "garden",
    "king",
    "queen",
    "shadow",
    "light",
    "secret",
    "journey",
    "island",
    "winter",
    "summer",
    "stone",
    "fire",
    "water",
    "sea",
    "mountain",
    "road",
    "empire",
    "dream",
    "silence",
    "stars",
    "children",
    "mother",
    "father",
    "daughter",
    "son",
    "heart",
    "blood",
    "gold",
    "iron",
    "glass",
    "forest",
    "storm",
    "moon",
    "sun",
    "book",
    "letters",
    "memory",
    "music",
    "song",
    "dance",
    "art",
    "science",
    "nature",
    "theory",
    "introduction",
    "guide",
    "principles",
    "modern",
    "ancient",
    "early",
    "new",
    "last",
    "first",
    "lost",
    "hidden",
    "broken",
    "silent",
    "little",
    "great",
    "dark",
    "bright",
    "wild",
    "short",
    "complete",
    "collected",
    "selected",
    "essays",
    "poems",
    "stories",
    "tales",
    "notes",
    "lectures",
    "studies",
    "survey",
    "économie",
    "café",
    "señora",
    "élite",
    "naïve",
    "façade",
    "über",
    "fiancée",
    "mañana",
    "déjà",
    "smörgåsbord",
    "crème",
    "economics",
    "politics",
    "philosophy",
    "religion",
    "language",
    "mathematics",
    "physics",
    "chemistry",
    "biology",
    "medicine",
    "law",
    "society",
    "culture",
    "education",
    "power",
    "freedom",
    "justice",
    "money",
    "trade",
    "revolution",
    "republic",
    "nation",
    "village",
    "harbor",
    "valley",
    "desert",
    "bridge",
    "tower",
    "castle",
    "church",
    "temple",
    "market",
    "school",
    "library",
    "museum",
    "painter",
    "soldier",
    "sailor",
    "doctor",
    "teacher",
    "stranger",
    "traveller",
    "prisoner",
    "witness",
    "widow",
    "orphan",
    "pilgrim",
]
# Words that occur in very few titles: what a search for something rare finds.
RARE_WORDS = [
    f"{a}{b}"
    for a in ("zor", "quil", "vex", "brom", "thal", "myr", "oxen", "pell")
    for b in ("andine", "ethic", "ovary", "umbra", "istic", "alith", "ogram", "ennial", "opsis", "arium")
]
# Title words follow a Zipf-Mandelbrot law, p(k) ~ 1 / (k + ZIPF_OFFSET), over WORDS and then
# TAIL_WORDS (made-up words: a real catalog's vocabulary is large): the most frequent word is in
# about 3 % of titles, as in real catalogs. Word k is drawn ZIPF_SCALE / (k + ZIPF_OFFSET) times
# as often as a rare word.
ZIPF_OFFSET = 24
ZIPF_SCALE = 2_600
TAIL_SIZE = 2_400
FIRST_NAMES = [
    "José",
    "Zoë",
    "Björn",
    "Émile",
    "François",
    "Anaïs",
    "Søren",
    "Łukasz",
    "Chloé",
    "Inés",
    "Jürgen",
    "Renée",
    "Núria",
    "Dvořák",
    "Åsa",
    "Maria",
    "John",
    "Ana",
    "Peter",
    "Olga",
    "Hiroshi",
    "Amara",
    "Chen",
    "Fatima",
    "Liam",
    "Noor",
    "Mateo",
    "Ingrid",
    "Kwame",
    "Priya",
    "Tomás",
    "Göran",
    "Małgorzata",
    "Zoltán",
    "Ágnes",
    "Jiří",
    "Héloïse",
    "Joaquín",
    "Björk",
    "Stéphane",
    "Ümit",
    "Çağla",
    "Øyvind",
    "Raphaël",
    "Elizabeth",
    "James",
    "Mary",
    "William",
    "Sarah",
    "David",
    "Aiko",
    "Yusuf",
    "Leïla",
    "Dmitri",
    "Nadia",
    "Oskar",
    "Sigríður",
    "Tadeusz",
]
LAST_NAMES = [
    "García",
    "Müller",
    "Øster",
    "Lefèvre",
    "Brontë",
    "Dostoyevsky",
    "Hašek",
    "Kierkegaard",
    "Østergård",
    "Nuñez",
    "Smith",
    "Tolkien",
    "Rowling",
    "Achebe",
    "Murakami",
    "Okafor",
    "Silva",
    "Novak",
    "Kowalski",
    "Jansen",
    "Rossi",
    "Dubois",
    "Haddad",
    "Sato",
    "Mbeki",
    "Larsen",
    "Žižek",
    "Ibáñez",
    "Gonçalves",
    "Çelik",
    "Nørgaard",
    "Jókai",
    "Dvořáková",
    "Schäfer",
    "Fernández",
    "Lindqvist",
    "O'Brien",
    "Austen",
    "Dickens",
    "Woolf",
    "Eliot",
    "Márquez",
    "Borges",
    "Lagerlöf",
    "Mistral",
    "Szymborska",
    "Pamuk",
    "Saramago",
    "Kundera",
]
INITIALS = ["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W"]
# (subject, weight): a few subjects are far more common than others.
SUBJECTS = (
    ("Fiction", 12),
    ("History", 8),
    ("Biography", 5),
    ("Poetry", 3),
    ("Science", 4),
    ("Philosophy", 2),
    ("Children's literature", 4),
    ("Fantasy", 3),
    ("Mystery", 3),
    ("Romance", 3),
    ("Travel", 2),
    ("Art", 2),
    ("Music", 2),
    ("Economics", 2),
    ("Politics", 2),
    ("Religion", 2),
    ("Mathematics", 1),
    ("Medicine", 1),
    ("Law", 1),
    ("Education", 1),
    ("Cooking", 1),
    ("Gardening", 1),
    ("Nature", 1),
    ("Psychology", 1),
    ("Sociology", 1),
    ("Drama", 1),
    ("Essays", 1),
    ("Short stories", 1),
    ("Science fiction", 2),
    ("Horror", 1),
    ("Littérature française", 1),
    ("Géographie", 1),
)
# (language, weight): mostly English.
LANGUAGES = (
    ("eng", 70),
    ("fre", 6),
    ("ger", 6),
    ("spa", 6),
    ("ita", 4),
    ("por", 3),
    ("rus", 2),
    ("jpn", 2),
    ("chi", 1),
)
SUBTITLES = (
    "a novel",
    "a history",
    "an introduction",
    "selected essays",
    "stories",
    "a memoir",
    "with illustrations",
    "second edition",
    "a study",
    "poems",
    "collected letters",
    "a guide for beginners",
    "from the beginnings to the present",
    "an anthology",
    "volume I",
    "volume II",
    "édition revue et augmentée",
    "Roman",
    "Erzählungen",
    "una novela",
)
AUTHORS_PER_TENANT = 5_000
BATCH = 50_000
BATCH_LIMIT = 200_000
BATCH_FILE_MMAP = 1 << 30  # a batch file is about 1.5 KB a book: 300 MB at BATCH_LIMIT
WAL_RESTART_BYTES = 256 << 20  # SQLite: let the WAL start over once it is this long
# Seeded Open Library keys are /works/OL{id + KEY_OFFSET}W: far above the real ones.
KEY_OFFSET = 900_000_000
SECOND = 1_000_000
DAY = 86_400 * SECOND
ISBN_BODY = 999_000_000  # the 9 digits after 978/979 of the first ISBN (the second is a little above)
# A batch: (library id, books) parts, one transaction.
Batch = list[tuple[int, int]]
CATALOG_TABLES = (
    "catalog_book",
    "catalog_bookversion",
    "catalog_bookauthor",
    "catalog_bookisbn",
    "catalog_bookfacet",
)


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
    # Batches of batch_size books, one library after the other: a batch may span two or more.
    jobs: list[Batch] = [[]]
    room = batch_size
    for tenant, count in zip(tenants, per_tenant, strict=True):
        while count:
            if not room:
                jobs.append([])
                room = batch_size
            take = min(count, room)
            jobs[-1].append((tenant.pk, take))
            count -= take
            room -= take
    jobs = [job for job in jobs if job]
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


# --- Python-side helpers: the small tables the SQL draws from ------------------------------------


def search_words(text: str) -> str:
    """A text's search words joined by spaces (catalog.search.words): what the FTS rows key one by one."""
    found = words(text)
    if not found:
        raise ValueError(f"{text!r} has no search words")
    return " ".join(found)


def canonical_json(value) -> str:
    """JSON exactly as catalog.models.content_hash writes it (sorted keys, compact, UTF-8)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _json_inner(text: str) -> str:
    """A text escaped as inside a JSON string (escaping is per character: pieces concatenate)."""
    return canonical_json(text)[1:-1]


def _tail_words(count: int) -> list[str]:
    """Made-up words of two or three syllables, a few with an accent: always the same ones."""
    rng = random.Random("olcs seed vocabulary")  # noqa: S311 - a fixed vocabulary, not a secret
    onsets = [
        "b",
        "br",
        "c",
        "d",
        "dr",
        "f",
        "g",
        "gr",
        "h",
        "k",
        "l",
        "m",
        "n",
        "p",
        "pr",
        "r",
        "s",
        "st",
        "t",
        "tr",
        "v",
        "z",
    ]
    vowels = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ou"]
    codas = ["", "", "l", "m", "n", "nd", "r", "s", "st", "th"]
    accents = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü"}
    taken = {*WORDS, *RARE_WORDS}
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
        if rng.random() < 0.05:
            position = rng.choice([i for i, letter in enumerate(word) if letter in accents])
            word = word[:position] + accents[word[position]] + word[position + 1 :]
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def _word_bag() -> list[tuple[str, ...]]:
    """The title words, each as often as ZIPF_SCALE / (rank + ZIPF_OFFSET), as olcs_seed_words rows."""
    ranked = [*WORDS, *_tail_words(TAIL_SIZE)]
    weighted = [(word, max(1, round(ZIPF_SCALE / (k + ZIPF_OFFSET)))) for k, word in enumerate(ranked)]
    weighted += [(word, 1) for word in RARE_WORDS]
    bag = []
    for word, weight in weighted:
        capitalized = word[:1].upper() + word[1:]
        # A title's sort key is the fold of its words joined by spaces: the same for either form.
        assert fold(capitalized) == fold(word), word
        # One search word as it stands: the title is already its words joined by spaces (FTS rows).
        assert words(capitalized) == [capitalized], word
        entry = (
            word,
            capitalized,
            fold(word),
            " " + word,
            " " + fold(word),
            _json_inner(capitalized),
            " " + _json_inner(word),
        )
        bag += [entry] * weight
    return bag


def _isbn_triplets() -> list[tuple]:
    """Three digits of an ISBN body and their share of the check-digit sums, for 000 … 999.

    A 9-digit body is three triplets A B C; ISBN-13 weighs them 3,1,3 / 1,3,1 / 3,1,3 (after
    978/979), ISBN-10 10,9,8 / 7,6,5 / 4,3,2.
    """
    rows = []
    for i in range(1000):
        a, b, c = (int(digit) for digit in f"{i:03d}")
        rows.append(
            (
                i,
                f"{i:03d}",
                3 * a + b + 3 * c,
                a + 3 * b + c,
                10 * a + 9 * b + 8 * c,
                7 * a + 6 * b + 5 * c,
                4 * a + 3 * b + 2 * c,
            )
        )
    return rows


def _author_name(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    roll = rng.random()
    if roll < 0.15:
        first, last = name.split(" ", 1)
        name = f"{first} {rng.choice(INITIALS)}. {last}"
    elif roll < 0.25:
        name += f"-{rng.choice(LAST_NAMES)}"
    return name


# --- SQL generation ---------------------------------------------------------------------------------


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
                "catalog.models.CONTENT_FIELDS changed: teach catalog/seed.py the new fields"
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

    # -- writing a batch ------------------------------------------------------------------------------

    def insert(
        self,
        execute: Callable[[str], object],
        *,
        source: str,
        base: int | None,
        fts: bool,
        immediate: str,
    ) -> None:
        """Write the batch in source.olcs_seed_b/_v to the catalog (inside the caller's transaction).

        `base`: on SQLite the id before the batch's first book (book n gets base + n).
        `fts`: fill the FTS5 table and the library counts here, their per-row insert triggers
        dropped meanwhile.
        `immediate`: PostgreSQL foreign keys to check row by row rather than at commit.
        """
        d = self.d

        def book_id(alias: str) -> str:
            """The id of the book of a row of olcs_seed_b (b) or olcs_seed_v (v)."""
            if base is not None:
                return f"({int(base)} + {alias}.n)"
            return f"{alias}.book_id" if alias == "v" else f"{alias}.id"

        if immediate:
            # Checked row by row as they go in: far cheaper than a queue of deferred checks.
            execute(f"SET CONSTRAINTS {immediate} IMMEDIATE")
        latest_ts = _case_version("ts", "b.nv")
        values = {
            "id": book_id("b"),
            "tenant_id": "b.tenant_id",
            "open_library_key": f"'/works/OL' || {d.text(book_id('b') + f' + {KEY_OFFSET}')} || 'W'",
            "title": "b.title",
            "title_sort": "b.title_sort",
            "subtitle": "b.subtitle",
            "description": "coalesce(b.description, '')",
            "subjects": d.json("b.subjects"),
            "languages": d.json("b.languages"),
            "first_publish_year": "b.year",
            "year_sort": f"coalesce(b.year, {year_sort_key(None)})",
            "cover_id": "b.cover_id",
            "isbns": d.json("b.isbns"),
            "edition_count": _case_version("ec", "b.nv"),
            "authors_data": d.json("b.authors"),
            "merged_keys": d.json(EMPTY_LIST),
            "upstream_modified": f"b.latest / {SECOND}",
            "current_version": "b.nv",
            "content_hash": "v.hash",
            "created_at": "b.ts1",
            "updated_at": latest_ts,
            "last_synced_at": latest_ts,
        }
        if fts:
            execute("DROP TRIGGER catalog_book_fts_insert")
            execute("DROP TRIGGER catalog_stats_insert")
        execute(
            f"INSERT INTO catalog_book ({', '.join(values)}) SELECT {', '.join(values.values())} "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"FROM {source}olcs_seed_b b JOIN {source}olcs_seed_v v ON v.k = b.n * 4 + b.nv"
        )
        if fts:
            # The values the trigger writes (SQLITE_FTS_VALUES: catalog.search.library_words), from
            # olcs_seed_b's words joined by spaces rather than parsed back out of the JSON columns
            # and split by the Python function: `t<id>x` before each word, in SQL. A quarter of
            # the writer's time went to that function. tests/catalog/test_seed.py compares the two.
            key = "('t' || b.tenant_id || 'x')"
            columns = [
                "b.title",
                "b.subtitle_words",
                "b.author_words",
                "b.subject_words",
                "b.isbn1 || coalesce(' ' || b.isbn2, '')",
            ]
            keyed = ", ".join(
                f"CASE WHEN {column} = '' THEN '' ELSE {key} || replace({column}, ' ', ' ' || {key}) END"
                for column in columns
            )
            execute(
                "INSERT INTO catalog_book_fts (rowid, title, subtitle, authors, subjects, isbns) "  # nosec B608  # SQL built from code: table names and numbers, no input
                f"SELECT {book_id('b')}, {keyed} FROM {source}olcs_seed_b b"
            )
            execute(_fts_insert_trigger())
            # What catalog_stats_insert does row by row, once per library for the batch.
            execute(
                "INSERT INTO catalog_catalogstats (tenant_id, books, generation) "  # nosec B608  # SQL built from code: table names and numbers, no input
                f"SELECT tenant_id, count(*), 1 FROM {source}olcs_seed_b WHERE true GROUP BY tenant_id "
                "ON CONFLICT (tenant_id) DO UPDATE SET books = books + excluded.books, generation = generation + 1"
            )
            execute(_sqlite_trigger(_catalog_stats, "catalog_stats_insert"))
        execute(
            "INSERT INTO catalog_bookversion (tenant_id, book_id, version, snapshot, changed_fields, "  # nosec B608  # SQL built from code: table names and numbers, no input
            "content_hash, source, job_id, created_at) "
            f"SELECT tenant_id, {book_id('v')}, v, {d.json('snap')}, {d.json('changed')}, hash, "
            f"'{BookVersion.Source.SEED.value}', NULL, ts FROM {source}olcs_seed_v v"
        )
        b = f"{source}olcs_seed_b b"
        execute(
            "INSERT INTO catalog_bookauthor (tenant_id, book_id, author_id, position) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"SELECT tenant_id, {book_id('b')}, a1, 0 FROM {b} "
            f"UNION ALL SELECT tenant_id, {book_id('b')}, a2, 1 FROM {b} WHERE a2 IS NOT NULL "
            # In the order of the (tenant, author, book) and author indexes, where they go in cheapest.
            "ORDER BY 1, 3, 2"
        )
        execute(
            "INSERT INTO catalog_bookisbn (tenant_id, book_id, isbn13, isbn10) "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"SELECT tenant_id, {book_id('b')}, isbn1, isbn1_10 FROM {b} "
            f"UNION ALL SELECT tenant_id, {book_id('b')}, isbn2, isbn2_10 FROM {b} WHERE isbn2 IS NOT NULL"
        )
        subject, language = BookFacet.Kind.SUBJECT.value, BookFacet.Kind.LANGUAGE.value
        facets = [
            f"SELECT tenant_id, {book_id('b')}, '{subject}', {column} FROM {b} WHERE {column} IS NOT NULL"  # nosec B608  # SQL built from code: table names and numbers, no input
            for column in ("f1", "f2", "f3")
        ]
        facets.append(f"SELECT tenant_id, {book_id('b')}, '{language}', lang FROM {b}")  # nosec B608  # SQL built from code: table names and numbers, no input
        execute(
            f"INSERT INTO catalog_bookfacet (tenant_id, book_id, kind, value) {' UNION ALL '.join(facets)}"
        )
        if immediate:
            execute(f"SET CONSTRAINTS {immediate} DEFERRED")


# --- Running it -------------------------------------------------------------------------------------


class _Session:
    """This connection's settings for the bulk load, and the way batches are made.

    SQLite, outside a transaction: a generator process makes the next batch in a file of its own
    while this connection writes the current one to the catalog from the file before (attached
    read-only), and a checkpointer thread copies the WAL into the database file meanwhile.
    PostgreSQL, outside a transaction: worker threads, each with its own connection, take turns
    at the batches. Within a transaction already (a test's), this connection does everything.
    All settings are put back on exit.
    """

    GENERATED = "olcs_seed_gen"  # the schema a generated batch is attached as (read-only)

    def __init__(self, plan: _Plan, rng: random.Random | None, seed: int | None, *, workers: int = 1) -> None:
        self.plan, self.rng, self.seed = plan, rng, seed
        self.sqlite = plan.d.sqlite
        self.workers = 1 if self.sqlite or connection.in_atomic_block else max(1, workers)
        self.fts = False
        self.immediate = ""
        self.restore: list[str] = []
        self.pipeline = False
        self.checkpointer: _Checkpointer | None = None

    def __enter__(self) -> _Session:
        connection.ensure_connection()
        try:
            with connection.cursor() as cursor:
                if self.sqlite:
                    self._sqlite(cursor)
                elif self.workers == 1:
                    self._postgresql(cursor)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            with connection.cursor() as cursor:
                for statement in self.restore:
                    cursor.execute(statement)
        finally:
            if self.checkpointer:
                self.checkpointer.stop()

    def _sqlite(self, cursor) -> None:
        if connection.timezone_name != "UTC":
            raise NotImplementedError("seed_catalog writes UTC timestamps: DATABASES TIME_ZONE must be UTC")
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'catalog_book_fts_insert'"
        )
        self.fts = cursor.fetchone()[0] == 1
        self._pragma(cursor, "cache_size", -262_144)  # 256 MiB: the indexes written at random stay cached
        self._pragma(cursor, "temp.cache_size", -262_144)  # the batch tables too
        # The JSON columns' CHECK (JSON_VALID(…)) would parse every snapshot again: the JSON here
        # is built valid, and tests/catalog/test_seed.py parses every seeded document.
        self._pragma(cursor, "ignore_check_constraints", 1)
        if not connection.in_atomic_block:
            # References are right by construction (the batch's own books, the library's author
            # pool), and checking them would cost a tenth of the time. (This setting, and the
            # ones below, only change outside a transaction: a test's seed keeps its checks.)
            self._pragma(cursor, "foreign_keys", 0)
            self.pipeline = True
        if not self.pipeline:
            with transaction.atomic():
                _create_tables(cursor.execute, cursor.executemany, self.plan, "%s", batch_schemas=["temp"])
            self.restore += [f"DROP TABLE IF EXISTS temp.{name}" for name in self.plan.all_tables()]
            register_functions(connection.connection, self.rng)
            return
        cursor.execute("PRAGMA journal_mode")
        name = str(connection.settings_dict["NAME"])
        if cursor.fetchone()[0].lower() == "wal" and "mode=memory" not in name:
            self._pragma(cursor, "wal_autocheckpoint", 0)
            self.checkpointer = _Checkpointer(name)

    def _pragma(self, cursor, name: str, value: int) -> None:
        cursor.execute(f"PRAGMA {name}")
        self.restore.insert(0, f"PRAGMA {name} = {int(cursor.fetchone()[0])}")
        cursor.execute(f"PRAGMA {name} = {int(value)}")

    def _postgresql(self, cursor) -> None:
        if self.seed is not None:
            cursor.execute(f"SELECT setseed({(self.seed % 2**31) / 2**31})")
        tables = ", ".join(f"'{table}'::regclass" for table in CATALOG_TABLES)
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND condeferrable AND condeferred "  # nosec B608  # SQL built from code: table names and numbers, no input
            f"AND conrelid IN ({tables}) ORDER BY conname"
        )
        self.immediate = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        self.restore += [f"DROP TABLE IF EXISTS pg_temp.{name}" for name in self.plan.all_tables()]
        with transaction.atomic():
            _create_tables(cursor.execute, cursor.executemany, self.plan, "%s", batch_schemas=["pg_temp"])

    # -- authors and ids ------------------------------------------------------------------------------

    def author_pool(self, tenant: Tenant, rng: random.Random) -> list[tuple[int, str, str]]:
        """The library's first AUTHORS_PER_TENANT authors (id, key, name), created when missing."""
        with transaction.atomic():
            pool = list(
                Author.objects.for_tenant(tenant)
                .order_by("id")
                .values_list("id", "open_library_key", "name")[:AUTHORS_PER_TENANT]
            )
            new = []
            for author_id in self.next_ids("catalog_author", AUTHORS_PER_TENANT - len(pool)):
                name = _author_name(rng)
                key = f"/authors/OL{author_id + KEY_OFFSET}A"
                new.append(
                    Author(
                        id=author_id,
                        tenant=tenant,
                        open_library_key=key,
                        name=name,
                        name_folded=fold(name)[:500],
                    )
                )
                pool.append((author_id, key, name))
            Author.objects.bulk_create(new, batch_size=1000)
        return pool

    def next_ids(self, table: str, count: int) -> list[int]:
        """`count` ids nobody else will use: call inside the transaction that inserts them."""
        if count <= 0:
            return []
        with connection.cursor() as cursor:
            if self.sqlite:
                # The transaction holds SQLite's write lock (BEGIN IMMEDIATE): nothing else inserts.
                cursor.execute(
                    f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), "  # nosec B608  # SQL built from code: table names and numbers, no input
                    f"coalesce((SELECT max(id) FROM {table}), 0))"
                )
                base = cursor.fetchone()[0]
                return list(range(base + 1, base + count + 1))
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, {int(count)})"  # nosec B608  # SQL built from code: table names and numbers, no input
            )
            return [row[0] for row in cursor.fetchall()]

    # -- batches --------------------------------------------------------------------------------------

    def run(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """Write each batch in a transaction of its own; yield (books, versions) after each."""
        if self.pipeline:
            yield from self._run_pipeline(jobs, pools)
        elif self.workers > 1:
            yield from self._run_workers(jobs, pools)
        else:
            yield from self._run_here(jobs, pools)

    def _run_here(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        temp = self.plan.d.temp
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {temp('olcs_seed_authors')} VALUES ({', '.join(['%s'] * 9)})",  # nosec B608  # SQL built from code: table names and numbers, no input
                self.plan.author_rows(pools),
            )
            self.plan.analyze(cursor.execute, temp("olcs_seed_authors"))
        random_sql = _random_sql(self.plan.d, self.rng)
        for parts in jobs:
            with transaction.atomic(), connection.cursor() as cursor:
                self.plan.generate(cursor.execute, parts=parts, out=temp(""), random_sql=random_sql)
                self._write(cursor, temp(""))
                cursor.execute(f"SELECT count(*) FROM {temp('olcs_seed_v')}")  # nosec B608  # SQL built from code: table names and numbers, no input
                versions = cursor.fetchone()[0]
            yield sum(count for _, count in parts), versions

    def _run_pipeline(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """SQLite: the generator process makes batch k + 1 (and k + 2 …, SLOTS ahead) while batch k is written."""
        setup = Recorder()
        _create_tables(
            setup.execute,
            setup.executemany,
            self.plan,
            "?",
            batch_schemas=[slot_schema(s) for s in range(SLOTS)],
        )
        setup.executemany(
            f"INSERT INTO temp.olcs_seed_authors VALUES ({', '.join(['?'] * 9)})",  # nosec B608  # SQL built from code: table names and numbers, no input
            self.plan.author_rows(pools),
        )
        random_sql = _random_sql(self.plan.d, self.rng)
        to_make = iter(jobs)

        def make_next(slot: int) -> None:
            parts = next(to_make, None)
            if parts is not None:
                steps = Recorder()
                self.plan.generate(
                    steps.execute, parts=parts, out=f"{slot_schema(slot)}.", random_sql=random_sql
                )
                generator.generate(slot, steps.steps)

        generator = GeneratorProcess(setup.steps, self.rng)
        try:
            for slot in range(SLOTS):
                make_next(slot)
            for parts in jobs:
                slot, versions = generator.ready()
                if self.checkpointer and self.checkpointer.wal_bytes >= WAL_RESTART_BYTES:
                    # The WAL starts over from its beginning only if a transaction begins once all
                    # of it is in the database file: wait for the copy now and then. Rewriting the
                    # WAL's first pages costs far less than growing it for ever (docs/performance.md).
                    self.checkpointer.wait()
                with connection.cursor() as cursor:
                    cursor.execute(f"ATTACH DATABASE %s AS {self.GENERATED}", [generator.uri(slot)])
                    try:
                        # Read through a memory map: the file's pages are in memory already.
                        cursor.execute(f"PRAGMA {self.GENERATED}.mmap_size = {BATCH_FILE_MMAP}")
                        with transaction.atomic():
                            self._write(cursor, f"{self.GENERATED}.")
                    finally:
                        cursor.execute(f"DETACH DATABASE {self.GENERATED}")
                make_next(slot)
                if self.checkpointer:
                    self.checkpointer.poke()
                yield sum(count for _, count in parts), versions
        finally:
            generator.stop()

    def _run_workers(self, jobs: list[Batch], pools: dict[int, list]) -> Iterator[tuple[int, int]]:
        """PostgreSQL: `workers` threads, worker w writing jobs w, w + workers, … on its own connection."""
        results: queue.Queue = queue.Queue()
        stopping = threading.Event()
        finished = object()

        def work(worker: int) -> None:
            try:
                seed = None if self.seed is None else self.seed * 1009 + worker
                with _Session(self.plan, None, seed) as session:
                    for item in session._run_here(jobs[worker :: self.workers], pools):
                        results.put(item)
                        if stopping.is_set():
                            break
            except BaseException as error:  # handed to the caller's thread, which raises it
                results.put(error)
            finally:
                connection.close()
                results.put(finished)

        threads = [
            threading.Thread(target=work, args=(worker,), name=f"seed-catalog-{worker}", daemon=True)
            for worker in range(min(self.workers, len(jobs)))
        ]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                item = results.get()
                if item is finished:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stopping.set()
            for thread in threads:
                thread.join()

    def _write(self, cursor, source: str) -> None:
        self.plan.insert(
            cursor.execute,
            source=source,
            base=self.next_ids("catalog_book", 1)[0] - 1 if self.sqlite else None,
            fts=self.fts,
            immediate=self.immediate,
        )


def _create_tables(execute, executemany, plan: _Plan, mark: str, *, batch_schemas: list[str]) -> None:
    """The plan's small tables (temp) with their rows, and its batch tables in each of `batch_schemas`."""
    temp = plan.d.temp
    for name, (columns, rows) in plan.helper_tables.items():
        execute(f"DROP TABLE IF EXISTS {temp(name)}")
        execute(f"CREATE TEMP TABLE {name} ({columns})")
        if rows:
            executemany(f"INSERT INTO {temp(name)} VALUES ({', '.join([mark] * len(rows[0]))})", rows)  # nosec B608  # SQL built from code: table names and numbers, no input
    for schema in batch_schemas:
        for name, columns in plan.batch_tables().items():
            execute(f"DROP TABLE IF EXISTS {schema}.{name}")
            if schema in ("temp", "pg_temp"):
                execute(f"CREATE TEMP TABLE {name} ({columns})")
            else:
                execute(f"CREATE TABLE {schema}.{name} ({columns})")
    plan.analyze(execute, ", ".join(temp(name) for name in plan.helper_tables))


def _random_sql(d: _Dialect, rng: random.Random | None) -> str:
    """SQL for a random 62-bit integer: from the seeded generator when the catalog must be reproducible."""
    if not d.sqlite:
        return d.POSTGRESQL_RANDOM62  # reproducible through setseed()
    return "olcs_seed_random()" if rng is not None else "(random() & 4611686018427387903)"


class _Checkpointer:
    """Copies the WAL into the database file after each batch, from a connection of its own.

    The writer's own automatic checkpoint is off meanwhile: the copy (and its fsync) no longer
    holds up the next batch.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.changed = threading.Condition()
        self.asked = self.done = 0  # copies asked for, and the last one begun that has finished
        self.stopping = self.finished = False
        self.wal_bytes = 0  # the WAL's length at the last copy
        self.thread = threading.Thread(target=self._main, name="seed-catalog-checkpointer", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        with self.changed:
            self.asked += 1
            self.changed.notify_all()

    def wait(self) -> None:
        """Until the copy asked for last is done."""
        with self.changed:
            self.changed.wait_for(lambda: self.done >= self.asked or self.finished)

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.thread.join()

    def _main(self) -> None:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, uri=self.path.startswith("file:"))
        try:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: self.asked > self.done or self.stopping)
                    if self.asked == self.done:
                        return  # stopping, nothing left to copy
                    asked = self.asked
                with contextlib.suppress(sqlite3.Error):  # a missed copy only leaves the WAL longer
                    _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.wal_bytes = frames * page_size
                with self.changed:
                    self.done = asked
                    self.changed.notify_all()
        finally:
            db.close()
            with self.changed:
                self.finished = True
                self.changed.notify_all()


def _fts_insert_trigger() -> str:
    """The migration's own CREATE TRIGGER statement for the FTS insert trigger."""
    return _sqlite_trigger(_search_index, "catalog_book_fts_insert")


def _sqlite_trigger(migration, name: str) -> str:
    """A migration's own CREATE TRIGGER statement for a SQLite trigger."""
    statements = [s for s in migration.SQLITE_FORWARD if f"CREATE TRIGGER {name} " in s]
    if len(statements) != 1:
        raise RuntimeError(f"{migration.__name__} has no single trigger {name}")
    return statements[0]
