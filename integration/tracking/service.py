"""Track-in and track-out calls, exactly once: `receive_track_in`, `receive_track_out`,
`receive_for_unit` (a machine's call, which names no run) and `replay_tracking_message`.
REST, the CFX consumer and the admin's replay call these; they call
execution/tracking.py, the one place units move (docs/execution.md).

A call with an eventId (or Idempotency-Key) is written with a TrackingRecord holding
its first answer, in the transaction that moves the unit: a re-send answers it again,
another body under the id is a conflict. Every call leaves an IntegrationMessage; a
refused one is kept FAILED with its code, and can be replayed.
"""

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, connection
from django.utils import timezone

from execution.models import Source, Unit
from execution.tracking import TrackingRefused, track_in, track_out
from integration.ingestion.errors import (
    EventFailedUnexpectedly,
    EventNotWritten,
    EventWriteError,
    MessageNotReplayable,
)
from integration.ingestion.rules import resolve_failed_messages
from integration.models import IntegrationMessage, TrackingRecord, tracking_key_for
from integration.tracking.answers import track_in_answer, track_out_answer
from integration.tracking.call_hash import call_hash
from integration.tracking.errors import TrackingCallRefused, TrackingIdConflict
from integration.tracking.shape import event_id_of, validate_call_shape
from mes.database_errors import (
    PASSING,
    WORTH_RETRYING,
    Cause,
    CommitUncertain,
    bounded_transaction,
    cause_of,
    make_ready_for_retry,
)
from mes.db import fetch_model, insert_models, new_model
from mes.metrics import DATABASE_ERRORS

logger = logging.getLogger("integration.tracking")

TRACK_IN = TrackingRecord.Kind.TRACK_IN
TRACK_OUT = TrackingRecord.Kind.TRACK_OUT
# A race lost to a concurrent call (the unit created, its pass opened or the eventId
# written first) is taken again: the call then answers by the state it finds.
TRIES = 3


@dataclass
class TrackingOutcome:
    """What an accepted call answered: its `data`, first given or given again."""

    answer: dict
    is_duplicate: bool
    message: IntegrationMessage


@dataclass
class _Call:
    kind: str
    payload: dict  # as received, with the station of the URL and the id it was sent under
    call: dict  # validated, snake_case
    station_code: str
    event_id: str | None
    sent_by: object
    source: str
    replay_of: IntegrationMessage | None
    business_key: str = ""

    def __post_init__(self):
        # A call without an id has a key of its own: it ties nothing together, except a
        # replay to the refused call it sends again (whose FAILED message it then resolves).
        if self.event_id is None and self.replay_of is not None:
            self.business_key = self.replay_of.business_key
        else:
            self.business_key = tracking_key_for(self.kind, self.event_id or f"~{uuid.uuid4().hex}")

    @property
    def payload_hash(self) -> str:
        return call_hash(self.kind, self.station_code, self.call)


def receive_track_in(
    payload,
    *,
    station_code: str,
    sent_by,
    idempotency_key: str | None = None,
    source: str = Source.MANUAL,
    replay_of: IntegrationMessage | None = None,
) -> TrackingOutcome:
    """Track a unit in at a station (docs/execution.md), exactly once per eventId.

    `payload` is the body as received (docs/api.md, "Stations: track in and track out");
    its `eventId`, else `idempotency_key`, makes the call exactly once. Raises
    ValidationError (400, nothing stored), TrackingCallRefused (404/409/422, kept as a
    FAILED message), TrackingIdConflict (409), EventFailedUnexpectedly (500: the service
    failed on it; kept as a FAILED message) or EventNotWritten (503: nothing written,
    send it again).
    """
    return _receive(TRACK_IN, payload, station_code, sent_by, idempotency_key, source, replay_of)


def receive_track_out(
    payload,
    *,
    station_code: str,
    sent_by,
    idempotency_key: str | None = None,
    source: str = Source.MANUAL,
    replay_of: IntegrationMessage | None = None,
) -> TrackingOutcome:
    """Track a unit out of its pass at a station with PASS or FAIL and the data collected
    there (docs/execution.md), exactly once per eventId. Raises as `receive_track_in`."""
    return _receive(TRACK_OUT, payload, station_code, sent_by, idempotency_key, source, replay_of)


def replay_tracking_message(message: IntegrationMessage, *, replayed_by) -> TrackingOutcome:
    """Send a FAILED track-in or track-out again, as it was received (its station and
    id included). The new attempt's message points back with `replay_of`."""
    if message.status != IntegrationMessage.Status.FAILED:
        raise MessageNotReplayable(f"Message {message.pk} is {message.status}, not FAILED.")
    if message.resolved_at is not None and not message.payload.get("eventId"):
        # Without an id nothing tells its re-send from a new call: it is taken once.
        raise MessageNotReplayable(_already_written(message))
    payload = dict(message.payload)
    station_code = payload.pop("stationCode", "")
    source = payload.pop("source", Source.MANUAL)
    kind = message.entity_type
    if "runNo" not in payload:
        # Kept before its run was known (a machine's call): the unit's run is looked up now.
        return receive_for_unit(
            kind,
            payload,
            station_code=station_code,
            sent_by=replayed_by,
            source=source,
            replay_of=message,
        )
    receive = receive_track_in if kind == TRACK_IN else receive_track_out
    return receive(
        payload,
        station_code=station_code,
        sent_by=replayed_by,
        source=source,
        replay_of=message,
    )


def receive_for_unit(
    kind: str,
    payload,
    *,
    station_code: str,
    sent_by,
    source: str = Source.AUTO,
    replay_of: IntegrationMessage | None = None,
) -> TrackingOutcome:
    """A track-in or track-out (`kind`) that names a unit and no run, as a station's machine
    sends it (IPC-CFX knows units, never runs): the unit's own run is taken as `runNo`.

    A unit the MES does not know cannot be created without a run: the call is refused
    with UNIT_NOT_FOUND (a unit in no run: RUN_NOT_FOUND) and kept as a FAILED message
    without a run, whose replay looks the unit's run up again. Raises as
    `receive_track_in`.
    """
    # The shape first (a serial number too long, a result not PASS or FAIL): a 400.
    validate_call_shape(kind, {**payload, "runNo": "-"})
    sn = payload["sn"]
    found = Unit.objects.filter(sn=sn).values_list("pk", "run__run_no").first()
    if found is None or found[1] is None:
        refusal = (
            TrackingRefused(
                "UNIT_NOT_FOUND",
                f"Unit not found: {sn}. Its machine names no run, so the MES cannot create "
                "it: track it in over REST (with its run) first, then replay this message",
            )
            if found is None
            else TrackingRefused("RUN_NOT_FOUND", f"Unit {sn} belongs to no run")
        )
        raise keep_refused_call(
            kind,
            payload,
            refusal,
            station_code=station_code,
            sent_by=sent_by,
            source=source,
            replay_of=replay_of,
        )
    receive = receive_track_in if kind == TRACK_IN else receive_track_out
    return receive(
        {**payload, "runNo": found[1]},
        station_code=station_code,
        sent_by=sent_by,
        source=source,
        replay_of=replay_of,
    )


def keep_refused_call(
    kind: str,
    payload: dict,
    refusal: TrackingRefused,
    *,
    station_code: str,
    sent_by,
    source: str,
    replay_of: IntegrationMessage | None = None,
) -> TrackingCallRefused | EventNotWritten:
    """A call refused before it reached the rules (its unit unknown, its sender not allowed
    to track), kept as a FAILED message with `refusal`'s code, as received: the error to
    raise (EventNotWritten when the database cannot keep it now). Its replay takes the call
    as if it were new."""
    event_id = payload.get("eventId") or None
    stored = _stored(payload, station_code, event_id, source)
    call = _Call(kind, stored, {}, station_code, event_id, sent_by, source, replay_of)
    return _kept_refusal(call, refusal)


def _stored(payload: dict, station_code: str, event_id: str | None, source: str) -> dict:
    """The payload as kept on its messages: as received, with the id it was sent under.
    What the transport says wins over the body's fields of the same name (which the call
    ignores): the URL's station, and the source (MANUAL from REST, AUTO from CFX) that a
    replay must take again."""
    stored = {**payload, "stationCode": station_code, "source": source}
    if event_id:
        stored["eventId"] = event_id
    return stored


def _receive(kind, payload, station_code, sent_by, idempotency_key, source, replay_of):
    validated = validate_call_shape(kind, payload)
    event_id = event_id_of(validated, idempotency_key)
    stored = _stored(payload, station_code, event_id, source)
    call = _Call(kind, stored, validated, station_code, event_id, sent_by, source, replay_of)

    for attempt in range(1, TRIES + 1):
        try:
            outcome = _take(call)
            break
        except TrackingRefused as refusal:
            raise _kept_refusal(call, refusal) from None
        except CommitUncertain as failure:
            raise EventNotWritten(cause_of(failure.error), maybe_written=True) from None
        except InterfaceError:
            raise
        except DatabaseError as error:
            cause = cause_of(error)
            DATABASE_ERRORS.labels(cause.name.lower()).inc()
            make_ready_for_retry(cause)
            retry = isinstance(error, IntegrityError) or cause in WORTH_RETRYING
            if retry and attempt < TRIES and not connection.in_atomic_block:
                continue
            if cause in PASSING:
                if cause is Cause.SCHEMA_BEHIND:
                    logger.warning("%s %r not written: %s", kind, event_id, error)
                raise EventNotWritten(cause) from None
            logger.error("%s %r not written", kind, event_id, exc_info=error)
            raise EventWriteError() from None
        except MessageNotReplayable:
            raise
        except Exception:
            # A bug, or master data the rules cannot use: kept to replay once it is fixed.
            raise _kept_unexpected_failure(call) from None
    if isinstance(outcome, TrackingIdConflict):
        raise outcome
    return outcome


def _bounded():
    return bounded_transaction(
        lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
        statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
    )


def _take(call: _Call) -> TrackingOutcome | TrackingIdConflict:
    """One try, in one transaction: the record of its id, or the unit moved, the record and
    the message written together."""
    now = timezone.now()
    with _bounded():
        if call.replay_of is not None and not call.event_id:
            _claim_replayed(call.replay_of)
        record = _record_of(call)
        if record is not None:
            return _repeat(call, record, now)
        try:
            if call.kind == TRACK_IN:
                answer = track_in_answer(_track_in(call))
            else:
                answer = track_out_answer(_track_out(call))
        except TrackingRefused:
            # The same id sent twice at once: the other call moved the unit and wrote its
            # record while this one waited for the unit's lock, so the unit's state now
            # refuses this one. Read committed: a new statement sees that record, and this
            # call is its re-send (tests/integration/api/test_stations_concurrency.py).
            record = _record_of(call)
            if record is None:
                raise
            return _repeat(call, record, now)
        message = _message(call, IntegrationMessage.Status.SUCCESS)
        if call.event_id:
            record = new_model(
                TrackingRecord,
                kind=call.kind,
                event_id=call.event_id,
                payload_hash=call.payload_hash,
                answer=answer,
                track_id=int(answer["trackId"]),
                unit_sn=answer["unitSn"],
                station_code=call.station_code,
                sent_by_id=_user_id(call.sent_by),
            )
            insert_models([record])
        if call.event_id or call.replay_of is not None:
            # The same call refused earlier is now written: its FAILED attempts are resolved.
            resolve_failed_messages([message.business_key], now)
        insert_models([message])
    return TrackingOutcome({**answer, "isDuplicate": False}, False, message)


def _claim_replayed(message: IntegrationMessage) -> None:
    """A replay of a call without an id: its FAILED message locked, so two replays at once
    take turns, and refused if a replay wrote the call already (it resolved the message)."""
    resolved_at = (
        IntegrationMessage.objects.select_for_update()
        .filter(pk=message.pk)
        .values_list("resolved_at", flat=True)
        .first()
    )
    if resolved_at is not None:
        message.resolved_at = resolved_at
        raise MessageNotReplayable(_already_written(message))


def _already_written(message: IntegrationMessage) -> str:
    return (
        f"Message {message.pk} was written by a replay at "
        f"{message.resolved_at:%Y-%m-%d %H:%M:%S}: a call without an eventId is taken once."
    )


def _record_of(call: _Call) -> TrackingRecord | None:
    """The record of the call's id, locked (a re-send counts itself on it), or None."""
    if not call.event_id:
        return None
    return fetch_model(TrackingRecord, for_update=True, kind=call.kind, event_id=call.event_id)


def _track_in(call: _Call):
    body = call.call
    return track_in(
        station_code=call.station_code,
        sn=body["sn"],
        run_no=body["run_no"],
        wo_no=body.get("wo_no") or None,
        operator_id=body.get("operator_id") or "",
        source=call.source,
    )


def _track_out(call: _Call):
    body = call.call
    key = call.business_key
    return track_out(
        station_code=call.station_code,
        sn=body["sn"],
        run_no=body["run_no"],
        result=body["result"],
        event_id=key.split(":", 1)[1],
        source_ref=key,
        operator_id=body.get("operator_id") or "",
        defect_code=body.get("defect_code") or None,
        defect_location=body.get("defect_location") or None,
        data=body.get("data") or [],
        source=call.source,
    )


def _repeat(call: _Call, record: TrackingRecord, now) -> TrackingOutcome | TrackingIdConflict:
    """A call whose id was written before: its first answer again, or a conflict."""
    if call.payload_hash != record.payload_hash:
        message = _message(
            call,
            IntegrationMessage.Status.CONFLICT,
            error_code=TrackingIdConflict.CODE,
            error_message="eventId already received with a different body",
        )
        insert_models([message])
        return TrackingIdConflict(record, message)
    record.duplicate_count += 1
    record.last_duplicate_at = now
    record.save(update_fields=["duplicate_count", "last_duplicate_at"])
    message = _message(call, IntegrationMessage.Status.DUPLICATE)
    insert_models([message])
    return TrackingOutcome({**record.answer, "isDuplicate": True}, True, message)


def _kept_refusal(call: _Call, refusal: TrackingRefused) -> TrackingCallRefused | EventNotWritten:
    """The refused call kept as a FAILED message, after its transaction rolled back: the
    error to raise. A refusal the database cannot keep now is a 503 (nothing written:
    send it again), never a refusal that leaves no trace."""
    message = _message(
        call,
        IntegrationMessage.Status.FAILED,
        error_code=refusal.code,
        error_message=refusal.message,
    )
    not_kept = _keep(call, "Refused", lambda: insert_models([message]))
    return not_kept or TrackingCallRefused(refusal, message)


def _kept_unexpected_failure(call: _Call) -> EventFailedUnexpectedly | EventNotWritten:
    """A call the service failed on, not the database (called where the error is caught,
    after its transaction rolled back): logged with its traceback and kept as a FAILED
    message (INTERNAL_ERROR) to replay once the cause is fixed, as device data's
    (ingestion/retries.py), unless its id was written before (a re-send's failure). The
    error to raise: EventFailedUnexpectedly (500), or EventNotWritten (503, send it again)
    when the database cannot keep it now: a 500 is not sent again, so it must leave a trace."""
    logger.exception(
        "%s %r failed unexpectedly; nothing of it was written", call.kind, call.event_id
    )
    kept = {"message": None, "record": None}

    def keep() -> None:
        kept["record"] = _record_of(call)
        if kept["record"] is None:
            kept["message"] = _message(
                call,
                IntegrationMessage.Status.FAILED,
                error_code="INTERNAL_ERROR",
                error_message="The service failed on this call: see the log.",
            )
            insert_models([kept["message"]])

    not_kept = _keep(call, "Failed", keep)
    return not_kept or EventFailedUnexpectedly(kept["message"], kept["record"])


def _keep(call: _Call, what: str, write) -> EventNotWritten | None:
    """Run `write` (the call's FAILED message) in a transaction of its own: None once it is
    kept, else the 503 to raise (the database cannot keep it now: send it again)."""
    try:
        with _bounded():
            write()
    except CommitUncertain as failure:
        return EventNotWritten(cause_of(failure.error), maybe_written=True)
    except DatabaseError as error:
        cause = cause_of(error)
        logger.warning("%s %s %r could not be kept (%s)", what, call.kind, call.event_id, cause)
        make_ready_for_retry(cause)
        return EventNotWritten(cause)
    return None


def _message(call: _Call, status: str, **fields) -> IntegrationMessage:
    """The call's message (not saved), built as ingestion builds its own (mes/db.py)."""
    key = call.business_key
    return new_model(
        IntegrationMessage,
        direction=IntegrationMessage.Direction.IN,
        system=IntegrationMessage.System.STATION,
        entity_type=call.kind,
        business_key=key,
        dedupe_key=key,
        status=status,
        payload=call.payload,
        sent_by_id=_user_id(call.sent_by),
        replay_of_id=call.replay_of.pk if call.replay_of is not None else None,
        **fields,
    )


def _user_id(sent_by) -> int | None:
    return getattr(sent_by, "pk", None)
