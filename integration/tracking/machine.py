"""Tracking by a station's own machine (docs/cfx.md, "Tracking by the machine"): the
calls of a machine's WorkStarted and WorkCompleted, and what they need to know of the
MES. A machine names units, never runs (`service.receive_for_unit` takes the unit's
own); its sender must hold `execution.track_units`, as a REST caller must; and a
WorkCompleted names its transaction, whose units are found by the track-ins its
WorkStarted made at that station.

The transaction is kept where the track-in's message keeps its payload
(`meta.cfx.transactionId`, with the unit's place in the WorkStarted): the open passes
at a station are few (an index holds them), so a WorkCompleted reads a handful of rows.
"""

from dataclasses import dataclass

from execution.models import Track
from execution.tracking import TrackingRefused
from integration.models import IntegrationMessage, TrackingRecord, tracking_key_for
from integration.tracking.service import TrackingOutcome, keep_refused_call, receive_for_unit
from mes.api.permissions import has_permission

TRACK_PERMISSION = "execution.track_units"
TRACK_IN = TrackingRecord.Kind.TRACK_IN
TRACK_OUT = TrackingRecord.Kind.TRACK_OUT


@dataclass(frozen=True)
class StartedUnit:
    """A unit whose pass at the station its machine's WorkStarted opened, still open."""

    sn: str
    position: int  # its place in the WorkStarted's Units, from 1


def may_track(user) -> bool:
    """Whether `user` (a gateway, a person) may track units in and out."""
    return has_permission(user, TRACK_PERMISSION)


def receive_machine_call(
    kind: str, payload: dict, *, station_code: str, sent_by, source: str
) -> TrackingOutcome:
    """A machine's track-in or track-out (`kind`) of the unit `payload["sn"]` at
    `station_code`, in its unit's own run (`service.receive_for_unit`). A sender without
    `execution.track_units` is refused PERMISSION_DENIED, kept as a FAILED message that
    an integration admin may replay once the sender is allowed (or as it is).

    Raises as `service.receive_track_in`."""
    if not may_track(sent_by):
        refusal = TrackingRefused(
            "PERMISSION_DENIED",
            f"{sent_by} may not track units in and out (it lacks {TRACK_PERMISSION}): "
            f"`manage.py allow_tracking {sent_by}`, then replay this message",
        )
        raise keep_refused_call(
            kind, payload, refusal, station_code=station_code, sent_by=sent_by, source=source
        )
    return receive_for_unit(
        kind, payload, station_code=station_code, sent_by=sent_by, source=source
    )


def units_started_in_transaction(station_code: str, transaction_id: str) -> list[StartedUnit]:
    """The units whose open pass at `station_code` was opened by a machine's WorkStarted of
    `transaction_id`, in their WorkStarted's order. A pass opened otherwise (over REST,
    by another transaction) is not one of them; no transaction, no units."""
    if not transaction_id:
        return []
    open_tracks = Track.objects.filter(station__code=station_code, out_at=None).values_list(
        "pk", flat=True
    )
    event_ids = TrackingRecord.objects.filter(
        kind=TRACK_IN, track_id__in=list(open_tracks)
    ).values_list("event_id", flat=True)
    keys = [tracking_key_for(TRACK_IN, event_id) for event_id in event_ids]
    if not keys:
        return []
    started = {}
    for payload in IntegrationMessage.objects.filter(
        business_key__in=keys,
        entity_type=TRACK_IN,
        status=IntegrationMessage.Status.SUCCESS,
    ).values_list("payload", flat=True):
        meta = payload.get("meta")
        cfx = meta.get("cfx") if isinstance(meta, dict) else None
        cfx = cfx if isinstance(cfx, dict) else {}
        position = cfx.get("position")
        if cfx.get("transactionId") == transaction_id and isinstance(position, int):
            started[payload["sn"]] = StartedUnit(payload["sn"], position)
    return sorted(started.values(), key=lambda unit: unit.position)
