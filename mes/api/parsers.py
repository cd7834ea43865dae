"""A strict JSON parser: bounded size and depth, UTF-8 only, finite numbers only.

Hostile or broken bodies end here as a 400 (or 413) in the envelope, never a 500.
"""

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mes.api.exceptions import PayloadTooLarge


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid number here: numbers must be finite")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range: numbers must be finite")
    return number


def json_depth(document) -> int:
    """How many containers deep a parsed JSON document nests (a scalar is 0)."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def loads_strict(raw: bytes):
    """Parse a JSON body, refusing invalid UTF-8, NaN/Infinity and overflowing numbers."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(f"Request body is not valid UTF-8 (byte {error.start}).") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ParseError("JSON is nested too deeply.") from None
    except ValueError as error:  # JSONDecodeError is a ValueError, as are the hooks' refusals
        raise ParseError(f"Malformed JSON: {error}") from None


class StrictJSONParser(JSONParser):
    """JSON bodies with the limits of API.md; views may set `max_body_bytes` and
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
        max_depth = settings.INGEST_MAX_JSON_DEPTH + getattr(view, "json_depth_offset", 0)
        if json_depth(document) > max_depth:
            raise ParseError(
                f"JSON is nested more than {settings.INGEST_MAX_JSON_DEPTH} levels deep."
            )
        return document
