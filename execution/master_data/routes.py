"""A route version and its steps, upserted by code and version number
(docs/master-data.md). A version a run uses is immutable: the same content again is a
no-op, another is refused with ROUTE_VERSION_IN_USE (send it as a new version)."""

from django.db import transaction

from execution.master_data.errors import (
    CREATED,
    UNCHANGED,
    UPDATED,
    MasterDataRefused,
    Outcome,
    Reader,
)
from execution.models import DataSpec, Operation, RouteStep, RouteVersion, Run, Station

ROUTE = "ROUTE"


def read_route_version(data, code=None, version_no=None, item: str = "") -> dict:
    reader = Reader(data, item)
    if code is not None:
        reader.url_key("code", code)
        reader.url_key("version", version_no)
    steps, numbers = [], set()
    for index, step_data in enumerate(reader.items("steps", required=True)):
        step = Reader(step_data, item, prefix=f"steps[{index}].")
        step_no = step.integer("stepNo")
        if step_no in numbers:
            raise step.refused("stepNo", f"step {step_no} is given twice.")
        numbers.add(step_no)
        steps.append(
            {
                "step_no": step_no,
                "operation": step.text("operationCode", max_length=100),
                "station_type": step.choice(
                    "stationType", Station.StationType.values, required=False
                ),
                "stations": sorted(set(step.texts("allowedStations", max_length=100))),
                "specs": sorted(set(step.texts("specs", max_length=200))),
                "index": index,
            }
        )
    if not steps:
        raise reader.refused("steps", "a route version needs at least one step.")
    return {
        "code": code if code is not None else reader.text("code", max_length=100),
        "version_no": version_no if version_no is not None else reader.integer("version"),
        "steps": sorted(steps, key=lambda step: step["step_no"]),
        "item": item,
    }


def upsert_route_version(data, *, code=None, version_no=None, item: str = "") -> Outcome:
    """Create a route version with its steps, or replace the steps of one no run uses, in
    one transaction. Operations, stations and specs are named by code and name and must
    exist (OPERATION_NOT_FOUND, STATION_NOT_FOUND, SPEC_NOT_FOUND); a bound spec is one of
    its step's operation. A version used by a run: ROUTE_VERSION_IN_USE unless the steps
    are the same."""
    route = read_route_version(data, code, version_no, item)
    with transaction.atomic():
        return _save_route_version(route)


def _save_route_version(route: dict) -> Outcome:
    key = f"{route['code']}/v{route['version_no']}"
    steps = _resolved(route)
    version, created = RouteVersion.objects.get_or_create(
        code=route["code"], version_no=route["version_no"]
    )
    # Locked: a run created against it now waits, and sees the steps written.
    version = RouteVersion.objects.select_for_update().get(pk=version.pk)
    if not created:
        if _content_of(version) == [_comparable(step) for step in steps]:
            return Outcome(ROUTE, key, UNCHANGED)
        if Run.objects.filter(route_version=version).exists():
            raise MasterDataRefused(
                "ROUTE_VERSION_IN_USE",
                f"Route {key} is used by a run and cannot change; send it as a new version.",
                item=route["item"],
            )
        version.steps.all().delete()
    for step in steps:
        saved = RouteStep.objects.create(
            route_version=version,
            step_no=step["step_no"],
            operation=step["operation"],
            station_type=step["station_type"],
        )
        saved.allowed_stations.set(step["stations"])
        saved.data_specs.set(step["specs"])
    return Outcome(ROUTE, key, CREATED if created else UPDATED)


def _resolved(route: dict) -> list[dict]:
    """The steps with their operations, stations and specs found, or the first one that
    is not (named by step and field)."""
    item = route["item"]
    codes = {step["operation"] for step in route["steps"]}
    operations = {op.code: op for op in Operation.objects.filter(code__in=codes)}
    station_codes = {code for step in route["steps"] for code in step["stations"]}
    stations = {station.code: station for station in Station.objects.filter(code__in=station_codes)}
    specs = {
        (spec.operation.code, spec.name): spec
        for spec in DataSpec.objects.filter(operation__code__in=codes).select_related("operation")
    }
    resolved = []
    for step in route["steps"]:
        where = f"steps[{step['index']}]"
        operation = operations.get(step["operation"])
        if operation is None:
            raise MasterDataRefused(
                "OPERATION_NOT_FOUND",
                f"no operation {step['operation']!r}.",
                item=item,
                field_name=f"{where}.operationCode",
            )
        missing = [code for code in step["stations"] if code not in stations]
        if missing:
            raise MasterDataRefused(
                "STATION_NOT_FOUND",
                f"no station {missing[0]!r}.",
                item=item,
                field_name=f"{where}.allowedStations",
            )
        wrong_type = [
            code
            for code in step["stations"]
            if step["station_type"] and stations[code].station_type != step["station_type"]
        ]
        if wrong_type:
            raise MasterDataRefused(
                "VALIDATION_ERROR",
                f"station {wrong_type[0]!r} is not of type {step['station_type']}.",
                item=item,
                field_name=f"{where}.allowedStations",
            )
        unknown = [name for name in step["specs"] if (operation.code, name) not in specs]
        if unknown:
            raise MasterDataRefused(
                "SPEC_NOT_FOUND",
                f"operation {operation.code} has no spec {unknown[0]!r}.",
                item=item,
                field_name=f"{where}.specs",
            )
        resolved.append(
            {
                **step,
                "operation": operation,
                "stations": [stations[code] for code in step["stations"]],
                "specs": [specs[(operation.code, name)] for name in step["specs"]],
            }
        )
    return resolved


def _comparable(step: dict) -> tuple:
    return (
        step["step_no"],
        step["operation"].pk,
        step["station_type"],
        tuple(sorted(station.pk for station in step["stations"])),
        tuple(sorted(spec.pk for spec in step["specs"])),
    )


def _content_of(version: RouteVersion) -> list[tuple]:
    return [
        (
            step.step_no,
            step.operation_id,
            step.station_type,
            tuple(sorted(station.pk for station in step.allowed_stations.all())),
            tuple(sorted(spec.pk for spec in step.data_specs.all())),
        )
        for step in version.steps.order_by("step_no").prefetch_related(
            "allowed_stations", "data_specs"
        )
    ]
