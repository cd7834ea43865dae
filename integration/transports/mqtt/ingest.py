"""One group of MQTT messages through the ingestion service, answered message by message.

The messages that arrived together are parsed, attributed to the gateway each
topic names, and written in ONE call of `receive_device_events` (the service the
REST endpoints use), so single-event messages are written at batch speed; each
message still gets the answer REST would have given it. When the database could
not take the group, `DatabaseUnavailable` is raised and nothing is to be
acknowledged: the broker delivers the messages again, and exact-once turns the
re-delivery into a first write or a duplicate. A message this module fails on
(reading or answering it) is answered 500 and acknowledged, so it cannot stop the
consumer and come back for ever; the service keeps its own failures to their events.
"""

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, InterfaceError
from rest_framework.exceptions import ParseError, ValidationError

from integration.ingestion.service import receive_device_events
from integration.ingestion.shape import BatchEnvelopeSerializer
from integration.transports.broker import (
    GATEWAY_UNKNOWN,
    active_gateways,
    database_unavailable,
    raise_if_unavailable,
)
from integration.transports.mqtt.answers import (
    Answer,
    batch_answer,
    event_answer,
    refusal,
    refusal_of,
)
from integration.transports.mqtt.topics import gateway_of
from mes.api.exceptions import PayloadTooLarge
from mes.api.parsers import UNSTORABLE_ESCAPE, json_problem, loads_strict, nesting_problem

logger = logging.getLogger("integration.mqtt")


@dataclass
class Inbound:
    """One PUBLISH received from the broker, waiting for its answer and acknowledgement."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    received_at: float = field(default_factory=time.monotonic)
    generation: int = 0  # the connection it arrived on (consumer.py)

    @property
    def gateway(self) -> str | None:
        return gateway_of(self.topic)


@dataclass
class _Parsed:
    message: Inbound
    sender: object = None
    payloads: list | None = None  # the events to write
    is_batch: bool = False
    answer: Answer | None = None  # refused before the service


def _parse(message: Inbound, gateways: dict) -> _Parsed:
    parsed = _Parsed(message)
    gateway = message.gateway
    user = gateways.get(gateway) if gateway else None
    if user is None or user.refusal_code:
        code = user.refusal_code if user is not None else GATEWAY_UNKNOWN
        logger.warning("MQTT message of gateway %r refused: %s", gateway, code)
        what = "is not a gateway of this MES" if user is None else "is revoked"
        parsed.answer = refusal(403, code, f"Gateway {gateway!r} {what}; nothing was written.")
        return parsed
    parsed.sender = user
    raw = message.payload
    try:
        if len(raw) > settings.INGEST_MAX_BATCH_BODY_BYTES:
            raise PayloadTooLarge(settings.INGEST_MAX_BATCH_BODY_BYTES)
        if not raw.strip():
            raise ParseError("Message is empty: send a JSON object.")
        document = loads_strict(raw)
        parsed.is_batch = (
            isinstance(document, dict) and "events" in document and "eventId" not in document
        )
        if not parsed.is_batch and len(raw) > settings.INGEST_MAX_BODY_BYTES:
            raise PayloadTooLarge(settings.INGEST_MAX_BODY_BYTES)
        bound = settings.INGEST_MAX_JSON_DEPTH
        check = json_problem if UNSTORABLE_ESCAPE.search(raw) else nesting_problem
        if problem := check(document, bound + (2 if parsed.is_batch else 0), bound):
            raise ParseError(problem)
        if parsed.is_batch:
            BatchEnvelopeSerializer(data=document).is_valid(raise_exception=True)
            parsed.payloads = document["events"]
        else:
            parsed.payloads = [document]
    except (ParseError, PayloadTooLarge, ValidationError) as error:
        logger.warning("Malformed MQTT message from gateway %r: %s", gateway, error.detail)
        parsed.answer = refusal_of(error, single=not parsed.is_batch)
    return parsed


def write_group(messages: list[Inbound]) -> list[Answer]:
    """Write the events of `messages` in one call of the ingestion service and return
    each message's answer, in order. Raises DatabaseUnavailable when the database could
    not take them (nothing is to be acknowledged).

    The service keeps an event it fails on to that event (docs/ingestion.md); a failure
    in this module's own work for one message (reading it, answering it) is answered 500
    for that message alone, logged, and acknowledged like any answer, so it cannot come
    back on every restart. Anything else raised stops the consumer unacknowledged."""
    try:
        gateways = active_gateways({m.gateway for m in messages if m.gateway})
    except (DatabaseError, InterfaceError) as error:
        raise database_unavailable(error) from error
    parsed = [_parse_or_fail(message, gateways) for message in messages]
    payloads, senders = [], []
    for item in parsed:
        if item.answer is None:
            payloads.extend(item.payloads)
            senders.extend([item.sender] * len(item.payloads))
    try:
        attempts = receive_device_events(payloads, sent_by=senders) if payloads else []
    except InterfaceError as error:  # the connection is unusable: an outage
        raise database_unavailable(error) from error
    raise_if_unavailable(attempts)
    answers = []
    position = 0
    for item in parsed:
        if item.answer is None:
            mine = attempts[position : position + len(item.payloads)]
            position += len(item.payloads)
            item.answer = _answer_or_fail(item, mine)
        answers.append(item.answer)
    return answers


def _parse_or_fail(message: Inbound, gateways: dict) -> _Parsed:
    try:
        return _parse(message, gateways)
    except Exception:
        parsed = _Parsed(message)
        parsed.answer = _failed(message, "Nothing of it was written; re-send it")
        return parsed


def _answer_or_fail(item: _Parsed, attempts) -> Answer:
    try:
        if item.is_batch:
            for index, attempt in enumerate(attempts):
                attempt.index = index
            return batch_answer(attempts)
        return event_answer(attempts[0])
    except Exception:
        return _failed(
            item.message,
            "Its events were taken (written, or refused and kept) but the answer could not "
            "be made; a re-send is answered as a duplicate",
        )


def _failed(message: Inbound, what: str) -> Answer:
    """A message this module failed on: logged with its traceback, answered 500."""
    event_id = _event_id_of(message.payload)
    logger.exception(
        "MQTT message of gateway %r (eventId %r) failed unexpectedly; answered 500 and "
        "acknowledged",
        message.gateway,
        event_id,
    )
    answer = refusal(500, "INTERNAL_ERROR", f"An unexpected error; it has been logged. {what}.")
    answer.body["eventId"] = event_id
    return answer


def _event_id_of(raw: bytes) -> str | None:
    try:
        document = loads_strict(raw)
    except (ParseError, ValueError):
        return None
    event_id = document.get("eventId") if isinstance(document, dict) else None
    return event_id if isinstance(event_id, str) else None
