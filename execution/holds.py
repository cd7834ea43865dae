"""Holds: a unit stopped by an alarmed value, and the disposition that frees it
(docs/holds.md).

Ingestion calls `hold_units` in the transaction that writes the values, so a value
and its hold are written together or not at all. People close a hold with
`close_hold`. Both lock the unit's row first, so an event adding to a hold and a
person closing it take turns: a value written after the close opens a new hold.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from execution.models import DataValue, Hold, HoldValue, PassResult, Track, Unit
from execution.reason_codes import reason_named
from execution.run_completion import FINISHED, complete_run_if_finished
from mes.database_errors import bounded_transaction

HOLD_ACTION = "HOLD"
# The first line of a hold's history: no person opened it.
OPENED = "Opened by the HOLD alarm of its spec"

# The unit's status after each disposition; a release restores the status it had.
STATUS_AFTER = {
    Hold.Disposition.REWORK: Unit.Status.REWORK,
    Hold.Disposition.SCRAP: Unit.Status.SCRAPPED,
}


@dataclass(frozen=True)
class HoldCause:
    """An alarmed value whose spec's alarm action is HOLD, on a unit's pass."""

    unit_id: int
    value: DataValue
    event_id: str


@dataclass(frozen=True)
class HoldNote:
    """What an event's answer says of its unit's hold."""

    hold_id: int
    opened_at: object
    caused_by_event: bool  # this event's values opened the hold or were added to it


class HoldNotOpen(Exception):
    """The hold was closed already (by someone else, a moment ago)."""


def holds_unit(spec, judgement) -> bool:
    """Whether a value judged so puts its unit on hold: alarmed, and its spec's alarm
    action is HOLD."""
    return judgement.alarmed and (spec.alarm or {}).get("action") == HOLD_ACTION


def hold_units(causes: list[HoldCause], now) -> dict[int, Hold]:
    """Put each cause's unit on hold, in the caller's transaction: a unit without an open
    hold gets one, named after its first cause; every cause is added to its unit's hold.

    Returns the open hold of each unit. Units are locked in id order, so concurrent
    writers wait for each other instead of deadlocking.
    """
    if not causes:
        return {}
    units = lock_units({cause.unit_id for cause in causes})
    # A scrapped unit is not held again: its value is kept, judged and marked alarmed.
    causes = [cause for cause in causes if units[cause.unit_id].status != Unit.Status.SCRAPPED]
    if not causes:
        return {}
    unit_ids = sorted({cause.unit_id for cause in causes})
    holds = open_holds_of(unit_ids)
    new = {}
    for cause in causes:
        if cause.unit_id in holds or cause.unit_id in new:
            continue
        value = cause.value
        new[cause.unit_id] = Hold(
            unit_id=cause.unit_id,
            spec_id=value.spec_id,
            first_value_id=value.pk,
            limits=value.limits,
            event_id=cause.event_id,
            opened_at=now,
            unit_status_before=units[cause.unit_id].status,
        )
    # With their first history row ("opened"); holds are few, so the extra insert is too.
    if new:
        bulk_create_with_history(
            list(new.values()), Hold, default_change_reason=OPENED, default_date=now
        )
    holds.update(new)
    HoldValue.objects.bulk_create(
        HoldValue(
            hold=holds[cause.unit_id], value=cause.value, event_id=cause.event_id, added_at=now
        )
        for cause in causes
    )
    Unit.objects.filter(pk__in=unit_ids).exclude(status=Unit.Status.ON_HOLD).update(
        status=Unit.Status.ON_HOLD
    )
    return holds


def lock_units(unit_ids) -> dict[int, Unit]:
    """Lock these units' rows in id order (the one order of locks: concurrent writers wait
    for each other instead of deadlocking) until the caller's transaction ends.

    FOR NO KEY UPDATE, as track-in and track-out take it: enough to take turns on a unit's
    status, its holds and its passes' results, and it lets foreign-key checks (a new pass
    or value of the unit) through.
    """
    if not unit_ids:
        return {}
    return {
        unit.pk: unit
        for unit in Unit.objects.select_for_update(no_key=True)
        .filter(pk__in=unit_ids)
        .order_by("pk")
    }


def open_holds_of(unit_ids) -> dict[int, Hold]:
    """The open hold of each of these units that has one."""
    if not unit_ids:
        return {}
    return {
        hold.unit_id: hold for hold in Hold.objects.filter(unit_id__in=unit_ids, closed_at=None)
    }


def holds_of_values(value_ids) -> dict[int, Hold]:
    """The hold each of these values was added to (a duplicate's answer names its
    original's hold)."""
    if not value_ids:
        return {}
    return {
        link.value_id: link.hold
        for link in HoldValue.objects.filter(value_id__in=value_ids).select_related("hold")
    }


def holds_of_units(unit_sns) -> dict[str, list[Hold]]:
    """Every hold of these units, by serial number, oldest first."""
    holds: dict[str, list[Hold]] = {}
    if unit_sns:
        for hold in (
            Hold.objects.filter(unit__sn__in=unit_sns)
            .select_related("unit")
            .order_by("opened_at", "pk")
        ):
            holds.setdefault(hold.unit.sn, []).append(hold)
    return holds


def hold_open_at(holds: list[Hold], moment) -> Hold | None:
    """The hold of these (one unit's) that was open at that moment, if one was."""
    for hold in reversed(holds):
        if hold.opened_at <= moment and (hold.closed_at is None or hold.closed_at > moment):
            return hold
    return None


def close_hold(
    hold_id: int, *, disposition: str, note: str, closed_by, reason: str | None = None
) -> Hold:
    """Close an open hold with a disposition and a note, and set its unit's status: a
    release restores the status the unit had before the hold (QUEUED if it was already
    on hold then), rework sets REWORK, scrap SCRAPPED. Who and when are kept.

    `reason` is a reason code of the plant's list (execution/reason_codes.py), needed
    once the list has an active code. The change is kept in the hold's history.

    Callers check the `execution.release_hold` permission. Raises HoldNotOpen if the
    hold is closed already, ValueError for an unknown disposition, an empty note or a
    missing or unknown reason code, and DatabaseError if the unit stays locked past the
    lock timeout.
    """
    if disposition not in Hold.Disposition.values:
        raise ValueError(f"Unknown disposition {disposition!r}.")
    if not note or not note.strip():
        raise ValueError("Say why in the note.")
    reason_code = reason_named(reason)
    with bounded_transaction(
        lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
        statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
    ):
        unit_id = Hold.objects.values_list("unit_id", flat=True).get(pk=hold_id)
        unit = Unit.objects.select_for_update(no_key=True).get(pk=unit_id)
        hold = Hold.objects.select_for_update(no_key=True).get(pk=hold_id)
        if not hold.is_open:
            raise HoldNotOpen(f"Hold {hold.pk} was closed at {hold.closed_at:%Y-%m-%d %H:%M:%S}.")
        hold.closed_at = timezone.now()
        hold.closed_by = closed_by
        hold.disposition = disposition
        hold.note = note.strip()
        hold.reason = reason_code
        hold._history_user = closed_by  # the History page's "changed by"
        hold.save(update_fields=["closed_at", "closed_by", "disposition", "note", "reason"])
        if disposition == Hold.Disposition.RELEASE:
            before = hold.unit_status_before
            unit.status = Unit.Status.QUEUED if before == Unit.Status.ON_HOLD else before
        else:
            unit.status = STATUS_AFTER[disposition]
            # Sent to rework or scrapped in station: its pass there ends, failed.
            Track.objects.filter(unit=unit, out_at=None).update(
                out_at=hold.closed_at,
                result=PassResult.FAIL,
                defect_code=f"HOLD_{disposition}",
            )
        unit.save(update_fields=["status"])
        # A hold opened by a unit's last pass kept its run open; released DONE or
        # scrapped, the unit may have been the last one.
        if unit.status in FINISHED:
            complete_run_if_finished(unit.run_id, hold.closed_at)
    return hold
