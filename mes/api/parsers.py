"""A strict JSON parser: bounded size and depth, UTF-8 only, storable values only.

Hostile or broken bodies end here as a 400 (or 413) in the envelope, never a 500:
invalid UTF-8, NaN/Infinity, numbers beyond a double's range (1e400, an integer
of thousands of digits), nesting deeper than the bound, and strings the
database cannot store (NUL characters and unpaired surrogates, which only a
`\\u` escape can produce: PostgreSQL refuses both in text and jsonb).
"""

import json
import math
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mes.api.exceptions import PayloadTooLarge

# Any integer with more digits than this is beyond a double's range (~1.8e308);
# checked before int() so Python's own limit on long digit strings never answers.
MAX_INTEGER_DIGITS = 309


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid number here: numbers must be finite")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range: numbers must be finite")
    return number


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {digits} digits is out of range")
    number = int(text)
    try:
        float(number)
    except OverflowError:
        raise ValueError(f"integer {text[:40]}… is out of range") from None
    return number


def unstorable_text(text: str) -> str | None:
    """Why a string cannot be stored (NUL, unpaired surrogate), or None if it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    if text.isascii():  # the usual case, and no surrogate is ASCII
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (\\ud800–\\udfff)"
    return None


def json_problem(document, max_depth: int, bound: int | None = None) -> str | None:
    """Why a JSON document cannot be taken, or None: nested deeper than `max_depth`,
    a string (key or value) the database cannot store, a number that is not finite
    or beyond a double's range, or a value JSON has no type for. Iterative, so no
    recursion limit. `bound` is the depth named in the answer, when `max_depth`
    includes envelope levels above the event."""
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if node is None or isinstance(node, bool):
            continue
        if isinstance(node, str):
            if problem := unstorable_text(node):
                return f"A string {problem}: it cannot be stored."
        elif isinstance(node, int):
            try:
                float(node)
            except OverflowError:
                return "An integer is out of range."
        elif isinstance(node, float):
            if not math.isfinite(node):
                return "Numbers must be finite (no NaN or Infinity)."
        elif isinstance(node, dict | list):
            if depth > max_depth:
                return f"JSON is nested more than {bound or max_depth} levels deep."
            if isinstance(node, dict):
                for key in node:
                    if not isinstance(key, str):
                        return "Object keys must be strings."
                    if problem := unstorable_text(key):
                        return f"A key {problem}: it cannot be stored."
                children = node.values()
            else:
                children = node
            pending.extend((child, depth + 1) for child in children)
        else:
            return f"A {type(node).__name__} is not a JSON value."
    return None


# Only a \u escape can put a NUL or an unpaired surrogate in a parsed string: raw
# control characters are invalid JSON and UTF-8 cannot encode surrogates.
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def nesting_problem(document, max_depth: int, bound: int | None = None) -> str | None:
    """`json_problem` for a body just parsed by `loads_strict` with no escape that
    could make an unstorable string: its numbers are bounded by the parser, so
    only the depth is left to check (a tenth of the full walk's cost)."""
    pending = [(document, 1)] if isinstance(document, dict | list) else []
    while pending:
        node, depth = pending.pop()
        if depth > max_depth:
            return f"JSON is nested more than {bound or max_depth} levels deep."
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def loads_strict(raw: bytes):
    """Parse a JSON body, refusing invalid UTF-8, NaN/Infinity and overflowing numbers."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(f"Request body is not valid UTF-8 (byte {error.start}).") from None
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise ParseError("JSON is nested too deeply.") from None
    except ValueError as error:  # JSONDecodeError is a ValueError, as are the hooks' refusals
        raise ParseError(f"Malformed JSON: {error}") from None


class StrictJSONParser(JSONParser):
    """JSON bodies with the limits of docs/api.md; views may set `max_body_bytes` and
    `json_depth_offset` (levels of envelope above each event, as in a batch)."""

    def parse(self, stream, media_type=None, parser_context=None):
        view = (parser_context or {}).get("view")
        limit = getattr(view, "max_body_bytes", None) or settings.INGEST_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(limit)
        if not raw.strip():
            raise ParseError("Request body is empty: send a JSON object.")
        document = loads_strict(raw)
        bound = settings.INGEST_MAX_JSON_DEPTH
        check = json_problem if UNSTORABLE_ESCAPE.search(raw) else nesting_problem
        problem = check(document, bound + getattr(view, "json_depth_offset", 0), bound)
        if problem:
            raise ParseError(problem)
        return document
