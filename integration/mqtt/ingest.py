"""One group of MQTT messages through the ingestion service, answered message by message.

The messages that arrived together are parsed, attributed to the gateway each
topic names, and written in ONE call of `receive_device_events` (the service the
REST endpoints use), so single-event messages are written at batch speed; each
message still gets the answer REST would have given it. When the database could
not take the group, `DatabaseUnavailable` is raised and nothing is to be
acknowledged: the broker delivers the messages again, and exact-once turns the
re-delivery into a first write or a duplicate. A message the service fails on
unexpectedly (a bug, or master data it cannot judge) is answered 500 and
acknowledged, so it cannot stop the consumer and come back for ever
(`write_group_guarded`).
"""

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection
from django.db.models import F
from rest_framework.exceptions import ParseError, ValidationError

from integration.ingestion import EventNotWritten, receive_device_events
from integration.mqtt.answers import Answer, batch_answer, event_answer, refusal, refusal_of
from integration.mqtt.topics import gateway_of
from integration.views import BatchEnvelopeSerializer
from mes.api.exceptions import PayloadTooLarge
from mes.api.parsers import UNSTORABLE_ESCAPE, json_problem, loads_strict, nesting_problem

logger = logging.getLogger("integration.mqtt")

GATEWAY_UNKNOWN = "GATEWAY_UNKNOWN"
GATEWAY_REVOKED = "GATEWAY_REVOKED"


class DatabaseUnavailable(Exception):
    """The database could not take the group: acknowledge nothing of it."""


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


def active_gateways(names: set[str]) -> dict[str, object]:
    """The gateway users named, each with `refusal_code`: None when it may send events,
    else GATEWAY_REVOKED (account disabled or key revoked). A name missing from the
    result is unknown (no such user, or a user without a gateway key)."""
    users = (
        get_user_model()
        .objects.filter(username__in=names, gateway_key__isnull=False)
        .annotate(key_revoked_at=F("gateway_key__revoked_at"))
    )
    found = {}
    for user in users:
        user.refusal_code = (
            GATEWAY_REVOKED if user.key_revoked_at is not None or not user.is_active else None
        )
        found[user.get_username()] = user
    return found


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
    not take them (nothing is to be acknowledged)."""
    try:
        gateways = active_gateways({m.gateway for m in messages if m.gateway})
    except DatabaseError as error:
        connection.close()  # a broken connection is opened afresh next time
        raise DatabaseUnavailable(str(error)) from error
    parsed = [_parse(message, gateways) for message in messages]
    payloads, senders = [], []
    for item in parsed:
        if item.answer is None:
            payloads.extend(item.payloads)
            senders.extend([item.sender] * len(item.payloads))
    attempts = receive_device_events(payloads, sent_by=senders) if payloads else []
    unavailable = [a for a in attempts if isinstance(a.error, EventNotWritten)]
    if unavailable:
        raise DatabaseUnavailable(unavailable[0].error.message)
    answers = []
    position = 0
    for item in parsed:
        if item.answer is None:
            mine = attempts[position : position + len(item.payloads)]
            position += len(item.payloads)
            if item.is_batch:
                for index, attempt in enumerate(mine):
                    attempt.index = index
                item.answer = batch_answer(mine)
            else:
                item.answer = event_answer(mine[0])
        answers.append(item.answer)
    return answers


def write_group_guarded(messages: list[Inbound]) -> list[Answer]:
    """`write_group`, with an unexpected failure kept to the message it came from.

    When the service raises something other than a database outage, the group was
    rolled back: each message is written again alone, and one that fails again is
    answered 500 (logged with its traceback) and acknowledged like any answered
    message. Left unacknowledged it would come back on every restart and stop every
    consumer in turn; the gateway may re-send it once the cause is fixed."""
    try:
        return write_group(messages)
    except DatabaseUnavailable:
        raise
    except Exception:
        if len(messages) == 1:
            return [_failed(messages[0])]
        logger.exception("A group of %d MQTT messages failed; each is written alone", len(messages))
        return [_written_alone(message) for message in messages]


def _written_alone(message: Inbound) -> Answer:
    try:
        (answer,) = write_group([message])
    except DatabaseUnavailable:
        raise
    except Exception:
        return _failed(message)
    return answer


def _failed(message: Inbound) -> Answer:
    event_id = _event_id_of(message.payload)
    logger.exception(
        "MQTT message of gateway %r (eventId %r) failed unexpectedly; answered 500 and "
        "acknowledged",
        message.gateway,
        event_id,
    )
    answer = refusal(
        500,
        "INTERNAL_ERROR",
        "An unexpected error; it has been logged. The event may not have been written: "
        "re-send it (exact-once makes a re-send safe).",
    )
    answer.body["eventId"] = event_id
    return answer


def _event_id_of(raw: bytes) -> str | None:
    try:
        document = loads_strict(raw)
    except (ParseError, ValueError):
        return None
    event_id = document.get("eventId") if isinstance(document, dict) else None
    return event_id if isinstance(event_id, str) else None
