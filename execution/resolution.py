"""Resolving events' production context: operation and specs (docs/ingestion.md, rules 5–6),
and the answers every resolution gives: a resolved track, operation or items, or a
`ResolutionError` in that event's place.

Every function works on a list of events at once, so a batch of 500 costs the same few
queries as a single event; a single event is a list of one. They read and never write.
A miss carries the API's error code, so the caller keeps the refused event and answers
422 without knowing the rules. The tracks (rules 3–4) are found by track_resolution.py.
"""

from dataclasses import dataclass, field

from execution.models import DataSpec, Operation
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
