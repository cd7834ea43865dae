"""The ingestion service: one device event, applied rule by rule (DESIGN.md §4).

`receive_device_event` reads top to bottom as the rules do: shape,
idempotency, track, operation and bound specs, specs, values, judge, write,
failure capture. The API view, the admin's replay action and management
commands all call it; nothing else writes device data.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from execution.judging import judge_value
from execution.models import DataValue
from execution.resolution import (
    VALUE_FIELD_BY_DATA_TYPE,
    ResolutionError,
    resolve_items,
    resolve_operation,
    resolve_track,
)
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for
from integration.serializers import DeviceEventSerializer, check_is_event_object
from mes.api.exceptions import ApiError

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


def receive_device_event(
    payload, *, sent_by, record_sender=None, replay_of: IntegrationMessage | None = None
) -> IngestionOutcome:
    """Apply every ingestion rule to one device event and write it exactly once.

    `payload` is the event as received (parsed JSON). `sent_by` is who made
    this attempt (a gateway, a person, or the admin replaying); the record
    names `record_sender` when given (the original gateway on a replay).

    Returns the outcome for a new or duplicate event. Raises
    ValidationError (malformed, nothing stored), EventIdConflict (409) or
    EventRefused (422, kept as a FAILED message).
    """
    # 1. Shape.
    event = validate_event_shape(payload, sent_by)

    # 2. Idempotency: an eventId already written is a duplicate or a conflict.
    payload_hash = canonical_event_hash(event)
    existing = DeviceDataRecord.objects.filter(event_id=event["event_id"]).first()
    if existing is not None:
        return answer_repeated_event(existing, payload_hash, payload, sent_by, replay_of)

    # 3–6. Track, operation and bound specs, specs, values.
    try:
        track = resolve_track(
            track_id=event.get("track_id"),
            carrier_track_id=event.get("carrier_track_id"),
            run_no=event.get("run_no"),
            unit_sn=event.get("unit_sn"),
            station_code=event.get("station_code"),
            step_no=event.get("step_no"),
        )
        operation = resolve_operation(track, event.get("operation_id"))
        items = resolve_items(event["data"], operation, event["source"])
    except ResolutionError as refusal:
        # 9. Failure capture, outside any transaction of the write.
        raise EventRefused(
            refusal, keep_failed_event(event, payload, refusal, sent_by, replay_of)
        ) from refusal

    # 7. Judge.
    judgements = [
        judge_value(spec, value) for spec, value in zip(items.specs, items.values, strict=True)
    ]

    # 8. Write, all or nothing. The unique eventId decides a race with a
    # concurrent attempt: the loser is answered as a duplicate (or conflict).
    try:
        return write_event(
            event, payload, payload_hash, track, items, judgements,
            record_sender=record_sender or sent_by, sent_by=sent_by, replay_of=replay_of,
        )  # fmt: skip
    except IntegrityError:
        existing = DeviceDataRecord.objects.filter(event_id=event["event_id"]).first()
        if existing is None:
            raise
        return answer_repeated_event(existing, payload_hash, payload, sent_by, replay_of)


def validate_event_shape(payload, sent_by=None) -> dict:
    """Rule 1: the event's shape and types; raises ValidationError, stores nothing."""
    try:
        check_is_event_object(payload)
        serializer = DeviceEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
    except ValidationError as error:
        logger.info("Refused a malformed event from %s: %s", sent_by, error.detail)
        raise
    return serializer.validated_data


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


def _new_message(event_id: str, status: str, payload, sent_by, replay_of, **fields):
    key = business_key_for(event_id)
    return IntegrationMessage(
        direction=IntegrationMessage.Direction.IN,
        system=IntegrationMessage.System.DEVICE,
        entity_type=IntegrationMessage.EntityType.DEVICE_DATA,
        business_key=key,
        dedupe_key=key,
        status=status,
        payload=payload,
        sent_by=sent_by,
        replay_of=replay_of,
        **fields,
    )


def answer_repeated_event(record, payload_hash, payload, sent_by, replay_of) -> IngestionOutcome:
    """An eventId already written: the same event is a duplicate, another is a conflict."""
    if record.payload_hash != payload_hash:
        message = _new_message(
            record.event_id, IntegrationMessage.Status.CONFLICT, payload, sent_by, replay_of,
            record=record, error_code=EventIdConflict.CODE,
            error_message="eventId already received with a different payload",
        )  # fmt: skip
        message.save()
        raise EventIdConflict(record, message)

    now = timezone.now()
    with transaction.atomic():
        DeviceDataRecord.objects.filter(pk=record.pk).update(
            duplicate_count=F("duplicate_count") + 1, last_duplicate_at=now
        )
        message = _new_message(
            record.event_id, IntegrationMessage.Status.DUPLICATE, payload, sent_by, replay_of,
            record=record,
        )  # fmt: skip
        message.save()
    record.refresh_from_db(fields=["duplicate_count", "last_duplicate_at"])
    values = list(
        DataValue.objects.filter(source_ref=record.business_key)
        .select_related("spec")
        .order_by("pk")
    )
    return IngestionOutcome(record=record, values=values, message=message, is_duplicate=True)


def keep_failed_event(event, payload, refusal: ResolutionError, sent_by, replay_of):
    """Rule 9: keep a refused event as a FAILED message, without using up its eventId."""
    message = _new_message(
        event["event_id"], IntegrationMessage.Status.FAILED, payload, sent_by, replay_of,
        error_code=refusal.code, error_message=refusal.message,
    )  # fmt: skip
    message.save()
    return message


def write_event(
    event, payload, payload_hash, track, items, judgements, *, record_sender, sent_by, replay_of
) -> IngestionOutcome:
    """Rule 8: the record, its values and a SUCCESS message in one transaction."""
    event_id = event["event_id"]
    source_ref = business_key_for(event_id)
    value_meta = {
        "eventId": event_id,
        "equipmentId": event.get("equipment_id"),
        "operatorId": event.get("operator_id"),
    }
    now = timezone.now()
    with transaction.atomic():
        record = DeviceDataRecord.objects.create(
            event_id=event_id,
            event_time=event["event_time"],
            source=event["source"],
            run_no=track.run_no,
            unit_sn=track.unit_sn,
            station_code=track.station_code,
            step_no=track.step_no,
            track=track.track,
            carrier_track=track.carrier_track,
            operation=items.operation,
            equipment_id=event.get("equipment_id") or "",
            operator_id=event.get("operator_id") or "",
            data=payload["data"],
            meta=payload.get("meta"),
            payload_hash=payload_hash,
            data_values_created=len(items.specs),
            sent_by=record_sender,
        )
        values = DataValue.objects.bulk_create(
            [
                DataValue(
                    spec=spec,
                    track=track.track,
                    carrier_track=track.carrier_track,
                    collected_at=item.get("collected_at") or event["event_time"],
                    limits=spec.limits,
                    judge=judgement.judge,
                    alarmed=judgement.alarmed,
                    source=event["source"],
                    source_ref=source_ref,
                    meta=value_meta,
                    **{VALUE_FIELD_BY_DATA_TYPE[spec.data_type]: value},
                )
                for spec, value, judgement, item in zip(
                    items.specs, items.values, judgements, event["data"], strict=True
                )
            ]
        )
        message = _new_message(
            event_id, IntegrationMessage.Status.SUCCESS, payload, sent_by, replay_of, record=record
        )
        message.save()
        # The same event refused earlier is now written: its FAILED attempts are resolved.
        IntegrationMessage.objects.filter(
            dedupe_key=source_ref, status=IntegrationMessage.Status.FAILED, resolved_at__isnull=True
        ).update(resolved_at=now)
    return IngestionOutcome(record=record, values=values, message=message, is_duplicate=False)


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
