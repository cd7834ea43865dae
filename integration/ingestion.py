"""The ingestion service: device events applied rule by rule (DESIGN.md §4).

`receive_device_events` reads top to bottom as the rules do: shape,
idempotency, track, operation and bound specs, specs, values, judge, write,
failure capture. It takes a list so a gateway's buffered batch costs a few
queries in all; `receive_device_event` is the same path for one event. The
API views, the admin's replay action and management commands all call these;
nothing else writes device data.
"""

import hashlib
import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from execution.judging import judge_value
from execution.models import DataValue
from execution.resolution import (
    VALUE_FIELD_BY_DATA_TYPE,
    ResolutionError,
    TrackLookup,
    resolve_items,
    resolve_operations,
    resolve_tracks,
)
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for
from integration.serializers import DeviceEventSerializer, plainly_valid_event
from mes.api.exceptions import ApiError
from mes.db import (
    execute,
    fetch_all,
    insert_models,
    load_model,
    new_model,
    one_of,
    select_list,
)

logger = logging.getLogger("integration.ingestion")

ID_FIELDS = {"spec_id", "track_id", "carrier_track_id", "operation_id"}


@dataclass
class IngestionOutcome:
    """What one accepted attempt produced: the record (new or original) and its values."""

    record: DeviceDataRecord
    values: list[DataValue]
    message: IntegrationMessage
    is_duplicate: bool


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


class MessageNotReplayable(Exception):
    """Only FAILED messages can be replayed."""


class Result:
    """What happened to one event of a list (API.md batch `status`)."""

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
    items: object = None
    judgements: list = field(default_factory=list)
    record: DeviceDataRecord | None = None
    values: list = field(default_factory=list)
    message: IntegrationMessage | None = None

    @property
    def event_id(self) -> str | None:
        if self.event is not None:
            return self.event["event_id"]
        event_id = self.payload.get("eventId") if isinstance(self.payload, dict) else None
        return event_id if isinstance(event_id, str) else None

    @property
    def outcome(self) -> IngestionOutcome | None:
        if self.status not in (Result.CREATED, Result.DUPLICATE):
            return None
        return IngestionOutcome(
            self.record, self.values, self.message, self.status == Result.DUPLICATE
        )


def receive_device_event(
    payload, *, sent_by, record_sender=None, replay_of: IntegrationMessage | None = None
) -> IngestionOutcome:
    """Apply every ingestion rule to one device event and write it exactly once.

    `payload` is the event as received (parsed JSON). `sent_by` is who made
    this attempt (a gateway, a person, or the admin replaying); the record
    names `record_sender` when given (the original gateway on a replay).

    Returns the outcome for a new or duplicate event. Raises ValidationError
    (malformed, nothing stored), EventIdConflict (409) or EventRefused (422,
    kept as a FAILED message).
    """
    # Grouped only outside a caller's transaction: a group's events are written in
    # the leader's transaction, which must be theirs alone to commit.
    if record_sender is None and replay_of is None and not connection.in_atomic_block:
        attempt = concurrent_events.receive(payload, sent_by)
    else:
        (attempt,) = receive_device_events(
            [payload], sent_by=sent_by, record_sender=record_sender, replay_of=replay_of
        )
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
    one sender for the whole list, or a list of one per event (events of
    several requests received together, see `ConcurrentEvents`).
    """
    senders = sent_by if isinstance(sent_by, list) else [sent_by] * len(payloads)
    attempts = [
        Attempt(index, payload, sender)
        for index, (payload, sender) in enumerate(zip(payloads, senders, strict=True))
    ]

    # 1. Shape: a malformed event is refused and stores nothing.
    for attempt in attempts:
        check_event_shape(attempt)
    well_formed = [attempt for attempt in attempts if attempt.event is not None]

    # 2. Idempotency, against what is already written.
    for attempt in well_formed:
        attempt.payload_hash = canonical_event_hash(attempt.event)
    written = records_by_event_id({attempt.event_id for attempt in well_formed})
    new = [attempt for attempt in well_formed if attempt.event_id not in written]

    # 3–6. Track, operation and bound specs, specs and values, for all new events at once.
    resolve_attempts(new)

    # 2, in list order: a repeat of an eventId claimed earlier is its duplicate or conflict.
    claimed = dict(written)
    for attempt in well_formed:
        original = claimed.get(attempt.event_id)
        if original is not None:
            attempt.record = original
            same = attempt.payload_hash == original.payload_hash
            attempt.status = Result.DUPLICATE if same else Result.CONFLICT
        elif attempt.refusal is not None:
            attempt.status = Result.FAILED
        else:
            attempt.status = Result.CREATED
            attempt.record = build_record(attempt, record_sender or attempt.sent_by)
            claimed[attempt.event_id] = attempt.record

    # 9. Failure capture, outside the write's transaction, without using up the eventId.
    keep_failed_events(
        [attempt for attempt in well_formed if attempt.status == Result.FAILED], replay_of
    )

    # 7. Judge.
    for attempt in well_formed:
        if attempt.status == Result.CREATED:
            attempt.judgements = [
                judge_value(spec, value)
                for spec, value in zip(attempt.items.specs, attempt.items.values, strict=True)
            ]

    # 8. Write, all or nothing per event. The unique eventId is the final arbiter:
    # if a concurrent request wrote one of these eventIds first, the list is
    # taken again one event at a time, and the losers answer as duplicates.
    accepted = [attempt for attempt in well_formed if attempt.status != Result.FAILED]
    try:
        write_attempts(accepted, replay_of)
    except IntegrityError:
        if (
            len(payloads) == 1
            and not DeviceDataRecord.objects.filter(event_id=accepted[0].event_id).exists()
        ):
            raise
        for attempt in accepted:
            (attempts[attempt.index],) = receive_device_events(
                [attempt.payload],
                sent_by=attempt.sent_by,
                record_sender=record_sender,
                replay_of=replay_of,
            )
            attempts[attempt.index].index = attempt.index
    return attempts


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
        logger.info("Refused a malformed event from %s: %s", attempt.sent_by, error.detail)
        attempt.status, attempt.error = Result.FAILED, error


def _canonical(value, key: str | None = None):
    if value is None:
        return None
    if key in ID_FIELDS:
        return str(value)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        # 245 and 245.0 are the same reading.
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _canonical(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def canonical_event_hash(event: dict) -> str:
    """SHA-256 of the validated event without `meta`, in a canonical JSON form.

    Optional fields absent or null alike, ids as strings, numbers by value,
    times as UTC instants, sorted keys and no whitespace.
    """
    canonical = _canonical({key: value for key, value in event.items() if key != "meta"})
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    return new_model(
        IntegrationMessage,
        direction=IntegrationMessage.Direction.IN,
        system=IntegrationMessage.System.DEVICE,
        entity_type=IntegrationMessage.EntityType.DEVICE_DATA,
        business_key=key,
        dedupe_key=key,
        status=status,
        payload=attempt.payload,
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
            collected_at=item.get("collected_at") or event["event_time"],
            limits=spec.limits,
            judge=judgement.judge,
            alarmed=judgement.alarmed,
            source=event["source"],
            source_ref=business_key_for(event["event_id"]),
            meta=value_meta,
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

    One transaction, a few statements whatever the number of events. Records
    are inserted in eventId order so concurrent lists claim eventIds in the
    same order and wait for each other instead of deadlocking.
    """
    created = [attempt for attempt in attempts if attempt.status == Result.CREATED]
    now = timezone.now()
    with transaction.atomic():
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
    _attach_original_values(attempts, repeats, now)


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
    execute(
        "UPDATE integration_integrationmessage SET resolved_at = %s, updated_at = %s "
        f"WHERE {condition} AND status = %s AND resolved_at IS NULL",
        [*[connection.ops.adapt_datetimefield_value(now)] * 2, *params,
         IntegrationMessage.Status.FAILED],
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


def replay_failed_message(message: IntegrationMessage, *, replayed_by) -> IngestionOutcome:
    """Send a FAILED message's stored payload through the ingestion rules again.

    The new attempt's message points back with `replay_of` and names the
    person replaying; the record, when written, keeps the original sender.
    An event already written answers as a duplicate.
    """
    if message.status != IntegrationMessage.Status.FAILED:
        raise MessageNotReplayable(f"Message {message.pk} is {message.status}, not FAILED.")
    return receive_device_event(
        message.payload, sent_by=replayed_by, record_sender=message.sent_by, replay_of=message
    )


class _Ticket:
    """One request's event waiting in `ConcurrentEvents`."""

    def __init__(self, payload, sent_by):
        self.payload, self.sent_by = payload, sent_by
        self.attempt: Attempt | None = None
        self.error: BaseException | None = None
        self.group: list[_Ticket] | None = None  # handed to this request to write
        self.woken = threading.Event()


class ConcurrentEvents:
    """Group commit: events posted at the same time to one process are received together.

    A request that finds a writing lane free takes every event queued so far
    (its own included) and runs them through `receive_device_events` as one
    list, where each is still judged and answered on its own. When it is done
    it wakes their requests and, if events queued meanwhile, hands them as the
    next group to the first of their requests. Nobody waits on purpose: a
    request alone is received alone and at once; under load, the events of
    concurrent requests share the reads, the inserts and the commit instead of
    queueing for the database one by one (bench/ingest.py measures it).
    Replays and calls inside a transaction are received alone
    (`receive_device_event`).

    More lanes let groups' round trips overlap; measured with two, throughput
    fell (groups are smaller) and latency at half load did not improve, so
    one lane per process it is.
    """

    MAX_GROUP = 100
    LANES = 1

    def __init__(self, lanes: int = LANES):
        self.lanes = lanes
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._writing = 0  # lanes in use

    def receive(self, payload, sent_by) -> Attempt:
        ticket = _Ticket(payload, sent_by)
        with self._lock:
            self._queue.append(ticket)
            if self._writing < self.lanes:
                self._writing += 1
                ticket.group = self._take()
        if ticket.group is None:
            ticket.woken.wait()  # answered, or handed the next group
        if ticket.group is not None:
            self._write(ticket.group)
        if ticket.error is not None:
            raise ticket.error
        return ticket.attempt

    def _take(self) -> list[_Ticket]:
        group = self._queue[: self.MAX_GROUP]
        del self._queue[: self.MAX_GROUP]
        return group

    def _write(self, group: list[_Ticket]) -> None:
        try:
            attempts = receive_device_events(
                [ticket.payload for ticket in group], sent_by=[ticket.sent_by for ticket in group]
            )
            for ticket, attempt in zip(group, attempts, strict=True):
                attempt.index = 0  # each request sent a list of one
                ticket.attempt = attempt
        except BaseException as error:  # e.g. the database is down: each request answers it
            for ticket in group:
                ticket.error = error
        finally:
            with self._lock:
                following = self._take()
                if following:
                    following[0].group = following
                else:
                    self._writing -= 1
            for ticket in group:
                ticket.group = None
                ticket.woken.set()
            if following:
                following[0].woken.set()


concurrent_events = ConcurrentEvents()
