"""CFX envelopes out of an AMQP message body (docs/cfx.md: what a message may be).

A body is one envelope (`{"MessageName", "UniqueID", "Source", "TimeStamp",
"MessageBody"}`, as CFX/CFXEnvelope.cs of the CFX SDK describes it) or a JSON array
of envelopes, UTF-8, optionally gzip-compressed (`content-encoding: gzip`, or the
gzip magic bytes). The message name is the envelope's `MessageName`, else the
body's `$type` discriminator (`"CFX.Production.Processing.UnitsProcessed, CFX"`).
Anything that cannot be read is `MalformedCfx`: it would never succeed, so the
consumer settles it, logs it and counts it.
"""

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from rest_framework.exceptions import ParseError

from mes.api.parsers import UNSTORABLE_ESCAPE, json_problem, loads_strict, nesting_problem

GZIP_MAGIC = b"\x1f\x8b"
# A gzip body may not inflate beyond this (a small message must not fill the memory).
MAX_INFLATED_BYTES = 64 * 1024 * 1024


class MalformedCfx(Exception):
    """A body that is no CFX envelope (or list of them): refused for good."""


@dataclass(frozen=True)
class Envelope:
    """One CFX message: who sent it, when, its unique id, its name and body."""

    message_name: str
    unique_id: str
    source: str
    timestamp: datetime
    body: dict


def type_name(structure) -> str | None:
    """The CFX type a `$type` discriminator names, without its assembly: "CFX.Structures.
    Generic.GenericProcessData, CFX" is "CFX.Structures.Generic.GenericProcessData"."""
    if not isinstance(structure, dict):
        return None
    discriminator = structure.get("$type")
    if not isinstance(discriminator, str):
        return None
    return discriminator.split(",", 1)[0].strip()


def cfx_time(text) -> datetime | None:
    """A CFX time (ISO 8601, up to 7 decimals as .NET writes them) as a UTC instant; a time
    without an offset is taken as UTC. None if it is not a time."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, MAX_INFLATED_BYTES)
    except zlib.error as error:
        raise MalformedCfx(f"gzip body cannot be inflated: {error}") from None
    if inflater.unconsumed_tail:
        raise MalformedCfx(f"gzip body inflates beyond {MAX_INFLATED_BYTES} bytes")
    return data


def body_bytes(body, content_encoding: str | None = None) -> bytes:
    """The JSON text of an AMQP body (a data section, or a string), inflated if gzip."""
    if isinstance(body, memoryview | bytearray):
        body = bytes(body)
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        raise MalformedCfx(f"body is {type(body).__name__}, not JSON text or bytes")
    if (content_encoding or "").lower() == "gzip" or body[:2] == GZIP_MAGIC:
        body = _inflate(body)
    return body


def _envelope(document, index: int | None) -> Envelope:
    where = f"envelope {index}: " if index is not None else ""
    if not isinstance(document, dict):
        raise MalformedCfx(f"{where}not a JSON object")
    body = document.get("MessageBody")
    if not isinstance(body, dict):
        raise MalformedCfx(f"{where}MessageBody is not an object")
    name = document.get("MessageName")
    if not isinstance(name, str) or not name:
        name = type_name(body)
    if not name:
        raise MalformedCfx(f"{where}neither MessageName nor MessageBody.$type names the message")
    unique_id = document.get("UniqueID")
    if not isinstance(unique_id, str) or not unique_id.strip() or len(unique_id) > 100:
        raise MalformedCfx(f"{where}UniqueID is missing or not a short string")
    source = document.get("Source")
    if not isinstance(source, str):
        source = ""
    timestamp = cfx_time(document.get("TimeStamp"))
    if timestamp is None:
        raise MalformedCfx(f"{where}TimeStamp is missing or not an ISO 8601 time")
    return Envelope(name.strip(), unique_id.strip(), source.strip(), timestamp, body)


def envelopes_of(body, content_encoding: str | None = None) -> list[Envelope | MalformedCfx]:
    """The envelopes of one AMQP message body, each an Envelope or, if that one cannot be
    read, its MalformedCfx (the others of an array are still taken). Raises MalformedCfx
    when the body as a whole cannot be read."""
    raw = body_bytes(body, content_encoding)
    if len(raw) > settings.INGEST_MAX_BATCH_BODY_BYTES:
        raise MalformedCfx(f"body is larger than {settings.INGEST_MAX_BATCH_BODY_BYTES} bytes")
    if not raw.strip():
        raise MalformedCfx("body is empty")
    try:
        document = loads_strict(raw)
    except ParseError as error:
        raise MalformedCfx(str(error.detail)) from None
    # An envelope's readings sit a few levels below the event's own depth bound. Without
    # an escape that could make an unstorable string, only the depth is left to check.
    bound = settings.INGEST_MAX_JSON_DEPTH
    check = json_problem if UNSTORABLE_ESCAPE.search(raw) else nesting_problem
    if problem := check(document, bound + 8, bound):
        raise MalformedCfx(problem)
    if isinstance(document, list):
        if not document:
            raise MalformedCfx("an empty list of envelopes")
        return [_envelope_or_problem(item, index) for index, item in enumerate(document)]
    return [_envelope(document, None)]


def _envelope_or_problem(document, index: int) -> Envelope | MalformedCfx:
    try:
        return _envelope(document, index)
    except MalformedCfx as problem:
        return problem
