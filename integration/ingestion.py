"""The ingestion service: device events applied rule by rule (docs/ingestion.md).

`receive_device_events` reads top to bottom as the rules do: shape,
idempotency, track, operation and bound specs, specs, values, judge, write,
failure capture. It takes a list so a gateway's buffered batch costs a few
queries in all; `receive_device_event` is the same path for one event. The
API views, the admin's replay action and management commands all call these;
nothing else writes device data.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, connection
from django.db.models import Case, F, Value, When
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from execution.holds import (
    HoldCause,
    HoldNote,
    hold_open_at,
    hold_units,
    holds_of_units,
    holds_of_values,
    holds_unit,
    open_holds_of,
)
from execution.judging import judge_value
from execution.models import DataValue, Unit
from execution.resolution import (
    VALUE_FIELD_BY_DATA_TYPE,
    ResolutionError,
    TrackLookup,
    resolve_items,
    resolve_operations,
    resolve_tracks,
)
from integration.event_hash import CURRENT_VERSION, KNOWN_VERSIONS, canonical_event_hash
from integration.group_commit import GroupCommit
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for
from integration.serializers import DeviceEventSerializer, plainly_valid_event
from integration.stored_payload import split_payload
from mes.api.exceptions import DATABASE_RETRY_AFTER_SECONDS, ApiError
from mes.database_errors import (
    PASSING,
    WORTH_RETRYING,
    Cause,
    CommitUncertain,
    GaveUp,
    bounded_transaction,
    cause_of,
    make_ready_for_retry,
)
from mes.db import (
    execute,
    fetch_all,
    insert_models,
    load_model,
    new_model,
    one_of,
    select_list,
)
from mes.metrics import DATABASE_ERRORS, count_events
from mes.request_log import note_events

logger = logging.getLogger("integration.ingestion")


@dataclass
class IngestionOutcome:
    """What one accepted attempt produced: the record (new or original) and its values."""

    record: DeviceDataRecord
    values: list[DataValue]
    message: IntegrationMessage
    is_duplicate: bool
    hold: HoldNote | None = None  # the open hold of the event's unit, or the one it caused


class EventRefused(ApiError):
    """A well-formed event that cannot be written yet; kept as a FAILED message (422)."""

    def __init__(self, refusal: ResolutionError, message: IntegrationMessage):
        details = {"messageId": str(message.pk)}
        if refusal.items:
            details["items"] = [
                {"index": item.index, "code": item.code, "message": item.message}
                for item in refusal.items
            ]
        super().__init__(refusal.code, refusal.message, 422, details)
        self.refusal = refusal
        self.failed_message = message


class EventIdConflict(ApiError):
    """The eventId was written before with a different event (409)."""

    CODE = "EVENT_ID_CONFLICT"

    def __init__(self, record: DeviceDataRecord, message: IntegrationMessage):
        super().__init__(
            self.CODE,
            f"eventId {record.event_id!r} was already received with a different payload "
            f"(record {record.pk}); send a new eventId for a new event.",
            409,
            {"messageId": str(message.pk), "recordId": str(record.pk)},
        )
        self.record = record
        self.conflict_message = message


class EventNotWritten(ApiError):
    """The database could not take this event now (503, with Retry-After).

    The message says what is known: nothing of the event was written, or, when
    the connection was lost during the commit, that it may have been. Either
    way a re-send with the same eventId is safe.
    """

    CODE = "SERVICE_UNAVAILABLE"
    retry_after = DATABASE_RETRY_AFTER_SECONDS

    def __init__(self, cause: Cause, *, maybe_written: bool = False):
        if maybe_written:
            what = (
                "The database connection was lost while this event was being committed: "
                "it may or may not have been written. Send it again with the same eventId: "
                "if it was written, the answer is its duplicate."
            )
        else:
            what = f"Nothing of this event was written ({_WHY[cause]}); send it again."
        written = "unknown" if maybe_written else "nothing"
        super().__init__(self.CODE, what, 503, {"cause": cause.value, "written": written})
        self.cause = cause


_WHY = {
    Cause.LOCK_TIMEOUT: "a row it needs stayed locked by another session past the lock timeout",
    Cause.STATEMENT_TIMEOUT: "the database took longer than the statement timeout",
    Cause.CANCELED: "the database canceled its statement",
    Cause.TRANSACTION_CONFLICT: "the database chose it to give way to another transaction",
    Cause.STALE_STATEMENT: "the database schema changed while it was written",
    Cause.CONNECTION_LOST: "the database connection was lost before the commit",
    Cause.OUT_OF_TIME: "the database was too slow to take the rest of the list in time",
}


class EventWriteError(ApiError):
    """An unexpected database error for this event alone (500); logged, nothing written."""

    def __init__(self):
        super().__init__(
            "INTERNAL_ERROR",
            "An unexpected database error; it has been logged. Nothing of this event was written.",
            500,
        )


class EventFailedUnexpectedly(ApiError):
    """The service failed on this event (a bug, or master data the rules cannot use);
    rolled back, logged with its traceback, kept as a FAILED message when it could be (500)."""

    def __init__(self, message: IntegrationMessage | None, written=None):
        if written is not None:
            what = f"The event was written before (record {written.pk}); this re-send failed."
        elif message is not None:
            what = (
                "Nothing of this event was written. It is kept as FAILED message "
                f"{message.pk}: replay it once the cause is fixed."
            )
        else:
            what = "Nothing of this event was written; send it again once the cause is fixed."
        details = {}
        if message is not None:
            details["messageId"] = str(message.pk)
        if written is not None:
            details["recordId"] = str(written.pk)
        super().__init__(
            "INTERNAL_ERROR",
            f"An unexpected error; it has been logged. {what}",
            500,
            details or None,
        )
        self.failed_message = message


class MessageNotReplayable(Exception):
    """Only FAILED messages can be replayed."""


class Result:
    """What happened to one event of a list (docs/api.md batch `status`)."""

    CREATED = "CREATED"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"
    FAILED = "FAILED"


@dataclass
class Attempt:
    """One event of a list on its way through the rules."""

    index: int
    payload: object
    sent_by: object = None  # who made this attempt
    event: dict | None = None
    payload_hash: str = ""
    status: str = ""
    error: Exception | None = None
    refusal: ResolutionError | None = None
    track: object = None
    operation: object = None
    items: object = None
    judgements: list = field(default_factory=list)
    record: DeviceDataRecord | None = None
    values: list = field(default_factory=list)
    message: IntegrationMessage | None = None
    hold: HoldNote | None = None

    @property
    def event_id(self) -> str | None:
        if self.event is not None:
            return self.event["event_id"]
        event_id = self.payload.get("eventId") if isinstance(self.payload, dict) else None
        return event_id if isinstance(event_id, str) else None

    def is_same_event_as(self, record: DeviceDataRecord) -> bool:
        """Rule 2: whether this event is the one the record was written from, by the
        hash of the rules the record was hashed with."""
        version = record.payload_hash_version
        if version == CURRENT_VERSION:
            return self.payload_hash == record.payload_hash
        if version not in KNOWN_VERSIONS:  # written by a newer release: cannot tell
            logger.warning("Record %s has hash version %s, unknown here", record.pk, version)
            return False
        return canonical_event_hash(self.event, version) == record.payload_hash

    def start_again(self) -> None:
        """Forget a try that the database rolled back; the validated event stays."""
        fresh = Attempt(self.index, self.payload, self.sent_by, self.event, self.payload_hash)
        self.__dict__.update(fresh.__dict__)

    def not_written(self, error: DatabaseError) -> None:
        """The database could not take the event: it is answered, and nothing of it is kept."""
        maybe_written = isinstance(error, CommitUncertain)
        cause = cause_of(error.error if maybe_written else error)
        self.status, self.record, self.values, self.message = Result.FAILED, None, [], None
        if maybe_written or cause in PASSING:
            # Said in the request's log line (its error code) and counted by cause.
            self.error = EventNotWritten(cause, maybe_written=maybe_written)
        else:
            logger.error("Event %r not written", self.event_id, exc_info=error)
            self.error = EventWriteError()

    @property
    def outcome(self) -> IngestionOutcome | None:
        if self.status not in (Result.CREATED, Result.DUPLICATE):
            return None
        return IngestionOutcome(
            self.record, self.values, self.message, self.status == Result.DUPLICATE, self.hold
        )


def receive_device_event(
    payload, *, sent_by, record_sender=None, replay_of: IntegrationMessage | None = None
) -> IngestionOutcome:
    """Apply every ingestion rule to one device event and write it exactly once.

    `payload` is the event as received (parsed JSON). `sent_by` is who made
    this attempt (a gateway, a person, or the admin replaying); the record
    names `record_sender` when given (the original gateway on a replay).

    Returns the outcome for a new or duplicate event. Raises ValidationError
    (malformed, nothing stored), EventIdConflict (409), EventRefused (422,
    kept as a FAILED message) or EventNotWritten (503: the database could not
    take it now).
    """
    # Grouped only for callers in autocommit outside any transaction: a group is
    # committed by whichever request writes it, so no caller's rollback may reach it.
    if (
        record_sender is None
        and replay_of is None
        and not connection.in_atomic_block
        and connection.get_autocommit()
    ):
        attempt = group_commit.receive(payload, sent_by)
    else:
        (attempt,) = _receive_list([payload], sent_by, record_sender, replay_of)
    observe([attempt])
    if attempt.error is not None:
        raise attempt.error
    return attempt.outcome


def receive_device_events(
    payloads: list, *, sent_by, record_sender=None, replay_of=None
) -> list[Attempt]:
    """Apply the ingestion rules to each event of a list, in order, each on its own.

    One event's refusal never affects another: each Attempt carries its own
    status (CREATED, DUPLICATE, CONFLICT, FAILED) and error. An event repeating
    an earlier event's eventId in the list is answered as its duplicate or
    conflict, as if the two had been posted one after the other. `sent_by` is
    one sender for the whole list, or a list of one per event.

    The list is written in one transaction. If the database fails it (a lock
    or statement timeout, a race for an eventId, a deadlock, a schema change,
    a lost connection), nothing of it was written, and each event is taken
    again in a transaction of its own, so one event's trouble stays its own;
    an event the database still cannot take is FAILED with EventNotWritten.
    """
    return observe(_receive_list(payloads, sent_by, record_sender, replay_of))


def _receive_list(payloads: list, sent_by, record_sender, replay_of) -> list[Attempt]:
    attempts = shaped_attempts(payloads, sent_by)
    write_well_formed(
        [attempt for attempt in attempts if attempt.event is not None], record_sender, replay_of
    )
    return attempts


def _met(error: DatabaseError) -> None:
    """A database error on the way: counted by cause, and a lost connection dropped."""
    cause = cause_of(error)
    DATABASE_ERRORS.labels(cause.name.lower()).inc()
    make_ready_for_retry(cause)


def observe(attempts: list[Attempt]) -> list[Attempt]:
    """Count the attempts' results (mes/metrics.py) and name them in the request's log
    line (mes/request_log.py): each event once, whichever path wrote it."""
    count_events(attempts)
    note_events(attempts)
    return attempts


def write_well_formed(
    attempts: list[Attempt], record_sender, replay_of, *, alone_elsewhere: bool = False
) -> None:
    """Write well-formed events together; after a database failure, each alone; after
    an unexpected one (a bug, master data the rules cannot use), in halves down to the
    event that fails alone.

    With `alone_elsewhere` (a group commit's list of several events) the failure is
    raised instead, for each request to take its own event again in its own thread.
    """
    try:
        receive_together(attempts, record_sender, replay_of)
    except CommitUncertain as failure:
        DATABASE_ERRORS.labels(Cause.CONNECTION_LOST.name.lower()).inc()
        for attempt in attempts:
            attempt.not_written(failure)
    except DatabaseError as error:
        _met(error)
        if len(attempts) == 1:
            if _worth_retrying(error):
                receive_alone(attempts[0], record_sender, replay_of, tries=1)
            else:
                attempts[0].not_written(error)
        elif alone_elsewhere:
            raise
        else:
            receive_each_alone(attempts, record_sender, replay_of)
    except InterfaceError:
        raise  # the connection is unusable: the caller's outage handling (503) applies
    except Exception:
        # Rolled back like a database failure: one event's trouble stays its own.
        if len(attempts) == 1:
            fail_unexpectedly(attempts[0], replay_of)
        elif alone_elsewhere:
            raise
        else:
            logger.exception("A list of %d events failed; taken again in halves", len(attempts))
            receive_in_halves(attempts, record_sender, replay_of)


def receive_in_halves(attempts: list[Attempt], record_sender, replay_of) -> None:
    """After a list failed unexpectedly: each half together, a half that fails again
    halved in turn, so one bad event of 500 costs about twenty transactions, not 500
    (which the time bound of `receive_each_alone` would cut short under load)."""
    middle = len(attempts) // 2
    for half in (attempts[:middle], attempts[middle:]):
        for attempt in half:
            attempt.start_again()
        write_well_formed(half, record_sender, replay_of)


def shaped_attempts(payloads: list, sent_by) -> list[Attempt]:
    """Rule 1 for each event of a list: its attempt, with the validated event or its error."""
    senders = sent_by if isinstance(sent_by, list) else [sent_by] * len(payloads)
    attempts = [
        Attempt(index, payload, sender)
        for index, (payload, sender) in enumerate(zip(payloads, senders, strict=True))
    ]
    for attempt in attempts:
        check_event_shape(attempt)
        if attempt.event is not None:
            attempt.payload_hash = canonical_event_hash(attempt.event)
    return attempts


def receive_together(attempts: list[Attempt], record_sender, replay_of) -> None:
    """Rules 2–9 for well-formed events, in one transaction with bounded waits.

    Raises DatabaseError if the database fails it (nothing written), or
    CommitUncertain if the commit itself failed. A transaction of several events
    gives up on a lock sooner than one of a single event: its events can still
    be taken one by one.
    """
    if not attempts:
        return
    lock_timeout = (
        settings.INGEST_GROUP_LOCK_TIMEOUT_MS
        if len(attempts) > 1
        else settings.INGEST_LOCK_TIMEOUT_MS
    )
    with bounded_transaction(
        lock_timeout_ms=lock_timeout, statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS
    ):
        apply_rules(attempts, record_sender, replay_of)


def _worth_retrying(error: DatabaseError) -> bool:
    cause = cause_of(error)
    if connection.in_atomic_block and (cause is Cause.CONNECTION_LOST or connection.needs_rollback):
        return False  # a caller's transaction that is broken: only the caller can end it
    # A unique eventId another request wrote first: taken again, the event is its duplicate.
    return isinstance(error, IntegrityError) or cause in WORTH_RETRYING


def receive_alone(attempt: Attempt, record_sender, replay_of, tries: int = 2) -> None:
    """One event in a transaction of its own, tried again once where that can help."""
    for _ in range(tries):
        attempt.start_again()
        try:
            receive_together([attempt], record_sender, replay_of)
            return
        except CommitUncertain as failure:
            attempt.not_written(failure)
            return
        except DatabaseError as error:
            last_error = error
            _met(error)
            if not _worth_retrying(error):
                break
        except InterfaceError:
            raise
        except Exception:
            fail_unexpectedly(attempt, replay_of)
            return
    attempt.not_written(last_error)


def fail_unexpectedly(attempt: Attempt, replay_of) -> None:
    """An event the service failed on, not the database (a bug, or master data the rules
    cannot use, such as limits stored as text by an SQL fix); called where the error is
    caught, after the rollback. Logged with its traceback and answered 500; kept as a
    FAILED message (INTERNAL_ERROR), to replay once the cause is fixed, unless its
    eventId is already written (the failure was on a re-send's way)."""
    logger.exception("Event %r failed unexpectedly; nothing of it was written", attempt.event_id)
    attempt.start_again()
    message, written = None, None
    try:
        with bounded_transaction(
            lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
            statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
        ):
            written = records_by_event_id({attempt.event_id}).get(attempt.event_id)
            if written is None:
                message = _new_message(
                    attempt, IntegrationMessage.Status.FAILED, replay_of,
                    error_code="INTERNAL_ERROR",
                    error_message="The service failed on this event: see the log.",
                )  # fmt: skip
                insert_models([message])
    except Exception:
        logger.exception("Event %r could not be kept as a FAILED message", attempt.event_id)
        message = None
    attempt.status, attempt.message = Result.FAILED, message
    attempt.error = EventFailedUnexpectedly(message, written)


def receive_each_alone(attempts: list[Attempt], record_sender, replay_of) -> None:
    """After a list's transaction failed: each event alone, in list order.

    Bounded: once the database cannot be reached, or when the retries have taken
    longer than the statement timeout (a table locked by a migration would make
    every event wait its lock timeout), the events left are answered 503 without
    trying them; nothing of them is written."""
    deadline = time.monotonic() + settings.INGEST_STATEMENT_TIMEOUT_MS / 1000
    given_up = None
    for attempt in attempts:
        if given_up is not None:
            attempt.start_again()
            attempt.not_written(given_up)
            continue
        receive_alone(attempt, record_sender, replay_of)
        error = attempt.error
        if (
            isinstance(error, EventNotWritten)
            and error.cause is Cause.CONNECTION_LOST
            and error.details["written"] == "nothing"
        ):
            given_up = GaveUp(Cause.CONNECTION_LOST)
        elif time.monotonic() > deadline:
            given_up = GaveUp(Cause.OUT_OF_TIME)


def _receive_group(payloads: list, senders: list) -> list[Attempt]:
    """A group commit's write: the events of concurrent requests in one transaction.
    If the database fails a group of several events, the error is raised for each
    request to take its own event again alone; a group of one is answered as alone."""
    attempts = shaped_attempts(payloads, senders)
    well_formed = [attempt for attempt in attempts if attempt.event is not None]
    write_well_formed(well_formed, None, None, alone_elsewhere=True)
    return attempts


def _receive_one(payload, sent_by) -> Attempt:
    (attempt,) = _receive_list([payload], sent_by, None, None)  # observed by the caller
    return attempt


def apply_rules(attempts: list[Attempt], record_sender, replay_of) -> None:
    """Rules 2–9 for well-formed events, inside the caller's transaction."""
    # 2. Idempotency, against what is already written.
    written = records_by_event_id({attempt.event_id for attempt in attempts})
    new = [attempt for attempt in attempts if attempt.event_id not in written]

    # 3–6. Track, operation and bound specs, specs and values, for all new events at once.
    resolve_attempts(new)

    # 2, in list order: a repeat of an eventId claimed earlier is its duplicate or conflict.
    claimed = dict(written)
    for attempt in attempts:
        original = claimed.get(attempt.event_id)
        if original is not None:
            attempt.record = original
            same = attempt.is_same_event_as(original)
            attempt.status = Result.DUPLICATE if same else Result.CONFLICT
        elif attempt.refusal is not None:
            attempt.status = Result.FAILED
        else:
            attempt.status = Result.CREATED
            attempt.record = build_record(attempt, record_sender or attempt.sent_by)
            claimed[attempt.event_id] = attempt.record

    # 9. Failure capture: refused events are kept, without using up their eventId.
    refused = [attempt for attempt in attempts if attempt.status == Result.FAILED]
    keep_failed_events(refused, replay_of)

    # 7. Judge.
    for attempt in attempts:
        if attempt.status == Result.CREATED:
            attempt.judgements = [
                judge_value(spec, value)
                for spec, value in zip(attempt.items.specs, attempt.items.values, strict=True)
            ]

    # 8. Write. The unique eventId is the final arbiter: if a concurrent request
    # wrote one of these eventIds first, the insert fails, the transaction rolls
    # back, and the events are taken again (the losers then answer as duplicates).
    write_attempts([attempt for attempt in attempts if attempt.status != Result.FAILED], replay_of)


@cache
def event_validator() -> DeviceEventSerializer:
    """One validator for every event of the process: building a serializer's fields
    costs more than using them, and validating keeps no state on the serializer."""
    return DeviceEventSerializer()


def validate_event_shape(payload) -> dict:
    """Rule 1: the event's shape and types, as validated snake_case data.

    Raises ValidationError with per-field details.
    """
    if not isinstance(payload, dict):
        raise ValidationError({"non_field_errors": ["An event must be a JSON object."]})
    return plainly_valid_event(payload) or event_validator().run_validation(payload)


def check_event_shape(attempt: Attempt) -> None:
    """Rule 1 for one attempt of a list: a malformed event is refused and stores nothing."""
    try:
        attempt.event = validate_event_shape(attempt.payload)
    except ValidationError as error:
        # Said in the request's log line (VALIDATION_ERROR) and its answer.
        attempt.status, attempt.error = Result.FAILED, error


def resolve_attempts(attempts: list[Attempt]) -> None:
    """Rules 3–6 for every event at once; a refusal is noted on its attempt."""
    tracks = resolve_tracks(
        [
            TrackLookup(
                track_id=attempt.event.get("track_id"),
                carrier_track_id=attempt.event.get("carrier_track_id"),
                run_no=attempt.event.get("run_no"),
                unit_sn=attempt.event.get("unit_sn"),
                station_code=attempt.event.get("station_code"),
                step_no=attempt.event.get("step_no"),
            )
            for attempt in attempts
        ]
    )
    located = _keep_resolved(attempts, tracks, "track")
    operations = resolve_operations(
        [attempt.track for attempt in located],
        [attempt.event.get("operation_id") for attempt in located],
    )
    with_operation = _keep_resolved(located, operations, "operation")
    items = resolve_items(
        [
            (attempt.event["data"], attempt.operation, attempt.event["source"])
            for attempt in with_operation
        ]
    )
    _keep_resolved(with_operation, items, "items")


def _keep_resolved(attempts, results, name) -> list[Attempt]:
    resolved = []
    for attempt, result in zip(attempts, results, strict=True):
        if isinstance(result, ResolutionError):
            attempt.refusal = result
        else:
            setattr(attempt, name, result)
            resolved.append(attempt)
    return resolved


def primary_key(instance):
    """An instance's primary key, or None. Foreign keys are set by id: assigning
    instances goes through the descriptors' checks, a fifth of a batch's time."""
    return None if instance is None else instance.pk


def _new_message(attempt: Attempt, status: str, replay_of, **fields):
    key = business_key_for(attempt.event_id)
    payload, record_fields = attempt.payload, 0
    if fields.get("record_id") is not None:
        # Stored once: what the record holds is not repeated (integration/stored_payload.py).
        payload, record_fields = split_payload(attempt.payload, attempt.record)
    return new_model(
        IntegrationMessage,
        direction=IntegrationMessage.Direction.IN,
        system=IntegrationMessage.System.DEVICE,
        entity_type=IntegrationMessage.EntityType.DEVICE_DATA,
        business_key=key,
        dedupe_key=key,
        status=status,
        payload=payload,
        record_fields=record_fields,
        sent_by_id=primary_key(attempt.sent_by),
        replay_of_id=primary_key(replay_of),
        **fields,
    )


def keep_failed_events(attempts: list[Attempt], replay_of) -> None:
    """Rule 9: keep refused events as FAILED messages with their code and payload."""
    for attempt in attempts:
        attempt.message = _new_message(
            attempt, IntegrationMessage.Status.FAILED, replay_of,
            error_code=attempt.refusal.code, error_message=attempt.refusal.message,
        )  # fmt: skip
    insert_models([attempt.message for attempt in attempts])
    for attempt in attempts:
        attempt.error = EventRefused(attempt.refusal, attempt.message)


def build_record(attempt: Attempt, record_sender) -> DeviceDataRecord:
    """The record an accepted event will be written as (not saved yet)."""
    event, track = attempt.event, attempt.track
    return new_model(
        DeviceDataRecord,
        event_id=event["event_id"],
        event_time=event["event_time"],
        source=event["source"],
        run_no=track.run_no,
        unit_sn=track.unit_sn,
        station_code=track.station_code,
        step_no=track.step_no,
        track_id=track.track_id,
        carrier_track_id=track.carrier_track_id,
        operation_id=primary_key(attempt.items.operation),
        equipment_id=event.get("equipment_id") or "",
        operator_id=event.get("operator_id") or "",
        data=attempt.payload["data"],
        meta=attempt.payload.get("meta"),
        payload_hash=attempt.payload_hash,
        data_values_created=len(attempt.items.specs),
        sent_by_id=primary_key(record_sender),
    )


def _build_values(attempt: Attempt) -> list[DataValue]:
    event, track = attempt.event, attempt.track
    value_meta = {
        "eventId": event["event_id"],
        "equipmentId": event.get("equipment_id"),
        "operatorId": event.get("operator_id"),
    }
    values = [
        new_model(
            DataValue,
            spec_id=spec.pk,
            track_id=track.track_id,
            carrier_track_id=track.carrier_track_id,
            station_id=track.station_id,
            run_id=track.run_id,
            collected_at=item.get("collected_at") or event["event_time"],
            limits=spec.limits,
            judge=judgement.judge,
            alarmed=judgement.alarmed,
            source=event["source"],
            source_ref=business_key_for(event["event_id"]),
            meta=value_meta,
            sender_limits=item.get("sender_limits"),
            **{VALUE_FIELD_BY_DATA_TYPE[spec.data_type]: value},
        )
        for spec, value, judgement, item in zip(
            attempt.items.specs,
            attempt.items.values,
            attempt.judgements,
            event["data"],
            strict=True,
        )
    ]
    for value, spec in zip(values, attempt.items.specs, strict=True):
        DataValue.spec.field.set_cached_value(value, spec)  # the answer names the spec
    return values


def write_attempts(attempts: list[Attempt], replay_of) -> None:
    """Rule 8: new records with their values, and a message for every accepted attempt.

    A few statements whatever the number of events, in the caller's transaction
    (`receive_together`). Records are inserted in eventId order so concurrent
    lists claim eventIds in the same order and wait for each other instead of
    deadlocking.
    """
    created = [attempt for attempt in attempts if attempt.status == Result.CREATED]
    now = timezone.now()
    insert_models(
        sorted((attempt.record for attempt in created), key=lambda record: record.event_id)
    )
    # Counted after the insert: a repeat within the list points at a record just written.
    repeats = Counter(
        attempt.record.pk for attempt in attempts if attempt.status == Result.DUPLICATE
    )
    for attempt in created:
        attempt.values = _build_values(attempt)
    insert_models([value for a in created for value in a.values])
    hold_alarmed_units(created, now)
    for attempt in attempts:
        attempt.message = _message_for_accepted(attempt, replay_of)
    insert_models([attempt.message for attempt in attempts])
    if created:
        # The same events refused earlier are now written: their FAILED attempts are resolved.
        resolve_failed_messages([business_key_for(a.event_id) for a in created], now)
    if repeats:
        DeviceDataRecord.objects.filter(pk__in=repeats).update(
            duplicate_count=F("duplicate_count")
            + Case(*(When(pk=pk, then=Value(n)) for pk, n in repeats.items()), default=0),
            last_duplicate_at=now,
        )
    for attempt in attempts:
        if attempt.status == Result.CONFLICT:
            attempt.error = EventIdConflict(attempt.record, attempt.message)
    # Before the commit, like every statement of the list: after it, a failure
    # could no longer be answered with "nothing was written".
    _attach_original_values(attempts, repeats, now)


def hold_alarmed_units(created: list[Attempt], now) -> None:
    """Rule 8, holds: a value alarmed with the HOLD action puts its unit on hold in this
    transaction (execution/holds.py), and the answer of every event of a held unit names
    the hold. No statement at all when no unit is or becomes held."""
    causes = [
        HoldCause(attempt.track.unit_id, value, attempt.event_id)
        for attempt in created
        if attempt.track.unit_id is not None
        for value, spec, judgement in zip(
            attempt.values, attempt.items.specs, attempt.judgements, strict=True
        )
        if holds_unit(spec, judgement)
    ]
    held_before = {
        attempt.track.unit_id
        for attempt in created
        if attempt.track.unit_status == Unit.Status.ON_HOLD
    }
    if not causes and not held_before:
        return
    holds = hold_units(causes, now)
    holds.update(open_holds_of(held_before - holds.keys()))
    causing = {cause.event_id for cause in causes}
    for attempt in created:
        hold = holds.get(attempt.track.unit_id)
        if hold is not None:
            attempt.hold = HoldNote(hold.pk, hold.opened_at, attempt.event_id in causing)


def records_by_event_id(event_ids: set[str]) -> dict[str, DeviceDataRecord]:
    """Rule 2's lookup: the records already written for these eventIds."""
    if not event_ids:
        return {}
    condition, params = one_of("r.event_id", event_ids, "text")
    rows = fetch_all(
        f"SELECT {select_list(DeviceDataRecord, 'r')} FROM integration_devicedatarecord r "
        f"WHERE {condition}",
        params,
    )
    records = [load_model(DeviceDataRecord, row) for row in rows]
    return {record.event_id: record for record in records}


def resolve_failed_messages(dedupe_keys: list[str], now) -> None:
    """Mark the unresolved FAILED attempts of events now written as resolved."""
    condition, params = one_of("dedupe_key", dedupe_keys, "text")
    # 'FAILED' written out, not a parameter: a prepared statement's generic plan can
    # then use the partial index message_unresolved (status = 'FAILED' AND unresolved).
    execute(
        "UPDATE integration_integrationmessage SET resolved_at = %s, updated_at = %s "
        f"WHERE {condition} AND status = 'FAILED' AND resolved_at IS NULL",
        [*[connection.ops.adapt_datetimefield_value(now)] * 2, *params],
    )  # fmt: skip


def _message_for_accepted(attempt: Attempt, replay_of) -> IntegrationMessage:
    if attempt.status == Result.CONFLICT:
        return _new_message(
            attempt, IntegrationMessage.Status.CONFLICT, replay_of,
            record_id=attempt.record.pk, error_code=EventIdConflict.CODE,
            error_message="eventId already received with a different payload",
        )  # fmt: skip
    status = {
        Result.CREATED: IntegrationMessage.Status.SUCCESS,
        Result.DUPLICATE: IntegrationMessage.Status.DUPLICATE,
    }[attempt.status]
    return _new_message(attempt, status, replay_of, record_id=attempt.record.pk)


def _attach_original_values(attempts: list[Attempt], repeats: Counter, now) -> None:
    """A duplicate answers with its original's values; load those written before this list."""
    values_by_record = {a.record.pk: a.values for a in attempts if a.status == Result.CREATED}
    earlier = [
        business_key_for(a.event_id)
        for a in attempts
        if a.status == Result.DUPLICATE and a.record.pk not in values_by_record
    ]
    by_key: dict[str, list] = {}
    if earlier:
        # spec: each value's answer names its spec.
        for value in (
            DataValue.objects.filter(source_ref__in=earlier).select_related("spec").order_by("pk")
        ):
            by_key.setdefault(value.source_ref, []).append(value)
    for attempt in attempts:
        if attempt.status != Result.DUPLICATE:
            continue
        record = attempt.record
        if record.pk in repeats:
            record.duplicate_count += repeats.pop(record.pk)
            record.last_duplicate_at = now
        attempt.values = values_by_record.get(record.pk) or by_key.get(record.business_key, [])
    _attach_original_holds(attempts)


def _attach_original_holds(attempts: list[Attempt]) -> None:
    """A duplicate answers its original's hold, as its original's answer did: the hold of
    its unit that was open when the original was written, caused by it or not."""
    duplicates = [a for a in attempts if a.status == Result.DUPLICATE]
    if not duplicates:
        return
    written_now = {a.record.pk: a.hold for a in attempts if a.status == Result.CREATED}
    earlier = [
        a for a in duplicates if a.record.pk not in written_now and a.record.track_id is not None
    ]
    holds = holds_of_units({a.record.unit_sn for a in earlier})
    causes = holds_of_values(
        [v.pk for a in earlier for v in a.values if v.alarmed] if holds else []
    )
    for attempt in duplicates:
        record = attempt.record
        if record.pk in written_now:
            attempt.hold = written_now[record.pk]
            continue
        hold = hold_open_at(holds.get(record.unit_sn, []), record.received_at)
        if hold is not None:
            caused = any(
                value.pk in causes and causes[value.pk].pk == hold.pk for value in attempt.values
            )
            attempt.hold = HoldNote(hold.pk, hold.opened_at, caused)


def replay_failed_message(message: IntegrationMessage, *, replayed_by) -> IngestionOutcome:
    """Send a FAILED message's stored payload through the ingestion rules again.

    The new attempt's message points back with `replay_of` and names the
    person replaying; the record, when written, keeps the original sender.
    An event already written answers as a duplicate.
    """
    if message.status != IntegrationMessage.Status.FAILED:
        raise MessageNotReplayable(f"Message {message.pk} is {message.status}, not FAILED.")
    return receive_device_event(
        message.full_payload, sent_by=replayed_by, record_sender=message.sent_by, replay_of=message
    )


# One per process: the threads of a gunicorn worker share it (docs/ingestion.md).
group_commit = GroupCommit(_receive_group, _receive_one)
