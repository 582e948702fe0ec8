"""JSON in, at bounded cost: UTF-8 only, and nested at most MAX_JSON_DEPTH levels.

Python's json module recurses once per level, so a body (or a cursor) of a few thousand `[`
would end in a RecursionError, a 500, after the whole stack was used. The depth is measured on
the raw bytes before anything is decoded, with a handful of C-speed passes over them (about
10 ms for a 1 MiB body of `[[[[...`); anything deeper than the limit is a 400 at once.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.multipartparser import parse_header_parameters
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
UTF8_NAMES = frozenset({"utf-8", "utf8"})

# `{` and `}` count as `[` and `]`: which kind of bracket closes which is json's business.
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the limit."""


class JsonMalformed(ValueError):
    """Brackets that do not pair up: no JSON document."""


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit`; JsonMalformed
    when its brackets cannot pair up.

    Every byte but brackets and quotes is dropped, then the strings (a `[` inside one is text),
    then each `replace` pass removes the innermost pairs, one level: what is still paired after
    `limit` passes lies deeper. Otherwise malformed text is left for the JSON decoder to refuse.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Escaped backslashes first, so that `\\"` still ends its string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Removing two quotes in a row keeps every other byte inside or outside its string.
    structure = unescaped.translate(_AS_SQUARE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    for done in range(limit):
        if not structure:
            return False
        # A run of opening brackets as long as the levels left is too deep already (and
        # searching for `[]` along such runs is what would be slow).
        if b"[" * (limit - done + 1) in structure:
            return True
        shorter = structure.replace(b"[]", b"")
        if len(shorter) == len(structure):
            raise JsonMalformed("unbalanced brackets")
        structure = shorter
    if b"[]" in structure:
        return True
    if structure:
        raise JsonMalformed("unbalanced brackets")
    return False


def loads_bounded(raw: bytes, *, limit: int = MAX_JSON_DEPTH):
    """`json.loads` of UTF-8 bytes that refuses NaN and Infinity (not JSON) and documents nested
    deeper than `limit` (JsonTooDeep). Every failure is a ValueError."""
    if nesting_exceeds(raw, limit):
        raise JsonTooDeep(f"nested deeper than {limit} levels")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=json_constant)
    except RecursionError:
        # Unbalanced brackets by the thousand (`[[[[...` never closed) reach the decoder.
        raise JsonTooDeep(f"nested deeper than {limit} levels") from None


def json_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    """The API's only parser: DRF's JSONParser, UTF-8 only (415 otherwise), depth-bounded (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        _, params = parse_header_parameters(media_type or "")
        charset = params.get("charset")
        if charset is not None and charset.strip().lower() not in UTF8_NAMES:
            # Another charset would let a body say what UTF-8 does not (UTF-7's `+ACI-` is `"`).
            raise exceptions.UnsupportedMediaType(
                media_type,
                detail="JSON bodies must be UTF-8: send charset=utf-8 or no charset.",
                code="unsupported_media_type",
            )
        limit = settings.MAX_REQUEST_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestDataTooBig("request body too large")  # 413 from the exception handler
        try:
            return loads_bounded(raw)
        except JsonTooDeep:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.", code="too_deep"
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
