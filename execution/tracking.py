"""Track in and track out: a unit through its route, one step at a time (docs/execution.md).

`track_in` opens a unit's pass at a station, `track_out` closes it with a result and the
data collected there (a failed unit's rework or scrap: failure_dispositions.py). Each
checks the rules of docs/execution.md in order and raises `TrackingRefused` with the
first one's code before it writes anything, then writes in the caller's transaction (or
its own). The unit's row is locked first, as ingestion's holds and `close_hold` lock it,
so a unit's track-in, track-out, device events and dispositions take turns.

REST, the CFX consumer and the admin call these through integration's boundary, which
adds exactly-once by eventId and keeps every refusal; nothing here knows about them.
The two calls and the rules' checks they share, in the order docs/execution.md gives; the
SQL they run is in tracking_rows.py.
"""

from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from execution import tracking_rows as rows
from execution.holds import HoldNote, hold_units
from execution.models import (
    DataSpec,
    DataValue,
    Hold,
    PassResult,
    RouteStep,
    Run,
    Source,
    Station,
    Track,
    Unit,
)
from execution.resolution import ResolutionError, ResolvedOperation, ResolvedTrack, resolve_items
from execution.run_completion import complete_run_if_finished
from execution.value_writing import build_values, hold_causes, judge_items
from mes.db import insert_models, new_model

DEFAULT_DEFECT_CODE = "STATION_FAIL"
INSPECTION_DEFECT_CODE = "INSPECTION_FAIL"
# A run takes units in these states only.
OPEN_RUN_STATES = (Run.Status.AUTHORIZED, Run.Status.IN_PROGRESS)
# Why a unit cannot be tracked in, by its state (docs/execution.md, track-in rule 3).
REFUSED_UNIT_STATES = {
    Unit.Status.IN_STATION: "UNIT_ALREADY_IN_STATION",
    Unit.Status.DONE: "UNIT_ALREADY_DONE",
    Unit.Status.ON_HOLD: "UNIT_ON_HOLD",
    Unit.Status.SCRAPPED: "UNIT_SCRAPPED",
    Unit.Status.OUT_FAILED: "UNIT_FAILED",
}
FITTING_STATIONS_NAMED = 20


class TrackingRefused(Exception):
    """A well-formed track-in, track-out or disposition that the rules refuse; nothing
    was written. `code` is the API's error code (docs/execution.md)."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass
class TrackInOutcome:
    track: Track
    unit: Unit
    run: Run
    station: Station


@dataclass
class TrackOutOutcome:
    track: Track
    unit: Unit
    run: Run
    station: Station
    next_step_no: int | None
    values: list[DataValue] = field(default_factory=list)
    hold: HoldNote | None = None


def track_in(
    *,
    station_code: str,
    sn: str,
    run_no: str,
    wo_no: str | None = None,
    operator_id: str = "",
    source: str = Source.MANUAL,
) -> TrackInOutcome:
    """Track unit `sn` of run `run_no` in at station `station_code` (docs/execution.md,
    track-in rules 1–5): an unknown unit is created in the run at the route's first
    step; the unit must be free to start its current step, and the station fit it.

    Raises TrackingRefused (nothing written), or IntegrityError when another call
    created the unit or opened its pass first (take the call again: it is then refused
    by the unit's state).
    """
    now = timezone.now()
    with _in_transaction():
        found = rows.lock_unit(sn, station_code, run_no)
        station = _station(found, station_code)
        run = _open_run(found, run_no, station, wo_no=wo_no)
        unit = found.unit
        if unit is not None:
            joins_run = unit.run_id is None  # registered without a run: it joins this one
            if joins_run:
                unit.run_id = run.pk
            _check_unit_of_run(unit, run)
            refused = REFUSED_UNIT_STATES.get(unit.status)
            if refused is None and found.has_open_pass:
                refused = "UNIT_ALREADY_IN_STATION"  # a pass left open by hand or by old data
            if refused is not None:
                raise TrackingRefused(refused, _unit_state_message(unit))
        step = _fitting_step(run, (unit.current_step_no or None) if unit else None, station)
        run.status = rows.hold_run(run.pk)  # as it is now, and kept so until the commit
        if run.status not in OPEN_RUN_STATES:
            raise TrackingRefused("RUN_NOT_AUTHORIZED", _run_closed_message(run))

        # Every rule holds: the writes.
        if unit is None:
            unit = new_model(
                Unit, sn=sn, run_id=run.pk, status=Unit.Status.QUEUED, current_step_no=step.step_no
            )
            unit.pk = rows.create_unit(sn, run.pk, step.step_no)
        elif joins_run:
            Unit.objects.filter(pk=unit.pk).update(run_id=run.pk)
        if run.status == Run.Status.AUTHORIZED:
            Run.objects.filter(pk=run.pk, status=Run.Status.AUTHORIZED).update(
                status=Run.Status.IN_PROGRESS, started_at=now
            )
            run.status, run.started_at = Run.Status.IN_PROGRESS, now
        track = new_model(
            Track,
            unit_id=unit.pk,
            step_no=step.step_no,
            station_id=station.pk,
            source=source,
            in_at=now,
            operator_id=operator_id or "",
        )
        unit.status, unit.current_step_no = Unit.Status.IN_STATION, step.step_no
        rows.open_track(track, unit)
    return TrackInOutcome(track=track, unit=unit, run=run, station=station)


def track_out(
    *,
    station_code: str,
    sn: str,
    run_no: str,
    result: str,
    event_id: str,
    source_ref: str,
    operator_id: str = "",
    defect_code: str | None = None,
    defect_location: str | None = None,
    data: list[dict] | None = None,
    source: str = Source.MANUAL,
) -> TrackOutOutcome:
    """Track unit `sn` out of its open pass at `station_code` with `result` PASS or FAIL
    (docs/execution.md, track-out rules 1–4).

    `data` are validated device-data items (snake_case, as ingestion's shape gives
    them): resolved, judged and written as values of the pass exactly as a device
    event's, with `source_ref` and the holds their alarms open. A PASS needs a value of
    every required spec of the step; a KEY value judged FAIL on the pass turns it into
    FAIL. PASS queues the unit at the next step (DONE after the last), FAIL leaves it
    OUT_FAILED until a disposition; a held unit stays ON_HOLD.

    Raises TrackingRefused (nothing written).
    """
    data = data or []
    now = timezone.now()
    with _in_transaction():
        found = rows.lock_unit(sn, station_code, run_no)
        station = _station(found, station_code)
        run = _open_run(found, run_no, station)
        unit = found.unit
        if unit is None:
            raise TrackingRefused("UNIT_NOT_FOUND", f"Unit not found: {sn}")
        _check_unit_of_run(unit, run)
        opened = rows.open_pass(unit.pk, run.route_version_id)
        track = _open_track_at(unit, station, opened)
        step = opened.step

        where = ResolvedTrack(
            track_id=track.pk,
            route_version_id=run.route_version_id,
            run_no=run.run_no,
            unit_sn=unit.sn,
            station_code=station.code,
            step_no=track.step_no,
            station_id=station.pk,
            run_id=run.pk,
            unit_id=unit.pk,
            unit_status=unit.status,
        )
        # The pass's operation and bound specs (none known if its step left the route).
        operation = step.operation_resolved() if step else ResolvedOperation(operation=None)
        items = None
        if data:
            (items,) = resolve_items([(data, operation, source)])
            if isinstance(items, ResolutionError):
                raise TrackingRefused(items.code, items.message, {"items": items.items})
        judgements = judge_items(items) if items else []
        if result == PassResult.PASS:
            _check_required_data(track, step, items, opened)

        # Every rule holds: the writes.
        values = []
        if items:
            values = build_values(
                where,
                items,
                judgements,
                data,
                collected_at=now,
                source=source,
                source_ref=source_ref,
                meta={"eventId": event_id, "operatorId": operator_id or None},
            )
            insert_models(values)

        track.inspection_override = result == PassResult.PASS and (
            opened.key_value_failed or _key_value_failed(values)
        )
        final = PassResult.FAIL if track.inspection_override else result
        track.out_at, track.result = now, final
        if final == PassResult.FAIL:
            track.defect_code = defect_code or (
                INSPECTION_DEFECT_CODE if track.inspection_override else DEFAULT_DEFECT_CODE
            )
            track.defect_location = defect_location or ""

        next_step_no = None
        if final == PassResult.FAIL:
            after = Unit.Status.OUT_FAILED
        else:
            next_step_no = step.next_step_no if step else _next_step_no(run, track.step_no)
            after = Unit.Status.QUEUED if next_step_no is not None else Unit.Status.DONE
        held_before = unit.status == Unit.Status.ON_HOLD
        unit.current_step_no = next_step_no or track.step_no
        unit.status = Unit.Status.ON_HOLD if held_before else after
        rows.close_track(track, unit)
        if held_before:
            # The release of the hold sends the unit where this track-out did.
            Hold.objects.filter(unit=unit, closed_at=None).update(unit_status_before=after)

        specs = items.specs if items else []
        holds = hold_units(hold_causes(unit.pk, values, specs, judgements, event_id), now)
        hold = holds.get(unit.pk) or opened.open_hold
        if hold is not None:
            unit.status = Unit.Status.ON_HOLD
        elif after == Unit.Status.DONE:
            complete_run(run, now)
    note = None
    if hold is not None:
        note = HoldNote(hold.pk, hold.opened_at, unit.pk in holds)
    return TrackOutOutcome(
        track=track,
        unit=unit,
        run=run,
        station=station,
        next_step_no=next_step_no,
        values=values,
        hold=note,
    )


# The rules' checks, in order.


def _in_transaction():
    """The caller's transaction, else one of its own. No savepoint in the caller's: every
    refusal is raised before the first write, so there is nothing to roll back to, and a
    savepoint costs two round trips a call (execution/tracking_rows.py)."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


def _station(found: rows.CallRows, station_code: str) -> Station:
    if found.station is None:
        raise TrackingRefused("STATION_NOT_FOUND", f"Station not found: {station_code}")
    return found.station


def _open_run(
    found: rows.CallRows, run_no: str, station: Station, *, wo_no: str | None = None
) -> Run:
    run = found.run
    if run is None:
        raise TrackingRefused("RUN_NOT_FOUND", f"Run not found: {run_no}")
    if run.route_version_id is None:
        raise TrackingRefused(
            "ROUTE_VERSION_NOT_READY", f"Run {run_no} has no route version: set one first"
        )
    if run.status not in OPEN_RUN_STATES:
        raise TrackingRefused("RUN_NOT_AUTHORIZED", _run_closed_message(run))
    if wo_no and run.wo_no and wo_no != run.wo_no:
        raise TrackingRefused(
            "RUN_WORK_ORDER_MISMATCH",
            f"Run {run_no} belongs to work order {run.wo_no}, not {wo_no}",
        )
    if run.line_code and station.line_code and run.line_code != station.line_code:
        raise TrackingRefused(
            "STATION_LINE_MISMATCH",
            f"Run {run_no} runs on line {run.line_code}; station {station.code} is on line "
            f"{station.line_code}",
        )
    return run


def _run_closed_message(run: Run) -> str:
    return (
        f"Run {run.run_no} is {run.get_status_display().lower()}: "
        "units are tracked only in an authorized or running run"
    )


def locked_unit(sn: str) -> Unit | None:
    # FOR NO KEY UPDATE, as holds take it: a new pass's foreign key check goes through.
    return Unit.objects.select_for_update(no_key=True).filter(sn=sn).first()


def _check_unit_of_run(unit: Unit, run: Run) -> None:
    if unit.run_id != run.pk:
        other = Run.objects.filter(pk=unit.run_id).values_list("run_no", flat=True).first()
        raise TrackingRefused(
            "UNIT_RUN_MISMATCH",
            f"Unit {unit.sn} belongs to run {other or '(none)'}, not {run.run_no}",
        )


def _unit_state_message(unit: Unit) -> str:
    if unit.status in (Unit.Status.IN_STATION, Unit.Status.QUEUED, Unit.Status.REWORK):
        track = unit.tracks.filter(out_at=None).select_related("station").first()
        where = f" at {track.station} (step {track.step_no})" if track else ""
        return f"Unit {unit.sn} is already in station{where}: track it out first"
    if unit.status == Unit.Status.OUT_FAILED:
        return (
            f"Unit {unit.sn} failed step {unit.current_step_no}: it goes on only after a "
            "disposition (rework or scrap) in the back office"
        )
    if unit.status == Unit.Status.ON_HOLD:
        return f"Unit {unit.sn} is on hold: it goes on only after the hold is closed"
    return f"Unit {unit.sn} is {unit.get_status_display().lower()}"


def route_step_numbers(run: Run) -> list[int]:
    return list(
        RouteStep.objects.filter(route_version_id=run.route_version_id)
        .order_by("step_no")
        .values_list("step_no", flat=True)
    )


def _next_step_no(run: Run, step_no: int) -> int | None:
    """The step after `step_no` in the run's route (for a pass whose step left the route)."""
    return (
        RouteStep.objects.filter(route_version_id=run.route_version_id, step_no__gt=step_no)
        .order_by("step_no")
        .values_list("step_no", flat=True)
        .first()
    )


def _fitting_step(run: Run, step_no: int | None, station: Station) -> rows.StepRows:
    """The step the unit starts (its current one, else the route's first), if the station
    can do it."""
    step = rows.route_step(run.route_version_id, step_no)
    if step is None and step_no is None:
        raise TrackingRefused(
            "ROUTE_VERSION_NOT_READY", f"Run {run.run_no}'s route has no steps: add them first"
        )
    if step is None:
        raise TrackingRefused(
            "STATION_MISMATCH", f"Step {step_no} is not a step of run {run.run_no}'s route"
        )
    type_fits = not step.station_type or step.station_type == station.station_type
    listed = not step.allowed_station_ids or station.pk in step.allowed_station_ids
    if type_fits and listed:
        return step
    fitting = (
        Station.objects.filter(pk__in=step.allowed_station_ids)
        if step.allowed_station_ids
        else Station.objects.filter(station_type=step.station_type)
    )
    # Named only if they would be taken: of the step's type, and on the run's line (a
    # station of another line is refused with STATION_LINE_MISMATCH).
    codes = [
        other.code
        for other in fitting.order_by("code")
        if (not step.station_type or other.station_type == step.station_type)
        and (not run.line_code or not other.line_code or other.line_code == run.line_code)
    ][:FITTING_STATIONS_NAMED]
    raise TrackingRefused(
        "STATION_MISMATCH",
        f"Station {station.code} cannot do step {step.step_no} ({step.operation[1]}); "
        f"stations that can: {', '.join(codes) or 'none'}",
        {"stepNo": step.step_no, "stations": codes},
    )


def _open_track_at(unit: Unit, station: Station, opened: rows.OpenPass | None) -> Track:
    if opened is not None and opened.track.station_id == station.pk:
        return opened.track
    where = (
        f"it is in station at {opened.station_code} (step {opened.track.step_no})"
        if opened is not None
        else "it is in station nowhere"
    )
    raise TrackingRefused(
        "TRACK_NOT_FOUND", f"Unit {unit.sn} has no open pass at station {station.code}: {where}"
    )


def _check_required_data(track: Track, step, items, opened: rows.OpenPass) -> None:
    if step is None or not step.required_spec_ids:
        return
    have = {spec.pk for spec in items.specs} if items else set()
    missing = step.required_spec_ids - have - opened.spec_ids_with_values
    if missing:
        names = sorted(DataSpec.objects.filter(pk__in=missing).values_list("name", flat=True))
        raise TrackingRefused(
            "REQUIRED_DATA_MISSING",
            f"A PASS needs a value of every required spec of step {track.step_no}; "
            f"missing: {', '.join(names)}",
            {"specs": names},
        )


def _key_value_failed(new_values: list[DataValue]) -> bool:
    """Whether a KEY spec's value sent with this track-out was judged FAIL (the pass's
    earlier values: OpenPass.key_value_failed)."""
    return any(
        value.judge == DataValue.Judge.FAIL and value.spec.item_type == DataSpec.ItemType.KEY
        for value in new_values
    )


def complete_run(run: Run, now) -> None:
    if complete_run_if_finished(run.pk, now):
        run.status, run.completed_at = Run.Status.COMPLETED, now
