"""JSON in, at bounded cost: UTF-8 only, nested at most MAX_JSON_DEPTH levels, and holding at
most MAX_JSON_CONTAINERS arrays and objects.

Python's json module recurses once per level, so a body (or a cursor) of a few thousand `[`
ended in a RecursionError, a 500, after the whole stack was used; and it builds nested
containers slowly (a valid 1 MiB body of arrays nested 31 deep took 0.5-1 s to decode). Both
are measured on the raw bytes before anything is decoded, in a few C-speed passes over them
(under 10 ms for a 1 MiB body of `[[[[...`), and anything beyond a limit is a 400 at once.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.multipartparser import parse_header_parameters
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
# Far above any request of the API (a batch of 20 ingestion requests is about 40 containers;
# its lists hold strings), and small enough to decode in a few milliseconds.
MAX_JSON_CONTAINERS = 10_000
UTF8_NAMES = frozenset({"utf-8", "utf8"})

# `{` and `}` count as `[` and `]`: which kind of bracket closes which is json's business.
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the limit."""


class JsonTooManyContainers(ValueError):
    """A JSON document with more arrays and objects than the limit."""


class JsonMalformed(ValueError):
    """Brackets that do not pair up: no JSON document."""


def check_structure(
    raw: bytes, *, depth: int = MAX_JSON_DEPTH, containers: int = MAX_JSON_CONTAINERS
) -> None:
    """Raise JsonTooDeep when the JSON text `raw` nests arrays and objects deeper than `depth`,
    JsonTooManyContainers when it holds more than `containers` of them, and JsonMalformed when
    its brackets cannot pair up. Other malformed text is left for the decoder to refuse.

    Every byte but brackets and quotes is dropped, then the strings (a `[` inside one is text).
    A run of `depth + 1` opening brackets is too deep at once; otherwise each `replace` pass
    removes the innermost pairs, one level, and what is still paired after `depth` passes lies
    deeper.
    """
    if raw.count(b"[") + raw.count(b"{") <= min(depth, containers):
        return
    # Escaped backslashes first, so that `\\"` still ends its string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Removing two quotes in a row keeps every other byte inside or outside its string.
    structure = unescaped.translate(_AS_SQUARE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    if b"[" * (depth + 1) in structure:
        raise JsonTooDeep(f"nested deeper than {depth} levels")
    if structure.count(b"[") > containers:
        raise JsonTooManyContainers(f"more than {containers} arrays and objects")
    for done in range(depth):
        if not structure:
            return
        # A run of opening brackets as long as the levels left is too deep already.
        if b"[" * (depth - done + 1) in structure:
            raise JsonTooDeep(f"nested deeper than {depth} levels")
        shorter = structure.replace(b"[]", b"")
        if len(shorter) == len(structure):
            raise JsonMalformed("unbalanced brackets")
        structure = shorter
    if b"[]" in structure:
        raise JsonTooDeep(f"nested deeper than {depth} levels")
    if structure:
        raise JsonMalformed("unbalanced brackets")


def loads_bounded(raw: bytes, *, depth: int = MAX_JSON_DEPTH, containers: int = MAX_JSON_CONTAINERS):
    """`json.loads` of UTF-8 bytes within check_structure's limits, refusing NaN and Infinity
    (not JSON). Every failure is a ValueError."""
    check_structure(raw, depth=depth, containers=containers)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=json_constant)
    except RecursionError:
        # Not expected past check_structure; kept so that no input can make it a 500.
        raise JsonTooDeep(f"nested deeper than {depth} levels") from None


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
        except JsonTooManyContainers:
            raise exceptions.ParseError(
                f"JSON parse error - more than {MAX_JSON_CONTAINERS} arrays and objects.",
                code="too_many_containers",
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
