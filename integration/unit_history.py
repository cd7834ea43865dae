"""A unit's whole history for its page and its CSV: execution's streams plus the unit's
records and messages, and the count of its messages by status.

How a unit's messages are found, from indexes only (docs/unit-page.md):
- its records, by serial number (`record_unit`), give their eventIds, and its passes'
  track-in/out records (by pass, `trackingrecord_track`) theirs; the messages of those
  ids (SUCCESS, DUPLICATE, CONFLICT, and FAILED attempts written since) are read by
  business key (`message_business_key`);
- FAILED messages not yet resolved have no record: those naming the unit's serial in
  their payload (`unitSn` of a device event, `sn` of a track-in or track-out) are looked
  for among the newest UNRESOLVED_SCANNED unresolved FAILED messages (read through the
  status index, never the whole table). A FAILED event that named its unit only by
  `trackId` is not found until it is resolved.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from execution.models import Unit
from execution.unit_history import (
    EXECUTION_STREAMS,
    Cursor,
    HistoryPage,
    HistoryRow,
    Kind,
    Stream,
    UnitScope,
    admin_url,
    from_cursor,
    history_order,
    merge_page,
    unit_scope,
)
from integration.models import (
    DeviceDataRecord,
    IntegrationMessage,
    TrackingRecord,
    business_key_for,
)

Status = IntegrationMessage.Status
# The unit's records whose eventIds find its messages (the earliest, by event time).
RECORD_KEYS_READ = 5_000
# Unresolved FAILED messages searched for the unit's serial, newest first.
UNRESOLVED_SCANNED = 10_000
BUSINESS_KEY_PREFIX = business_key_for("")


def record_keys(scope: UnitScope) -> list[str]:
    """The business keys of the unit's records (read once per page)."""
    if "record_keys" not in scope.extra:
        event_ids = (
            DeviceDataRecord.objects.filter(unit_sn=scope.unit.sn)
            .order_by("event_time")
            .values_list("event_id", flat=True)[: RECORD_KEYS_READ + 1]
        )
        keys = [business_key_for(event_id) for event_id in event_ids]
        scope.extra["records_beyond_keys"] = len(keys) > RECORD_KEYS_READ
        scope.extra["record_keys"] = keys[:RECORD_KEYS_READ]
    return scope.extra["record_keys"]


def tracking_records(scope: UnitScope) -> list[TrackingRecord]:
    """The track-in and track-out records of the unit's passes, with who sent them (read
    once per page; a unit has a handful of passes)."""
    if "tracking_records" not in scope.extra:
        # sent_by: the account that sent each call.
        scope.extra["tracking_records"] = list(
            TrackingRecord.objects.filter(track_id__in=scope.track_ids)
            .select_related("sent_by")
            .order_by("received_at", "pk")
        )
    return scope.extra["tracking_records"]


def unresolved_failed_ids(scope: UnitScope) -> list[int]:
    """Unresolved FAILED messages whose payload names the unit (read once per page)."""
    if "unresolved_failed_ids" not in scope.extra:
        newest = (
            IntegrationMessage.objects.filter(status=Status.FAILED, resolved_at__isnull=True)
            .order_by("-created_at", "-id")
            .values("pk")[:UNRESOLVED_SCANNED]
        )
        names_unit = Q(payload__unitSn=scope.unit.sn) | Q(payload__sn=scope.unit.sn)
        scope.extra["unresolved_failed_ids"] = list(
            IntegrationMessage.objects.filter(names_unit, pk__in=newest)
            .order_by()
            .values_list("pk", flat=True)
        )
    return scope.extra["unresolved_failed_ids"]


def messages_of(scope: UnitScope):
    """The unit's messages (a queryset), found as the module's docstring says."""
    keys = record_keys(scope) + [record.business_key for record in tracking_records(scope)]
    return IntegrationMessage.objects.filter(
        Q(business_key__in=keys) | Q(pk__in=unresolved_failed_ids(scope))
    )


def record_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """The unit's accepted events, by receipt (their event time beside)."""
    records = (
        DeviceDataRecord.objects.filter(unit_sn=scope.unit.sn)
        .filter(from_cursor(cursor, Kind.RECORD, "received_at"))
        .order_by(*history_order("received_at"))[:limit]
    )
    return [
        HistoryRow(
            at=record.received_at,
            device_at=record.event_time,
            kind=Kind.RECORD,
            pk=record.pk,
            url=admin_url("integration_devicedatarecord", record.pk),
            station=record.station_code,
            step_no=record.step_no,
            value=f"{record.data_values_created} value(s)"
            + (f", received {record.duplicate_count + 1}×" if record.duplicate_count else ""),
            event_id=record.event_id,
            by=record.operator_id or record.equipment_id,
        )
        for record in records
    ]


def message_rows(scope: UnitScope, cursor: Cursor | None, limit: int) -> list[HistoryRow]:
    """Every attempt at the unit's events, by arrival."""
    # sent_by: the gateway or person who sent each attempt.
    messages = (
        messages_of(scope)
        .filter(from_cursor(cursor, Kind.MESSAGE, "created_at"))
        .select_related("sent_by")
        .order_by(*history_order("created_at"))[:limit]
    )
    return [
        HistoryRow(
            at=message.created_at,
            device_at=event_time_of(message),
            kind=Kind.MESSAGE,
            pk=message.pk,
            url=admin_url("integration_integrationmessage", message.pk),
            status=message.status,
            error_code=message.error_code,
            event_id=message.business_key.removeprefix(BUSINESS_KEY_PREFIX),
            by=message.sent_by.username if message.sent_by else "",
            note=message.error_message,
        )
        for message in messages
    ]


def event_time_of(message: IntegrationMessage) -> datetime | None:
    """The time a device-data message's event says it happened, where its payload has a
    readable one (a FAILED attempt's payload may not)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    text = payload.get("eventTime")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


INTEGRATION_STREAMS: list[tuple[str, Stream]] = [
    ("integration.view_devicedatarecord", record_rows),
    ("integration.view_integrationmessage", message_rows),
]


def streams_for(user) -> list[Stream]:
    """The streams whose rows `user` may view."""
    return [
        stream
        for permission, stream in [*EXECUTION_STREAMS, *INTEGRATION_STREAMS]
        if user.has_perm(permission)
    ]


@dataclass(frozen=True)
class MessageCounts:
    """How many of the unit's messages there are of each status that needs a look."""

    failed: int
    conflict: int
    duplicate: int
    total: int


def message_counts(scope: UnitScope) -> MessageCounts:
    """The unit's messages counted by status, in one query (a unit's messages are few)."""
    counts = messages_of(scope).aggregate(
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        conflict=Count("pk", filter=Q(status=Status.CONFLICT)),
        duplicate=Count("pk", filter=Q(status=Status.DUPLICATE)),
        total=Count("pk"),
    )
    return MessageCounts(**counts)


def history_page(scope: UnitScope, user, cursor: Cursor | None, size: int) -> HistoryPage:
    """One page of the unit's history as `user` may see it."""
    return merge_page(scope, streams_for(user), cursor, size)


def whole_history(unit: Unit, user, page_rows: int):
    """Every row of the unit's history, read a page at a time (flat memory, for the CSV)."""
    scope, cursor = unit_scope(unit), None
    while True:
        page = history_page(scope, user, cursor, page_rows)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
