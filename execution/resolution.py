"""Resolving an event's production context: its track, operation and specs (DESIGN.md §4, 3–6).

These functions read master and execution data and never write. Each miss
raises `ResolutionError` carrying the API's error code, so the caller can keep
the refused event and answer 422 without knowing the rules.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q

from execution.models import CarrierTrack, DataSpec, Operation, RouteStep, Run, Station, Track, Unit

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


@dataclass
class ResolvedTrack:
    """Where the event happened: a unit's Track or a CarrierTrack, and its context."""

    track: Track | None = None
    carrier_track: CarrierTrack | None = None
    run: Run | None = None
    run_no: str = ""
    unit_sn: str = ""
    station_code: str = ""
    step_no: int | None = None


@dataclass
class ResolvedOperation:
    """The operation whose specs an event's items name, and the step's bound specs."""

    operation: Operation | None
    route_step: RouteStep | None = None
    binds_specs: bool = False


@dataclass
class ResolvedItems:
    specs: list[DataSpec] = field(default_factory=list)
    values: list = field(default_factory=list)
    operation: Operation | None = None


def _mismatch(name: str, given, actual) -> ResolutionError:
    return ResolutionError(
        "TRACK_MISMATCH", f"{name} {given!r} does not match the track's {name} {actual!r}."
    )


def resolve_track(
    *,
    track_id: int | None = None,
    carrier_track_id: int | None = None,
    run_no: str | None = None,
    unit_sn: str | None = None,
    station_code: str | None = None,
    step_no: int | None = None,
) -> ResolvedTrack:
    """Find the Track (or CarrierTrack) an event belongs to.

    By `track_id`, whose unit, run, station and step then stand for the event
    (codes also sent must match them); by `carrier_track_id`; or by run,
    unit, station and step, taking the unit's latest pass there.
    """
    if track_id is not None:
        track = (
            Track.objects.select_related("unit__run__route_version", "station")
            .filter(pk=track_id)
            .first()
        )
        if track is None:
            raise ResolutionError("TRACK_NOT_FOUND", f"Track not found: {track_id}")
        run = track.unit.run
        actual = {
            "runNo": run.run_no if run else "",
            "unitSn": track.unit.sn,
            "stationCode": track.station.code if track.station else "",
            "stepNo": track.step_no,
        }
        for name, given in (
            ("runNo", run_no),
            ("unitSn", unit_sn),
            ("stationCode", station_code),
            ("stepNo", step_no),
        ):
            if given is not None and given != actual[name]:
                raise _mismatch(name, given, actual[name])
        return ResolvedTrack(
            track=track,
            run=run,
            run_no=actual["runNo"],
            unit_sn=actual["unitSn"],
            station_code=actual["stationCode"],
            step_no=track.step_no,
        )

    if carrier_track_id is not None:
        carrier_track = (
            CarrierTrack.objects.select_related("carrier", "station")
            .filter(pk=carrier_track_id)
            .first()
        )
        if carrier_track is None:
            raise ResolutionError(
                "CARRIER_TRACK_NOT_FOUND", f"Carrier track not found: {carrier_track_id}"
            )
        actual_station = carrier_track.station.code if carrier_track.station else ""
        if station_code is not None and station_code != actual_station:
            raise _mismatch("stationCode", station_code, actual_station)
        if step_no is not None and step_no != carrier_track.step_no:
            raise _mismatch("stepNo", step_no, carrier_track.step_no)
        # A carrier belongs to no run or unit: codes sent with it are recorded as given.
        return ResolvedTrack(
            carrier_track=carrier_track,
            run_no=run_no or "",
            unit_sn=unit_sn or "",
            station_code=actual_station,
            step_no=carrier_track.step_no,
        )

    # By codes. The happy path is one query; misses are diagnosed below so each
    # gets its own error code.
    track = (
        Track.objects.select_related("unit__run__route_version", "station")
        .filter(
            unit__sn=unit_sn,
            unit__run__run_no=run_no,
            station__code=station_code,
            step_no=step_no,
        )
        .order_by("-in_at", "-id")
        .first()
    )
    if track is None:
        _diagnose_missing_track(run_no, unit_sn, station_code, step_no)
    return ResolvedTrack(
        track=track,
        run=track.unit.run,
        run_no=run_no,
        unit_sn=unit_sn,
        station_code=station_code,
        step_no=step_no,
    )


def _diagnose_missing_track(run_no, unit_sn, station_code, step_no) -> None:
    run = Run.objects.filter(run_no=run_no).first()
    if run is None:
        raise ResolutionError("RUN_NOT_FOUND", f"Run not found: {run_no}")
    if not Station.objects.filter(code=station_code).exists():
        raise ResolutionError("STATION_NOT_FOUND", f"Station not found: {station_code}")
    unit = Unit.objects.filter(sn=unit_sn).first()
    if unit is None:
        raise ResolutionError("UNIT_NOT_FOUND", f"Unit not found: {unit_sn}")
    if unit.run_id != run.pk:
        raise ResolutionError("UNIT_NOT_IN_RUN", f"Unit {unit_sn} does not belong to run {run_no}")
    raise ResolutionError(
        "TRACK_NOT_FOUND",
        f"Track not found: unit {unit_sn} has no pass at station {station_code}, step {step_no}",
    )


def resolve_operation(resolved: ResolvedTrack, operation_id: int | None) -> ResolvedOperation:
    """Find the operation (and bound specs) for the event's route step.

    The run's route step with the event's step number decides; an
    `operation_id` also sent must be that operation. Without a route step
    (carrier events, runs without a route) `operation_id` gives the operation.
    """
    route_step = None
    route_version_id = resolved.run.route_version_id if resolved.run else None
    if route_version_id is not None and resolved.step_no is not None:
        route_step = (
            RouteStep.objects.select_related("operation")
            .annotate(bound_count=Count("data_specs"))
            .filter(route_version_id=route_version_id, step_no=resolved.step_no)
            .first()
        )

    if route_step is not None:
        if operation_id is not None and operation_id != route_step.operation_id:
            if not Operation.objects.filter(pk=operation_id).exists():
                raise ResolutionError("OPERATION_NOT_FOUND", f"Operation not found: {operation_id}")
            raise ResolutionError(
                "OPERATION_MISMATCH",
                f"Operation {operation_id} is not the operation of route step "
                f"{route_step.step_no} ({route_step.operation.code}, id {route_step.operation_id})",
            )
        return ResolvedOperation(
            operation=route_step.operation,
            route_step=route_step,
            binds_specs=route_step.bound_count > 0,
        )

    if operation_id is not None:
        operation = Operation.objects.filter(pk=operation_id).first()
        if operation is None:
            raise ResolutionError("OPERATION_NOT_FOUND", f"Operation not found: {operation_id}")
        return ResolvedOperation(operation=operation)
    return ResolvedOperation(operation=None)


def _load_candidate_specs(items: list[dict], resolved: ResolvedOperation) -> list[DataSpec]:
    """Every spec an item may name, in one query, each marked whether the step binds it."""
    ids = {item["spec_id"] for item in items if item.get("spec_id") is not None}
    names = {item["spec_name"] for item in items if item.get("spec_id") is None}
    condition = Q(pk__in=ids)
    if names and resolved.operation is not None:
        condition |= Q(operation=resolved.operation, name__in=names)
    queryset = DataSpec.objects.select_related("operation").filter(condition)
    if resolved.route_step is not None:
        queryset = queryset.annotate(
            is_bound=Exists(
                RouteStep.data_specs.through.objects.filter(
                    routestep_id=resolved.route_step.pk, dataspec_id=OuterRef("pk")
                )
            )
        )
    return list(queryset)


def resolve_items(items: list[dict], resolved: ResolvedOperation, source: str) -> ResolvedItems:
    """Resolve each item's spec and take the value of the spec's data type.

    Raises one ResolutionError listing every failing item (the top-level code
    is the first one's). Where no operation is known, as on a carrier event
    without an operation, the first spec found by id gives it.
    """
    candidates = _load_candidate_specs(items, resolved)
    by_id = {spec.pk: spec for spec in candidates}
    operation = resolved.operation
    by_name = {
        spec.name: spec for spec in candidates if operation and spec.operation_id == operation.pk
    }

    result = ResolvedItems(operation=operation)
    problems: list[ItemProblem] = []
    for index, item in enumerate(items):
        spec, problem = _resolve_item_spec(item, by_id, by_name, result, resolved, source)
        if problem is None:
            value_field = VALUE_FIELD_BY_DATA_TYPE[spec.data_type]
            if item.get(value_field) is None:
                problem = (
                    "VALUE_TYPE_MISMATCH",
                    f"Spec {spec.name!r} is {spec.data_type}: the item needs {_camel(value_field)}",
                )
        if problem is not None:
            problems.append(ItemProblem(index=index, code=problem[0], message=problem[1]))
            continue
        result.specs.append(spec)
        result.values.append(item[value_field])
    if problems:
        first = problems[0]
        raise ResolutionError(first.code, f"data[{first.index}]: {first.message}", problems)
    return result


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _resolve_item_spec(item, by_id, by_name, result, resolved, source):
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
        spec = by_name.get(spec_name)
        if spec is None or not spec.is_active:
            return None, (
                "SPEC_NOT_FOUND",
                f"Spec not found or inactive in operation {result.operation.code}: {spec_name!r}",
            )
    if spec.operation_id != result.operation.pk:
        return None, (
            "SPEC_OPERATION_MISMATCH",
            f"Spec {spec.name!r} belongs to operation {spec.operation.code}, "
            f"not {result.operation.code}",
        )
    if resolved.binds_specs and not spec.is_bound:
        return None, (
            "SPEC_NOT_BOUND",
            f"Spec {spec.name!r} is not bound to route step {resolved.route_step.step_no}",
        )
    if source == DataSpec.Method.AUTO and spec.method != DataSpec.Method.AUTO:
        return None, (
            "SPEC_METHOD_MISMATCH",
            f"Spec {spec.name!r} is collected {spec.method}: an AUTO event cannot write it",
        )
    return spec, None
