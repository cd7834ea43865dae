"""What a station asks before it acts (docs/execution.md): where a unit is, which units
are in station here, and what to collect from a unit at its current step. Read-only."""

from dataclasses import dataclass

from execution.holds import open_holds_of
from execution.models import DataSpec, RouteStep, Station, Track, Unit
from execution.tracking import TrackingRefused


@dataclass
class UnitPosition:
    unit: Unit
    open_track: Track | None
    hold: object  # the unit's open Hold, or None


@dataclass
class StepSpecs:
    unit: Unit
    step: RouteStep | None
    specs: list[DataSpec]


def station_named(station_code: str) -> Station:
    """The station of a URL; raises TrackingRefused STATION_NOT_FOUND."""
    station = Station.objects.filter(code=station_code).first()
    if station is None:
        raise TrackingRefused("STATION_NOT_FOUND", f"Station not found: {station_code}")
    return station


def unit_named(sn: str) -> Unit:
    unit = Unit.objects.select_related("run").filter(sn=sn).first()
    if unit is None:
        raise TrackingRefused("UNIT_NOT_FOUND", f"Unit not found: {sn}")
    return unit


def unit_position(sn: str) -> UnitPosition:
    """The unit, its open pass (with its station) and its open hold; raises
    TrackingRefused UNIT_NOT_FOUND."""
    unit = unit_named(sn)
    track = unit.tracks.filter(out_at=None).select_related("station").first()
    return UnitPosition(unit, track, open_holds_of([unit.pk]).get(unit.pk))


def station_queue(station_code: str) -> tuple[Station, list[Track]]:
    """The station and its open passes, oldest first (the units in station there)."""
    station = station_named(station_code)
    tracks = list(
        Track.objects.filter(station=station, out_at=None)
        .select_related("unit__run")
        .order_by("in_at", "pk")
    )
    return station, tracks


def specs_to_collect(station_code: str, sn: str) -> StepSpecs:
    """The active specs of the unit's current step (its bound specs, or all of its
    operation's where it binds none); a unit not yet started is at its route's first
    step. Raises TrackingRefused STATION_NOT_FOUND or UNIT_NOT_FOUND."""
    station_named(station_code)
    unit = unit_named(sn)
    steps = RouteStep.objects.select_related("operation").filter(
        route_version_id=unit.run.route_version_id if unit.run else None
    )
    step = (
        steps.filter(step_no=unit.current_step_no).first()
        if unit.current_step_no is not None
        else steps.order_by("step_no").first()
    )
    if step is None:
        return StepSpecs(unit, None, [])
    specs = step.data_specs.filter(is_active=True)
    if not specs.exists():
        specs = step.operation.data_specs.filter(is_active=True)
    return StepSpecs(unit, step, list(specs.order_by("name")))
