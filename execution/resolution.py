"""Resolving events' production context: track, operation and specs (docs/ingestion.md, rules 3–6).

Every function works on a list of events at once, so a batch of 500 costs the
same few queries as a single event; a single event is a list of one. They read
and never write. A miss is returned as a `ResolutionError` in that event's
place, carrying the API's error code, so the caller keeps the refused event
and answers 422 without knowing the rules.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from execution.models import DataSpec, Operation, Run, Station, Unit
from mes.db import fetch_all, load_model, model_width, one_of, select_list

VALUE_FIELD_BY_DATA_TYPE = {
    DataSpec.DataType.NUMBER: "value_number",
    DataSpec.DataType.TEXT: "value_text",
    DataSpec.DataType.BOOLEAN: "value_boolean",
    DataSpec.DataType.JSON: "value_json",
}


@dataclass(frozen=True)
class ItemProblem:
    """Why one data item of an event cannot be written."""

    index: int
    code: str
    message: str


class ResolutionError(Exception):
    """A well-formed event that cannot be written yet (an HTTP 422)."""

    def __init__(self, code: str, message: str, items: list[ItemProblem] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.items = items or []


@dataclass(frozen=True)
class TrackLookup:
    """How an event names where it happened: a track, a carrier track, or codes."""

    track_id: int | None = None
    carrier_track_id: int | None = None
    run_no: str | None = None
    unit_sn: str | None = None
    station_code: str | None = None
    step_no: int | None = None

    @property
    def codes(self) -> tuple:
        return (self.run_no, self.unit_sn, self.station_code, self.step_no)


@dataclass
class ResolvedTrack:
    """Where the event happened: a unit's Track or a CarrierTrack, and its context."""

    track_id: int | None = None
    carrier_track_id: int | None = None
    route_version_id: int | None = None  # the run's route, whose step gives the operation
    run_no: str = ""
    unit_sn: str = ""
    station_code: str = ""
    step_no: int | None = None
    station_id: int | None = None  # the pass's station, stored with each value
    run_id: int | None = None  # the unit's run, stored with each value
    unit_id: int | None = None  # None for a carrier's pass: a carrier holds no unit
    unit_status: str = ""  # as read before the write: the answer says a unit is on hold


@dataclass
class ResolvedOperation:
    """The operation whose specs an event's items name, and the route step's bound specs."""

    operation: Operation | None
    step_no: int | None = None
    bound_spec_ids: frozenset = frozenset()  # empty: the step binds nothing


@dataclass
class ResolvedItems:
    """Each item's spec and the value in its spec's data type, in item order."""

    specs: list[DataSpec] = field(default_factory=list)
    values: list = field(default_factory=list)
    operation: Operation | None = None


class _TrackRow(NamedTuple):
    track_id: int
    step_no: int
    unit_sn: str
    run_no: str | None
    route_version_id: int | None
    station_code: str | None
    station_id: int | None
    run_id: int | None
    unit_id: int
    unit_status: str


class _CarrierTrackRow(NamedTuple):
    carrier_track_id: int
    step_no: int
    station_code: str | None
    station_id: int | None


# A track with what stands for the event: its unit, the unit's run (and route), its station.
TRACK_SELECT = """
    SELECT t.id, t.step_no, u.sn, r.run_no, r.route_version_id, s.code, t.station_id, u.run_id,
           t.unit_id, u.status
    FROM execution_track t
    JOIN execution_unit u ON u.id = t.unit_id
    LEFT JOIN execution_run r ON r.id = u.run_id
    LEFT JOIN execution_station s ON s.id = t.station_id
"""


def resolve_tracks(lookups: list[TrackLookup]) -> list[ResolvedTrack | ResolutionError]:
    """Find the Track (or CarrierTrack) of each event.

    By `track_id`, whose unit, run, station and step then stand for the event
    (codes also sent must match them); by `carrier_track_id`; by run, unit,
    station and step, taking the unit's latest pass (by `in_at`) there; or,
    without a step number, by unit and station (`resolve_tracks_at_stations`).
    """
    track_ids = list({lookup.track_id for lookup in lookups if lookup.track_id is not None})
    carrier_ids = list({lookup.carrier_track_id for lookup in lookups if lookup.carrier_track_id})
    by_codes = [
        lookup
        for lookup in lookups
        if not (lookup.track_id or lookup.carrier_track_id) and lookup.step_no is not None
    ]
    at_stations = [
        lookup
        for lookup in lookups
        if not (lookup.track_id or lookup.carrier_track_id) and lookup.step_no is None
    ]
    found_at_stations = dict(zip(at_stations, resolve_tracks_at_stations(at_stations), strict=True))

    tracks_by_id = {}
    if track_ids:
        condition, params = one_of("t.id", track_ids, "bigint")
        rows = fetch_all(f"{TRACK_SELECT} WHERE {condition}", params)
        tracks_by_id = {row[0]: _TrackRow(*row) for row in rows}
    carrier_tracks_by_id = {}
    if carrier_ids:
        condition, params = one_of("c.id", carrier_ids, "bigint")
        rows = fetch_all(
            "SELECT c.id, c.step_no, s.code, c.station_id FROM execution_carriertrack c "
            f"LEFT JOIN execution_station s ON s.id = c.station_id WHERE {condition}",
            params,
        )
        carrier_tracks_by_id = {row[0]: _CarrierTrackRow(*row) for row in rows}
    latest_by_codes = {}
    if by_codes:
        conditions, params = [], []
        for column, values, sql_type in (
            ("u.sn", {lookup.unit_sn for lookup in by_codes}, "text"),
            ("s.code", {lookup.station_code for lookup in by_codes}, "text"),
            ("t.step_no", {lookup.step_no for lookup in by_codes}, "integer"),
            ("r.run_no", {lookup.run_no for lookup in by_codes}, "text"),
        ):
            condition, values = one_of(column, values, sql_type)
            conditions.append(condition)
            params += values
        rows = fetch_all(
            f"{TRACK_SELECT} WHERE {' AND '.join(conditions)} ORDER BY t.in_at DESC, t.id DESC",
            params,
        )
        for row in map(_TrackRow._make, rows):
            key = (row.run_no, row.unit_sn, row.station_code, row.step_no)
            latest_by_codes.setdefault(key, row)
    misses = [lookup for lookup in by_codes if lookup.codes not in latest_by_codes]
    diagnose = _missing_track_diagnosis(misses)

    results = []
    for lookup in lookups:
        if lookup.track_id is not None:
            results.append(_by_track_id(lookup, tracks_by_id.get(lookup.track_id)))
        elif lookup.carrier_track_id is not None:
            results.append(
                _by_carrier_track_id(lookup, carrier_tracks_by_id.get(lookup.carrier_track_id))
            )
        elif lookup.step_no is None:
            results.append(found_at_stations[lookup])
        elif lookup.codes in latest_by_codes:
            row = latest_by_codes[lookup.codes]
            results.append(_resolved(row, lookup, lookup.run_no, lookup.step_no))
        else:
            results.append(diagnose(lookup))
    return results


def resolve_tracks_at_stations(lookups: list[TrackLookup]) -> list[ResolvedTrack | ResolutionError]:
    """The Track of each event that names a unit and a station but no step (a machine
    that knows the board it handled, not the route, such as an IPC-CFX sender).

    The unit's open pass at that station (no `out_at`; the latest open one if there
    are several), else its latest pass there, whose step then stands for the event.
    A run named too must be the unit's. No pass at all is `UNIT_NOT_AT_STATION`:
    kept as a FAILED message, replayable once the unit is tracked there.
    """
    if not lookups:
        return []
    units, unit_params = one_of("u.sn", {lookup.unit_sn for lookup in lookups}, "text")
    stations, station_params = one_of("s.code", {lookup.station_code for lookup in lookups}, "text")
    rows = fetch_all(
        f"{TRACK_SELECT} WHERE {units} AND {stations} "
        "ORDER BY CASE WHEN t.out_at IS NULL THEN 0 ELSE 1 END, t.in_at DESC, t.id DESC",
        [*unit_params, *station_params],
    )
    passes = {}
    for row in map(_TrackRow._make, rows):
        passes.setdefault((row.unit_sn, row.station_code), row)
    misses = [
        lookup
        for lookup in lookups
        if (lookup.unit_sn, lookup.station_code) not in passes
        or (
            lookup.run_no is not None
            and passes[lookup.unit_sn, lookup.station_code].run_no != lookup.run_no
        )
    ]
    diagnose = _missing_track_diagnosis(misses, at_station=True)
    results = []
    for lookup in lookups:
        row = passes.get((lookup.unit_sn, lookup.station_code))
        if row is None or (lookup.run_no is not None and row.run_no != lookup.run_no):
            results.append(diagnose(lookup))
            continue
        results.append(_resolved(row, lookup, row.run_no or "", row.step_no))
    return results


def _resolved(row: _TrackRow, lookup: TrackLookup, run_no: str, step_no: int) -> ResolvedTrack:
    """A track found by codes: the codes stand for the event, with the run and step given."""
    return ResolvedTrack(
        track_id=row.track_id,
        route_version_id=row.route_version_id,
        run_no=run_no,
        unit_sn=lookup.unit_sn,
        station_code=lookup.station_code,
        step_no=step_no,
        station_id=row.station_id,
        run_id=row.run_id,
        unit_id=row.unit_id,
        unit_status=row.unit_status,
    )


def _mismatch(name: str, given, actual) -> ResolutionError:
    return ResolutionError(
        "TRACK_MISMATCH", f"{name} {given!r} does not match the track's {name} {actual!r}"
    )


def _by_track_id(lookup: TrackLookup, track: _TrackRow | None) -> ResolvedTrack | ResolutionError:
    if track is None:
        return ResolutionError("TRACK_NOT_FOUND", f"Track not found: {lookup.track_id}")
    actual = {
        "runNo": track.run_no or "",
        "unitSn": track.unit_sn,
        "stationCode": track.station_code or "",
        "stepNo": track.step_no,
    }
    for name, given in zip(("runNo", "unitSn", "stationCode", "stepNo"), lookup.codes, strict=True):
        if given is not None and given != actual[name]:
            return _mismatch(name, given, actual[name])
    return ResolvedTrack(
        track_id=track.track_id,
        route_version_id=track.route_version_id,
        run_no=actual["runNo"],
        unit_sn=actual["unitSn"],
        station_code=actual["stationCode"],
        step_no=track.step_no,
        station_id=track.station_id,
        run_id=track.run_id,
        unit_id=track.unit_id,
        unit_status=track.unit_status,
    )


def _by_carrier_track_id(
    lookup: TrackLookup, carrier_track: _CarrierTrackRow | None
) -> ResolvedTrack | ResolutionError:
    if carrier_track is None:
        return ResolutionError(
            "CARRIER_TRACK_NOT_FOUND", f"Carrier track not found: {lookup.carrier_track_id}"
        )
    actual_station = carrier_track.station_code or ""
    if lookup.station_code is not None and lookup.station_code != actual_station:
        return _mismatch("stationCode", lookup.station_code, actual_station)
    if lookup.step_no is not None and lookup.step_no != carrier_track.step_no:
        return _mismatch("stepNo", lookup.step_no, carrier_track.step_no)
    # A carrier belongs to no run or unit: codes sent with it are recorded as given.
    return ResolvedTrack(
        carrier_track_id=carrier_track.carrier_track_id,
        run_no=lookup.run_no or "",
        unit_sn=lookup.unit_sn or "",
        station_code=actual_station,
        step_no=carrier_track.step_no,
        station_id=carrier_track.station_id,
    )


def _missing_track_diagnosis(misses: list[TrackLookup], *, at_station: bool = False):
    """Tell each miss by codes its own error code, with three queries for all of them.
    With `at_station` (no step number) the run is optional and the last code is
    UNIT_NOT_AT_STATION."""
    if not misses:
        return None
    run_nos = {m.run_no for m in misses if m.run_no is not None}
    run_ids = dict(Run.objects.filter(run_no__in=run_nos).values_list("run_no", "pk"))
    stations = set(
        Station.objects.filter(code__in={m.station_code for m in misses}).values_list(
            "code", flat=True
        )
    )
    unit_runs = dict(
        Unit.objects.filter(sn__in={m.unit_sn for m in misses}).values_list("sn", "run_id")
    )

    def diagnose(lookup: TrackLookup) -> ResolutionError:
        run_named = lookup.run_no is not None or not at_station
        if run_named and lookup.run_no not in run_ids:
            return ResolutionError("RUN_NOT_FOUND", f"Run not found: {lookup.run_no}")
        if lookup.station_code not in stations:
            return ResolutionError("STATION_NOT_FOUND", f"Station not found: {lookup.station_code}")
        if lookup.unit_sn not in unit_runs:
            return ResolutionError("UNIT_NOT_FOUND", f"Unit not found: {lookup.unit_sn}")
        if run_named and unit_runs[lookup.unit_sn] != run_ids[lookup.run_no]:
            return ResolutionError(
                "UNIT_NOT_IN_RUN", f"Unit {lookup.unit_sn} does not belong to run {lookup.run_no}"
            )
        if at_station:
            return ResolutionError(
                "UNIT_NOT_AT_STATION",
                f"Unit {lookup.unit_sn} has no pass at station {lookup.station_code}: "
                "replay this event once the unit is tracked there",
            )
        return ResolutionError(
            "TRACK_NOT_FOUND",
            f"Track not found: unit {lookup.unit_sn} has no pass at station "
            f"{lookup.station_code}, step {lookup.step_no}",
        )

    return diagnose


@dataclass
class _RouteStepInfo:
    step_no: int
    operation: Operation
    bound_spec_ids: set


def resolve_operations(
    tracks: list[ResolvedTrack], operation_ids: list[int | None]
) -> list[ResolvedOperation | ResolutionError]:
    """Find each event's operation and bound specs from its run's route step.

    The route step with the event's step number decides; an operation id also
    sent must name an operation and be that one. Without a route step (carrier
    events, runs without a route) the operation id gives the operation.
    """
    wanted = {
        (track.route_version_id, track.step_no)
        for track in tracks
        if track.route_version_id is not None and track.step_no is not None
    }
    steps: dict[tuple, _RouteStepInfo] = {}
    if wanted:
        routes, route_params = one_of(
            "rs.route_version_id", {route for route, _ in wanted}, "bigint"
        )
        step_numbers, step_params = one_of(
            "rs.step_no", {step_no for _, step_no in wanted}, "integer"
        )
        # One row per (step, bound spec): the steps, their operations and bindings at once.
        rows = fetch_all(
            "SELECT rs.route_version_id, rs.step_no, o.id, o.code, o.name, b.dataspec_id "
            "FROM execution_routestep rs "
            "JOIN execution_operation o ON o.id = rs.operation_id "
            "LEFT JOIN execution_routestep_data_specs b ON b.routestep_id = rs.id "
            f"WHERE {routes} AND {step_numbers}",
            [*route_params, *step_params],
        )
        for route_version_id, step_no, operation_id, code, name, spec_id in rows:
            key = (route_version_id, step_no)
            if key not in steps:
                operation = Operation(pk=operation_id, code=code, name=name)
                steps[key] = _RouteStepInfo(step_no, operation, set())
            if spec_id is not None:
                steps[key].bound_spec_ids.add(spec_id)

    def step_of(track):
        return steps.get((track.route_version_id, track.step_no))

    # Operations named by id are loaded only where the route step does not settle it.
    needed = {
        operation_id
        for track, operation_id in zip(tracks, operation_ids, strict=True)
        if operation_id is not None
        and (step_of(track) is None or step_of(track).operation.pk != operation_id)
    }
    operations = Operation.objects.in_bulk(needed) if needed else {}

    results = []
    for track, operation_id in zip(tracks, operation_ids, strict=True):
        step = step_of(track)
        if operation_id is not None and (step is None or step.operation.pk != operation_id):
            if operation_id not in operations:
                results.append(
                    ResolutionError("OPERATION_NOT_FOUND", f"Operation not found: {operation_id}")
                )
                continue
            if step is not None:
                results.append(
                    ResolutionError(
                        "OPERATION_MISMATCH",
                        f"Operation {operation_id} is not the operation of route step "
                        f"{step.step_no} ({step.operation.code}, id {step.operation.pk})",
                    )
                )
                continue
            results.append(ResolvedOperation(operation=operations[operation_id]))
        elif step is not None:
            results.append(
                ResolvedOperation(
                    operation=step.operation,
                    step_no=step.step_no,
                    bound_spec_ids=frozenset(step.bound_spec_ids),
                )
            )
        else:
            results.append(ResolvedOperation(operation=None))
    return results


def resolve_items(
    events: list[tuple[list[dict], ResolvedOperation, str]],
) -> list[ResolvedItems | ResolutionError]:
    """Resolve each item's spec and take the value of the spec's data type.

    `events` holds, per event, its items, its resolved operation and its
    source. Each refused event gets one ResolutionError listing every failing
    item (the top-level code is the first one's). Where no operation is
    known, as on a carrier event without an operation, the first spec named
    by id gives it.
    """
    ids, names, operation_ids = set(), set(), set()
    for items, resolved, _source in events:
        for item in items:
            if item.get("spec_id") is not None:
                ids.add(item["spec_id"])
            elif resolved.operation is not None:
                names.add(item["spec_name"])
                operation_ids.add(resolved.operation.pk)
    specs = _load_specs(ids, operation_ids, names)
    by_id = {spec.pk: spec for spec in specs}
    by_operation_and_name = {(spec.operation_id, spec.name): spec for spec in specs}

    results = []
    for items, resolved, source in events:
        result = ResolvedItems(operation=resolved.operation)
        problems = []
        for index, item in enumerate(items):
            spec, problem = _item_spec(item, by_id, by_operation_and_name, result, resolved, source)
            if problem is None:
                value_field = VALUE_FIELD_BY_DATA_TYPE[spec.data_type]
                if item.get(value_field) is None:
                    problem = (
                        "VALUE_TYPE_MISMATCH",
                        f"Spec {spec.name!r} is {spec.data_type}: the item needs "
                        f"{_camel(value_field)}",
                    )
            if problem is not None:
                problems.append(ItemProblem(index=index, code=problem[0], message=problem[1]))
                continue
            result.specs.append(spec)
            result.values.append(item[value_field])
        if problems:
            first = problems[0]
            results.append(
                ResolutionError(first.code, f"data[{first.index}]: {first.message}", problems)
            )
        else:
            results.append(result)
    return results


def _load_specs(ids: set, operation_ids: set, names: set) -> list[DataSpec]:
    """Specs by id, and by name within operations, each with its operation (whose code
    names it in refusals)."""
    conditions, params = [], []
    if ids:
        condition, values = one_of("sp.id", ids, "bigint")
        conditions.append(condition)
        params += values
    if names:
        by_operation, operation_params = one_of("sp.operation_id", operation_ids, "bigint")
        by_name, name_params = one_of("sp.name", names, "text")
        conditions.append(f"({by_operation} AND {by_name})")
        params += [*operation_params, *name_params]
    if not conditions:
        return []
    rows = fetch_all(
        f"SELECT {select_list(DataSpec, 'sp')}, o.code, o.name "
        "FROM execution_dataspec sp JOIN execution_operation o ON o.id = sp.operation_id "
        f"WHERE {' OR '.join(conditions)}",
        params,
    )
    specs = []
    for row in rows:
        spec = load_model(DataSpec, row)
        code, name = row[model_width(DataSpec) :]
        spec.operation = Operation(pk=spec.operation_id, code=code, name=name)
        specs.append(spec)
    return specs


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _item_spec(item, by_id, by_operation_and_name, result, resolved, source):
    """One item's spec, or (None, (code, message)) saying why it cannot be used."""
    spec_id, spec_name = item.get("spec_id"), item.get("spec_name")
    if spec_id is not None:
        spec = by_id.get(spec_id)
        if spec is None or not spec.is_active:
            return None, ("SPEC_NOT_FOUND", f"Spec not found or inactive: {spec_id}")
        if spec_name is not None and spec_name != spec.name:
            return None, (
                "SPEC_NOT_FOUND",
                f"Spec {spec_id} is named {spec.name!r}, not {spec_name!r}",
            )
        if result.operation is None:
            result.operation = spec.operation
    else:
        if resolved.operation is None:
            return None, (
                "OPERATION_REQUIRED",
                f"Spec {spec_name!r} is named, but no operation is known: "
                "send operationId or specId",
            )
        spec = by_operation_and_name.get((resolved.operation.pk, spec_name))
        if spec is None or not spec.is_active:
            return None, (
                "SPEC_NOT_FOUND",
                f"Spec not found or inactive in operation {resolved.operation.code}: {spec_name!r}",
            )
    if spec.operation_id != result.operation.pk:
        return None, (
            "SPEC_OPERATION_MISMATCH",
            f"Spec {spec.name!r} belongs to operation {spec.operation.code}, "
            f"not {result.operation.code}",
        )
    if resolved.bound_spec_ids and spec.pk not in resolved.bound_spec_ids:
        return None, (
            "SPEC_NOT_BOUND",
            f"Spec {spec.name!r} is not bound to route step {resolved.step_no}",
        )
    if source == DataSpec.Method.AUTO and spec.method != DataSpec.Method.AUTO:
        return None, (
            "SPEC_METHOD_MISMATCH",
            f"Spec {spec.name!r} is collected {spec.method}: an AUTO event cannot write it",
        )
    return spec, None
