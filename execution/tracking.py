"""Track in and track out: a unit through its route, one step at a time (docs/execution.md).

`track_in` opens a unit's pass at a station, `track_out` closes it with a result and the
data collected there, `dispose_failed_unit` sends a failed unit to rework or scrap. Each
checks the rules of docs/execution.md in order and raises `TrackingRefused` with the
first one's code before it writes anything, then writes in the caller's transaction (or
its own). The unit's row is locked first, as ingestion's holds and `close_hold` lock it,
so a unit's track-in, track-out, device events and dispositions take turns.

REST, the CFX consumer and the admin call these through integration's boundary, which
adds exactly-once by eventId and keeps every refusal; nothing here knows about them.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from execution.holds import HoldNote, hold_units, open_holds_of
from execution.models import (
    DataSpec,
    DataValue,
    FailureDisposition,
    Hold,
    PassResult,
    RouteStep,
    Run,
    Source,
    Station,
    Track,
    Unit,
)
from execution.resolution import ResolutionError, ResolvedTrack, resolve_items, resolve_operations
from execution.run_completion import complete_run_if_finished
from execution.value_writing import build_values, hold_causes, judge_items
from mes.db import insert_models

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
    with transaction.atomic():
        station = _station(station_code)
        run = _open_run(run_no, station, wo_no=wo_no)
        unit = _locked_unit(sn)
        if unit is None:
            first = _first_step_no(run)
            unit = Unit(sn=sn, run=run, status=Unit.Status.QUEUED, current_step_no=first)
            unit.save(force_insert=True)
        else:
            if unit.run_id is None:  # registered without a run: it joins this one
                unit.run = run
                unit.save(update_fields=["run"])
            _check_unit_of_run(unit, run)
            refused = REFUSED_UNIT_STATES.get(unit.status)
            if refused is None and _has_open_track(unit):
                refused = "UNIT_ALREADY_IN_STATION"  # e.g. sent to rework while in station
            if refused is not None:
                raise TrackingRefused(refused, _unit_state_message(unit))
        step_no = unit.current_step_no or _first_step_no(run)
        _check_station_fits(run, step_no, station)

        if run.status == Run.Status.AUTHORIZED:
            Run.objects.filter(pk=run.pk, status=Run.Status.AUTHORIZED).update(
                status=Run.Status.IN_PROGRESS, started_at=now
            )
            run.status, run.started_at = Run.Status.IN_PROGRESS, now
        track = Track(
            unit=unit,
            step_no=step_no,
            station=station,
            source=source,
            in_at=now,
            operator_id=operator_id or "",
        )
        track.save(force_insert=True)
        unit.status, unit.current_step_no = Unit.Status.IN_STATION, step_no
        unit.save(update_fields=["status", "current_step_no"])
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
    with transaction.atomic():
        station = _station(station_code)
        run = _open_run(run_no, station)
        unit = _locked_unit(sn)
        if unit is None:
            raise TrackingRefused("UNIT_NOT_FOUND", f"Unit not found: {sn}")
        _check_unit_of_run(unit, run)
        track = _open_track_at(unit, station)

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
        (operation,) = resolve_operations([where], [None])
        items = None
        if data:
            (items,) = resolve_items([(data, operation, source)])
            if isinstance(items, ResolutionError):
                raise TrackingRefused(items.code, items.message, {"items": items.items})
        judgements = judge_items(items) if items else []
        if result == PassResult.PASS:
            _check_required_data(track, operation, items)

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

        track.inspection_override = result == PassResult.PASS and _key_value_failed(track, values)
        final = PassResult.FAIL if track.inspection_override else result
        track.out_at, track.result = now, final
        if final == PassResult.FAIL:
            track.defect_code = defect_code or (
                INSPECTION_DEFECT_CODE if track.inspection_override else DEFAULT_DEFECT_CODE
            )
            track.defect_location = defect_location or ""
        track.save(
            update_fields=[
                "out_at",
                "result",
                "defect_code",
                "defect_location",
                "inspection_override",
            ]
        )

        next_step_no = None
        if final == PassResult.FAIL:
            after = Unit.Status.OUT_FAILED
        else:
            next_step_no = _next_step_no(run, track.step_no)
            after = Unit.Status.QUEUED if next_step_no is not None else Unit.Status.DONE
        held_before = unit.status == Unit.Status.ON_HOLD
        unit.current_step_no = next_step_no or track.step_no
        unit.status = Unit.Status.ON_HOLD if held_before else after
        unit.save(update_fields=["status", "current_step_no"])
        if held_before:
            # The release of the hold sends the unit where this track-out did.
            Hold.objects.filter(unit=unit, closed_at=None).update(unit_status_before=after)

        specs = items.specs if items else []
        holds = hold_units(hold_causes(unit.pk, values, specs, judgements, event_id), now)
        hold = holds.get(unit.pk)
        if hold is None and held_before:
            hold = open_holds_of([unit.pk]).get(unit.pk)
        if hold is not None:
            unit.status = Unit.Status.ON_HOLD
        elif after == Unit.Status.DONE and complete_run_if_finished(run.pk, now):
            run.status, run.completed_at = Run.Status.COMPLETED, now
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


def dispose_failed_unit(
    sn: str, *, disposition: str, note: str, decided_by, rework_step_no: int | None = None
) -> FailureDisposition:
    """Decide what becomes of a unit that failed a step (OUT_FAILED): REWORK queues it at
    `rework_step_no`, a step of its run's route, where its next track-in starts; SCRAP
    scraps it (and completes its run if no other unit is left). Who, when and why are
    kept with the failed pass.

    Callers check the `execution.dispose_failed_unit` permission. Raises
    TrackingRefused (UNIT_NOT_FOUND, UNIT_NOT_FAILED, STEP_NOT_IN_ROUTE) or ValueError
    for an unknown disposition or an empty note.
    """
    if disposition not in FailureDisposition.Disposition.values:
        raise ValueError(f"Unknown disposition {disposition!r}.")
    if not note or not note.strip():
        raise ValueError("Say why in the note.")
    now = timezone.now()
    with transaction.atomic():
        unit = _locked_unit(sn)
        if unit is None:
            raise TrackingRefused("UNIT_NOT_FOUND", f"Unit not found: {sn}")
        if unit.status != Unit.Status.OUT_FAILED:
            raise TrackingRefused(
                "UNIT_NOT_FAILED",
                f"Unit {sn} is {unit.get_status_display().lower()}, not failed: "
                "only a failed unit takes a disposition",
            )
        failed = unit.tracks.filter(result=PassResult.FAIL).order_by("-in_at", "-pk").first()
        run = unit.run
        if disposition == FailureDisposition.Disposition.REWORK:
            steps = _route_step_numbers(run)
            if rework_step_no not in steps:
                raise TrackingRefused(
                    "STEP_NOT_IN_ROUTE",
                    f"Step {rework_step_no} is not a step of run {run}'s route "
                    f"(its steps: {', '.join(map(str, steps)) or 'none'})",
                )
            unit.status, unit.current_step_no = Unit.Status.REWORK, rework_step_no
        else:
            rework_step_no = None
            unit.status = Unit.Status.SCRAPPED
        unit.save(update_fields=["status", "current_step_no"])
        decision = FailureDisposition.objects.create(
            unit=unit,
            track=failed,
            disposition=disposition,
            rework_step_no=rework_step_no,
            note=note.strip(),
            decided_by=decided_by,
            decided_at=now,
        )
        if unit.status == Unit.Status.SCRAPPED:
            complete_run_if_finished(unit.run_id, now)
    return decision


# The rules' checks, in order.


def _station(station_code: str) -> Station:
    station = Station.objects.filter(code=station_code).first()
    if station is None:
        raise TrackingRefused("STATION_NOT_FOUND", f"Station not found: {station_code}")
    return station


def _open_run(run_no: str, station: Station, *, wo_no: str | None = None) -> Run:
    run = Run.objects.filter(run_no=run_no).first()
    if run is None:
        raise TrackingRefused("RUN_NOT_FOUND", f"Run not found: {run_no}")
    if run.route_version_id is None:
        raise TrackingRefused(
            "ROUTE_VERSION_NOT_READY", f"Run {run_no} has no route version: set one first"
        )
    if run.status not in OPEN_RUN_STATES:
        raise TrackingRefused(
            "RUN_NOT_AUTHORIZED",
            f"Run {run_no} is {run.get_status_display().lower()}: "
            "units are tracked only in an authorized or running run",
        )
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


def _locked_unit(sn: str) -> Unit | None:
    # FOR NO KEY UPDATE, as holds take it: a new pass's foreign key check goes through.
    return Unit.objects.select_for_update(no_key=True).filter(sn=sn).first()


def _check_unit_of_run(unit: Unit, run: Run) -> None:
    if unit.run_id != run.pk:
        other = Run.objects.filter(pk=unit.run_id).values_list("run_no", flat=True).first()
        raise TrackingRefused(
            "UNIT_RUN_MISMATCH",
            f"Unit {unit.sn} belongs to run {other or '(none)'}, not {run.run_no}",
        )


def _has_open_track(unit: Unit) -> bool:
    return Track.objects.filter(unit=unit, out_at=None).exists()


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


def _route_step_numbers(run: Run) -> list[int]:
    return list(
        RouteStep.objects.filter(route_version_id=run.route_version_id)
        .order_by("step_no")
        .values_list("step_no", flat=True)
    )


def _first_step_no(run: Run) -> int:
    steps = _route_step_numbers(run)
    if not steps:
        raise TrackingRefused(
            "ROUTE_VERSION_NOT_READY", f"Run {run.run_no}'s route has no steps: add them first"
        )
    return steps[0]


def _next_step_no(run: Run, step_no: int) -> int | None:
    return (
        RouteStep.objects.filter(route_version_id=run.route_version_id, step_no__gt=step_no)
        .order_by("step_no")
        .values_list("step_no", flat=True)
        .first()
    )


def _check_station_fits(run: Run, step_no: int, station: Station) -> None:
    step = (
        RouteStep.objects.filter(route_version_id=run.route_version_id, step_no=step_no)
        .select_related("operation")
        .prefetch_related("allowed_stations")
        .first()
    )
    if step is None:
        raise TrackingRefused(
            "STATION_MISMATCH", f"Step {step_no} is not a step of run {run.run_no}'s route"
        )
    allowed = list(step.allowed_stations.all())
    type_fits = not step.station_type or step.station_type == station.station_type
    listed = not allowed or any(other.pk == station.pk for other in allowed)
    if type_fits and listed:
        return
    # Named only if they would be taken: of the step's type, and on the run's line (a
    # station of another line is refused with STATION_LINE_MISMATCH).
    fitting = allowed or Station.objects.filter(station_type=step.station_type)
    codes = [
        other.code
        for other in fitting
        if (not step.station_type or other.station_type == step.station_type)
        and (not run.line_code or not other.line_code or other.line_code == run.line_code)
    ][:FITTING_STATIONS_NAMED]
    raise TrackingRefused(
        "STATION_MISMATCH",
        f"Station {station.code} cannot do step {step_no} ({step.operation.code}); "
        f"stations that can: {', '.join(codes) or 'none'}",
        {"stepNo": step_no, "stations": codes},
    )


def _open_track_at(unit: Unit, station: Station) -> Track:
    track = unit.tracks.filter(out_at=None).select_related("station").first()
    if track is not None and track.station_id == station.pk:
        return track
    where = (
        f"it is in station at {track.station} (step {track.step_no})"
        if track is not None
        else "it is in station nowhere"
    )
    raise TrackingRefused(
        "TRACK_NOT_FOUND", f"Unit {unit.sn} has no open pass at station {station.code}: {where}"
    )


def _check_required_data(track: Track, operation, items) -> None:
    bound = operation.bound_spec_ids if not isinstance(operation, ResolutionError) else ()
    if not bound:
        return
    required = dict(
        DataSpec.objects.filter(pk__in=bound, is_required=True, is_active=True).values_list(
            "pk", "name"
        )
    )
    if not required:
        return
    have = {spec.pk for spec in items.specs} if items else set()
    have |= set(
        DataValue.objects.filter(track=track, spec_id__in=required).values_list(
            "spec_id", flat=True
        )
    )
    missing = sorted(name for pk, name in required.items() if pk not in have)
    if missing:
        raise TrackingRefused(
            "REQUIRED_DATA_MISSING",
            f"A PASS needs a value of every required spec of step {track.step_no}; "
            f"missing: {', '.join(missing)}",
            {"specs": missing},
        )


def _key_value_failed(track: Track, new_values: list[DataValue]) -> bool:
    """Whether a KEY spec's value on the pass (sent by a device, or with this track-out)
    was judged FAIL."""
    if any(
        value.judge == DataValue.Judge.FAIL and value.spec.item_type == DataSpec.ItemType.KEY
        for value in new_values
    ):
        return True
    return DataValue.objects.filter(
        track=track, judge=DataValue.Judge.FAIL, spec__item_type=DataSpec.ItemType.KEY
    ).exists()
