"""The catalog's identifiers: ISBNs and Open Library keys, validated and normalised.

OLCS stores every ISBN as ISBN-13: ISBN-10s are converted, and only the ISBN-13s that start
with 978 have an ISBN-10 at all. Only ASCII digits count: `str.isdigit()` accepts Arabic-Indic
or full-width digits, which no ISBN contains.

Open Library keys are stored normalised (`/works/OL…W`, `/books/OL…M`, `/authors/OL…A`);
a bare id, a path or an openlibrary.org URL is accepted wherever a key is given.
"""

from __future__ import annotations

import re
from typing import Literal

# --- ISBNs --------------------------------------------------------------------------------

_ISBN10 = re.compile(r"[0-9]{9}[0-9X]")
_ISBN13 = re.compile(r"[0-9]{13}")
_SHOWN = 40  # characters of a bad value quoted in an error message


class InvalidIsbn(ValueError):
    """The value is not a valid ISBN-10 or ISBN-13."""


def _clean(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidIsbn(f"an ISBN must be text, not {type(value).__name__}")
    return value.strip().replace("-", "").replace(" ", "").upper()


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _isbn10_check_digit(first_nine: str) -> str:
    remainder = sum((10 - position) * int(digit) for position, digit in enumerate(first_nine)) % 11
    check = (11 - remainder) % 11
    return "X" if check == 10 else str(check)


def _isbn13_check_digit(first_twelve: str) -> str:
    total = sum((3 if position % 2 else 1) * int(digit) for position, digit in enumerate(first_twelve))
    return str((10 - total % 10) % 10)


def _validated(value: str) -> str:
    """The cleaned ISBN-10 or ISBN-13 (no hyphens or spaces, upper-case X), or InvalidIsbn."""
    isbn = _clean(value)
    if len(isbn) not in (10, 13):
        raise InvalidIsbn(
            f"an ISBN has 10 or 13 characters (hyphens and spaces aside), {_shown(value)} has {len(isbn)}"
        )
    if len(isbn) == 10:
        if not _ISBN10.fullmatch(isbn):
            raise InvalidIsbn(
                f"an ISBN-10 is 9 digits then a digit or X, {_shown(value)} has other characters"
            )
        expected = _isbn10_check_digit(isbn[:9])
        if isbn[9] != expected:
            raise InvalidIsbn(f"the check digit of ISBN-10 {_shown(value)} should be {expected}")
        return isbn
    if not _ISBN13.fullmatch(isbn):
        raise InvalidIsbn(f"an ISBN-13 is 13 digits, {_shown(value)} has other characters")
    if not isbn.startswith(("978", "979")):
        raise InvalidIsbn(f"an ISBN-13 starts with 978 or 979, {_shown(value)} does not")
    expected = _isbn13_check_digit(isbn[:12])
    if isbn[12] != expected:
        raise InvalidIsbn(f"the check digit of ISBN-13 {_shown(value)} should be {expected}")
    return isbn


def normalize_isbn(value: str) -> str:
    """The ISBN-13 of a valid ISBN-10 or ISBN-13, given with or without hyphens and spaces.

    Raises InvalidIsbn (a ValueError) saying what is wrong: length, characters, prefix or
    check digit.
    """
    isbn = _validated(value)
    return isbn if len(isbn) == 13 else _to_13(isbn)


def is_valid_isbn(value: str) -> bool:
    """True for a valid ISBN-10 or ISBN-13 (hyphens and spaces allowed)."""
    try:
        _validated(value)
    except InvalidIsbn:
        return False
    return True


def isbn10_to_13(value: str) -> str:
    """The ISBN-13 (978 prefix) of a valid ISBN-10; InvalidIsbn for anything else."""
    isbn = _validated(value)
    if len(isbn) != 10:
        raise InvalidIsbn(f"{_shown(value)} is not an ISBN-10")
    return _to_13(isbn)


def isbn13_to_10(value: str) -> str | None:
    """The ISBN-10 of a valid ISBN-13, or None for a 979 ISBN-13, which has none.

    InvalidIsbn for anything that is not a valid ISBN-13.
    """
    isbn = _validated(value)
    if len(isbn) != 13:
        raise InvalidIsbn(f"{_shown(value)} is not an ISBN-13")
    if not isbn.startswith("978"):
        return None
    return isbn[3:12] + _isbn10_check_digit(isbn[3:12])


def _to_13(isbn10: str) -> str:
    first_twelve = "978" + isbn10[:9]
    return first_twelve + _isbn13_check_digit(first_twelve)


# --- Open Library keys --------------------------------------------------------------------

Kind = Literal["work", "edition", "author"]


class InvalidKey(ValueError):
    """Not an Open Library work, edition or author key (or not of the kind asked for)."""


_SEGMENTS: dict[str, tuple[Kind, str]] = {
    "W": ("work", "works"),
    "M": ("edition", "books"),
    "A": ("author", "authors"),
}
_KEY = re.compile(
    r"(?:(?:https?://)?(?:www\.)?openlibrary\.org)?/?"
    r"(?:(?P<segment>works|books|authors)/)?"
    r"(?P<olid>OL[1-9][0-9]*(?P<suffix>[WMA]))"
    r"(?:\.json|/[^/?#]*)?/?(?:[?#].*)?"
)


_A: dict[Kind, str] = {"work": "a work", "edition": "an edition", "author": "an author"}


def parse_open_library_key(value: str) -> tuple[Kind, str]:
    """("work" | "edition" | "author", normalised key) for a key, bare id or openlibrary.org URL.

    Accepts `OL18295W`, `/works/OL18295W`, `works/OL18295W`, `/works/OL18295W.json` and
    `https://openlibrary.org/works/OL18295W/Title`; raises InvalidKey for anything else,
    including a path that disagrees with the id (`/books/OL1W`).
    """
    match = _KEY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidKey(f"not an Open Library work, edition or author key: {value!r:.80}")
    kind, segment = _SEGMENTS[match["suffix"]]
    if match["segment"] not in (None, segment):
        raise InvalidKey(f"{match['olid']} is a {kind} id, so its key is /{segment}/{match['olid']}")
    return kind, f"/{segment}/{match['olid']}"


def normalize_key(value: str, kind: Kind) -> str:
    """The normalised key of `value`, which must be of `kind`; InvalidKey otherwise."""
    found, key = parse_open_library_key(value)
    if found != kind:
        raise InvalidKey(f"{key} is {_A[found]} key, not {_A[kind]} key")
    return key


def normalize_work_key(value: str) -> str:
    """`/works/OL…W` for any accepted form of a work key."""
    return normalize_key(value, "work")


def normalize_edition_key(value: str) -> str:
    """`/books/OL…M` for any accepted form of an edition key."""
    return normalize_key(value, "edition")


def normalize_author_key(value: str) -> str:
    """`/authors/OL…A` for any accepted form of an author key."""
    return normalize_key(value, "author")
