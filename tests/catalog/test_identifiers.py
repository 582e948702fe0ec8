"""The catalog's identifiers (catalog/identifiers.py): ISBN validation and ISBN-10 <-> ISBN-13
conversion, Open Library keys in every accepted form."""

from __future__ import annotations

import pytest

from catalog.identifiers import (
    InvalidIsbn,
    InvalidKey,
    is_valid_isbn,
    isbn10_to_13,
    isbn13_to_10,
    normalize_author_key,
    normalize_edition_key,
    normalize_isbn,
    normalize_work_key,
    parse_open_library_key,
)

# Real ISBNs: Fantastic Mr. Fox, The Great Gatsby, one with an X check digit, and a 979 ISBN.
MR_FOX_10, MR_FOX_13 = "0140328726", "9780140328721"
GATSBY_10, GATSBY_13 = "0743273567", "9780743273565"
X_CHECK_10, X_CHECK_13 = "080442957X", "9780804429573"
PREFIX_979 = "9791032305690"


def in_other_digits(ascii_digits: str, zero: int) -> str:
    """The same number written with another script's digits (e.g. 0x0660, Arabic-Indic zero)."""
    return "".join(chr(zero + int(digit)) if digit.isdigit() else digit for digit in ascii_digits)


ARABIC_INDIC_ZERO, FULLWIDTH_ZERO = 0x0660, 0xFF10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MR_FOX_13, MR_FOX_13),
        (MR_FOX_10, MR_FOX_13),
        (GATSBY_10, GATSBY_13),
        ("978-0-14-032872-1", MR_FOX_13),
        ("0-14-032872-6", MR_FOX_13),
        ("978 0 14 032872 1", MR_FOX_13),
        ("  9780140328721\n", MR_FOX_13),
        (X_CHECK_10, X_CHECK_13),
        ("080442957x", X_CHECK_13),
        ("0-8044-2957-x", X_CHECK_13),
        (PREFIX_979, PREFIX_979),
        ("979-10-323-0569-0", PREFIX_979),
    ],
)
def test_normalize_isbn_returns_the_isbn13(value, expected):
    assert normalize_isbn(value) == expected
    assert is_valid_isbn(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "10 or 13 characters"),
        ("   ", "10 or 13 characters"),
        ("014032872", "has 9"),
        ("97801403287211", "has 14"),
        ("0140328725", "should be 6"),  # wrong ISBN-10 check digit
        ("9780140328722", "should be 1"),  # wrong ISBN-13 check digit
        ("0X40328726", "other characters"),  # X anywhere but last
        ("978014032872X", "other characters"),  # no X in an ISBN-13
        ("014O328726", "other characters"),  # letter O, not zero
        ("0140328726.", "has 11"),
        ("0_140328726", "has 11"),
        ("014\t0328726", "has 11"),
        ("9770140328721", "978 or 979"),  # an ISSN-style 977 prefix
        ("1234567890123", "978 or 979"),
        # Digits of other scripts, which str.isdigit() and int() accept.
        (in_other_digits(MR_FOX_10, ARABIC_INDIC_ZERO), "other characters"),
        (in_other_digits(MR_FOX_10, FULLWIDTH_ZERO), "other characters"),
        ("978" + in_other_digits("0", FULLWIDTH_ZERO) + "140328721", "other characters"),
    ],
)
def test_normalize_isbn_rejects_invalid_values_with_a_reason(value, message):
    with pytest.raises(InvalidIsbn, match=message):
        normalize_isbn(value)
    assert not is_valid_isbn(value)


def test_invalid_isbn_is_a_value_error():
    assert issubclass(InvalidIsbn, ValueError)
    with pytest.raises(ValueError, match="must be text"):
        normalize_isbn(9780140328721)  # type: ignore[arg-type]


def test_error_message_quotes_only_the_start_of_a_huge_value():
    with pytest.raises(InvalidIsbn) as caught:
        normalize_isbn("9" * 10_000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("isbn10", "isbn13"),
    [(MR_FOX_10, MR_FOX_13), (GATSBY_10, GATSBY_13), (X_CHECK_10, X_CHECK_13), ("0-14-032872-6", MR_FOX_13)],
)
def test_isbn10_to_13_and_back(isbn10, isbn13):
    assert isbn10_to_13(isbn10) == isbn13
    assert isbn13_to_10(isbn13) == isbn10.replace("-", "")


def test_isbn13_to_10_is_none_for_979():
    assert isbn13_to_10(PREFIX_979) is None


def test_isbn13_to_10_gives_an_x_check_digit():
    assert isbn13_to_10("978-0-8044-2957-3") == X_CHECK_10


@pytest.mark.parametrize(
    ("function", "value"),
    [
        (isbn10_to_13, MR_FOX_13),  # already an ISBN-13
        (isbn13_to_10, MR_FOX_10),  # an ISBN-10, not an ISBN-13
        (isbn10_to_13, "0140328725"),
        (isbn13_to_10, "9780140328722"),
    ],
)
def test_conversions_reject_the_other_form_and_invalid_values(function, value):
    with pytest.raises(InvalidIsbn):
        function(value)


def test_every_isbn10_round_trips_through_isbn13():
    # Every check digit, X included, for a run of consecutive ISBN-10 stems.
    for stem in range(14032870, 14032890):
        first_nine = f"{stem:09d}"
        isbn10 = next(first_nine + check for check in "0123456789X" if is_valid_isbn(first_nine + check))
        isbn13 = isbn10_to_13(isbn10)
        assert normalize_isbn(isbn13) == isbn13
        assert isbn13_to_10(isbn13) == isbn10


# --- Open Library keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "OL18295W",
        "/works/OL18295W",
        "works/OL18295W",
        " /works/OL18295W ",
        "/works/OL18295W.json",
        "https://openlibrary.org/works/OL18295W/The_Title",
        "https://openlibrary.org/works/OL18295W",
        "http://www.openlibrary.org/works/OL18295W/",
        "openlibrary.org/works/OL18295W/Title?edition=key%3A/books/OL1M",
    ],
)
def test_work_keys_in_every_form_normalise_to_works_path(value):
    assert normalize_work_key(value) == "/works/OL18295W"
    assert parse_open_library_key(value) == ("work", "/works/OL18295W")


@pytest.mark.parametrize(
    ("value", "kind", "key"),
    [
        ("OL7353617M", "edition", "/books/OL7353617M"),
        ("/books/OL7353617M", "edition", "/books/OL7353617M"),
        (
            "http://openlibrary.org/books/OL32784120M/Harry_Potter_and_the_Chamber_of_Secrets",
            "edition",
            "/books/OL32784120M",
        ),
        ("OL26320A", "author", "/authors/OL26320A"),
        ("https://openlibrary.org/authors/OL23919A/J._K._Rowling", "author", "/authors/OL23919A"),
    ],
)
def test_edition_and_author_keys(value, kind, key):
    assert parse_open_library_key(value) == (kind, key)
    normalize = normalize_edition_key if kind == "edition" else normalize_author_key
    assert normalize(value) == key


@pytest.mark.parametrize(
    "value",
    [
        "",
        "OL0W",  # ids start at 1
        "OL012W",
        "ol18295w",
        "OL18295X",
        "OL18295",
        "18295",
        "/books/OL18295W",  # the path disagrees with the id
        "/authors/OL1M",
        "/works/OL18295W/Title/extra",
        "https://example.org/works/OL18295W",
        "/people/OL1A",
        "OL1W OR OL2W",
        "OL\u0661W",  # an Arabic-Indic digit one
        None,
        18295,
    ],
)
def test_anything_else_is_an_invalid_key(value):
    with pytest.raises(InvalidKey):
        parse_open_library_key(value)


def test_a_key_of_another_kind_is_rejected_by_kind():
    with pytest.raises(InvalidKey, match="/books/OL1M is an edition key, not a work key"):
        normalize_work_key("OL1M")
    with pytest.raises(InvalidKey, match="not an author key"):
        normalize_author_key("/works/OL1W")
    assert issubclass(InvalidKey, ValueError)
