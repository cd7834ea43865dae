"""Rules 1–9 of docs/ingestion.md for a list of events inside one transaction: shape,
idempotency, track, operation and bound specs, specs, values, judge, write, failure
capture. The caller owns the transaction (ingestion/retries.py).
"""

from collections import Counter

from django.db import connection
from django.db.models import Case, F, Value, When
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from execution.holds import (
    HoldNote,
    hold_open_at,
    hold_units,
    holds_of_units,
    holds_of_values,
    lock_units,
    open_holds_of,
)
from execution.models import DataValue, Unit
from execution.resolution import (
    ResolutionError,
    TrackLookup,
    resolve_items,
    resolve_operations,
)
from execution.track_resolution import resolve_tracks
from execution.value_writing import (
    build_values,
    decides_for_its_unit,
    hold_causes,
    judge_items,
)
from integration.ingestion.attempt import Attempt, Result
from integration.ingestion.errors import EventIdConflict, EventRefused
from integration.ingestion.event_hash import canonical_event_hash
from integration.ingestion.shape import validate_event_shape
from integration.ingestion.stored_payload import split_payload
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for
from mes.db import (
    execute,
    fetch_all,
    insert_models,
    load_model,
    new_model,
    one_of,
    select_list,
)


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
            attempt.judgements = judge_items(attempt.items)

    # 8. Write. The unique eventId is the final arbiter: if a concurrent request
    # wrote one of these eventIds first, the insert fails, the transaction rolls
    # back, and the events are taken again (the losers then answer as duplicates).
    write_attempts([attempt for attempt in attempts if attempt.status != Result.FAILED], replay_of)


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
        # Stored once: what the record holds is not repeated (ingestion/stored_payload.py).
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
    event = attempt.event
    return build_values(
        attempt.track,
        attempt.items,
        attempt.judgements,
        event["data"],
        collected_at=event["event_time"],
        source=event["source"],
        source_ref=business_key_for(event["event_id"]),
        meta={
            "eventId": event["event_id"],
            "equipmentId": event.get("equipment_id"),
            "operatorId": event.get("operator_id"),
        },
    )


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
    lock_units(_units_decided_on(created))
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


def _units_decided_on(created: list[Attempt]) -> set[int]:
    """The units a value of these events holds or fails on a KEY spec: locked before the
    values are written (execution/value_writing.py `decides_for_its_unit`). Most events
    carry none: then no statement."""
    return {
        attempt.track.unit_id
        for attempt in created
        if attempt.track.unit_id is not None
        and any(
            decides_for_its_unit(spec, judgement)
            for spec, judgement in zip(attempt.items.specs, attempt.judgements, strict=True)
        )
    }


def hold_alarmed_units(created: list[Attempt], now) -> None:
    """Rule 8, holds: a value alarmed with the HOLD action puts its unit on hold in this
    transaction (execution/holds.py), and the answer of every event of a held unit names
    the hold. No statement at all when no unit is or becomes held."""
    causes = [
        cause
        for attempt in created
        for cause in hold_causes(
            attempt.track.unit_id,
            attempt.values,
            attempt.items.specs,
            attempt.judgements,
            attempt.event_id,
        )
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
