"""The demo's tracked line: run RUN-DEMO-LINE of work order WO-DEMO-1, AUTHORIZED on the
demo stations' line, on version 2 of the demo route, whose steps each name their station
type and the one station that does them (docs/execution.md, track-in rule 4).

DEMO_LINE_UNITS units wait in it, QUEUED; a unit of any other serial number is created
in the run by its first track-in. The README's walk-through and `manage.py
simulate_line` track units through it over the stations API. Seeding again creates
nothing twice and leaves the run and units as the line left them.
"""

from execution.models import RouteStep, RouteVersion, Run, Station, Unit

DEMO_LINE_RUN_NO = "RUN-DEMO-LINE"
DEMO_LINE_WO_NO = "WO-DEMO-1"
DEMO_LINE_UNITS = 10
DEMO_LINE_ROUTE_VERSION = 2


def line_unit_sn(number: int) -> str:
    return f"SN-LINE-{number:04d}"


def seed_tracked_line(route: RouteVersion, stations: dict[int, Station]) -> Run:
    """Version 2 of `route` (its steps, each at `stations[step_no]` only), the AUTHORIZED
    run on it and its queued units, created where missing."""
    version, _ = RouteVersion.objects.get_or_create(
        code=route.code, version_no=DEMO_LINE_ROUTE_VERSION
    )
    # operation, data_specs: copied to version 2.
    first_steps = route.steps.select_related("operation").prefetch_related("data_specs")
    for step in first_steps.order_by("step_no"):
        station = stations[step.step_no]
        line_step, _ = RouteStep.objects.get_or_create(
            route_version=version,
            step_no=step.step_no,
            defaults={"operation": step.operation, "station_type": station.station_type},
        )
        line_step.data_specs.add(*step.data_specs.all())
        line_step.allowed_stations.add(station)

    run, _ = Run.objects.get_or_create(
        run_no=DEMO_LINE_RUN_NO,
        defaults={
            "route_version": version,
            "status": Run.Status.AUTHORIZED,
            "wo_no": DEMO_LINE_WO_NO,
            "line_code": stations[min(stations)].line_code,
        },
    )
    existing = set(run.units.values_list("sn", flat=True))
    Unit.objects.bulk_create(
        Unit(sn=line_unit_sn(number), run=run, status=Unit.Status.QUEUED)
        for number in range(1, DEMO_LINE_UNITS + 1)
        if line_unit_sn(number) not in existing
    )
    return run
