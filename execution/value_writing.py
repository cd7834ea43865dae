"""Building a pass's values: each resolved item with its spec's limits snapshot, judged,
ready to insert, and the holds its alarms cause. Device events (integration's ingestion
rules) and track-outs (execution/tracking.py) write values with these, so a value is
the same whichever path brought it.
"""

from execution.holds import HoldCause, holds_unit
from execution.judging import judge_value
from execution.models import DataSpec, DataValue
from execution.resolution import VALUE_FIELD_BY_DATA_TYPE, ResolvedItems, ResolvedTrack
from mes.db import new_model


def judge_items(items: ResolvedItems) -> list:
    """Each resolved item's value judged against its spec's limits (docs/ingestion.md)."""
    return [judge_value(spec, value) for spec, value in zip(items.specs, items.values, strict=True)]


def build_values(
    track: ResolvedTrack,
    items: ResolvedItems,
    judgements: list,
    data: list[dict],
    *,
    collected_at,
    source: str,
    source_ref: str,
    meta: dict,
) -> list[DataValue]:
    """The values of one event's items (not saved): on its pass, with the limits they were
    judged against. `data` are the validated items (an item's `collected_at` wins over the
    event's `collected_at`)."""
    values = [
        new_model(
            DataValue,
            spec_id=spec.pk,
            track_id=track.track_id,
            carrier_track_id=track.carrier_track_id,
            station_id=track.station_id,
            run_id=track.run_id,
            collected_at=item.get("collected_at") or collected_at,
            limits=spec.limits,
            judge=judgement.judge,
            alarmed=judgement.alarmed,
            source=source,
            source_ref=source_ref,
            meta=meta,
            sender_limits=item.get("sender_limits"),
            **{VALUE_FIELD_BY_DATA_TYPE[spec.data_type]: value},
        )
        for spec, value, judgement, item in zip(
            items.specs, items.values, judgements, data, strict=True
        )
    ]
    for value, spec in zip(values, items.specs, strict=True):
        DataValue.spec.field.set_cached_value(value, spec)  # the answer names the spec
    return values


def decides_for_its_unit(spec, judgement) -> bool:
    """Whether a value weighs on its unit's state: it puts the unit on hold, or it is a KEY
    value judged FAIL, which turns the pass's PASS into FAIL at its track-out. Such a value
    is written under its unit's lock, so a track-out of the unit at the same moment comes
    before it or sees it (docs/execution.md, "Locks")."""
    return holds_unit(spec, judgement) or (
        judgement.judge == DataValue.Judge.FAIL and spec.item_type == DataSpec.ItemType.KEY
    )


def hold_causes(
    unit_id: int | None, values: list[DataValue], specs: list, judgements: list, event_id: str
) -> list[HoldCause]:
    """The values of one event that put its unit on hold (alarmed, alarm action HOLD)."""
    if unit_id is None:  # a carrier's pass holds no unit
        return []
    return [
        HoldCause(unit_id, value, event_id)
        for value, spec, judgement in zip(values, specs, judgements, strict=True)
        if holds_unit(spec, judgement)
    ]
