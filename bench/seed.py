"""Realistic master data for the benchmarks, written with bulk inserts: the ingestion's
line (`seed_bench_line`) and the stations' line that units are tracked through
(`seed_tracking_line`)."""

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Group

from execution.models import DataSpec, Operation, RouteStep, RouteVersion, Run, Station, Track, Unit
from integration.gateways.keys import create_gateway

STEPS = [
    (10, "BENCH-PRINTER", "OP-B-PRINT", ["Squeegee Pressure", "Print Speed"]),
    (20, "BENCH-SPI", "OP-B-SPI", ["Paste Height", "Paste Volume", "Paste Area"]),
    (30, "BENCH-MOUNTER", "OP-B-MOUNT", ["Placement Count"]),
    (
        40,
        "BENCH-REFLOW",
        "OP-B-REFLOW",
        ["Peak Temperature", "Conveyor Speed", "Time Above Liquidus"],
    ),
    (50, "BENCH-AOI", "OP-B-AOI", ["Defect Count"]),
]


def seed_bench_line(runs: int, units_per_run: int, gateways: int) -> dict:
    route = RouteVersion.objects.create(code="ROUTE-BENCH", version_no=1)
    stations = {}
    for step_no, station_code, operation_code, spec_names in STEPS:
        stations[step_no] = Station.objects.create(
            code=station_code, name=station_code, station_type="AUTO", line_code="BENCH"
        )
        operation = Operation.objects.create(code=operation_code, name=operation_code)
        specs = [
            DataSpec.objects.create(
                operation=operation,
                name=name,
                data_type="NUMBER",
                method="AUTO",
                spec={"min": 240, "max": 250} if name == "Peak Temperature" else {"min": 0},
                alarm={"min": 235, "max": 255, "action": "ALARM_ONLY"}
                if name == "Peak Temperature"
                else None,
            )
            for name in spec_names
        ]
        # One spec of the operation stays unbound, as on a real line.
        DataSpec.objects.create(
            operation=operation, name="Unbound " + operation_code, data_type="NUMBER"
        )
        step = RouteStep.objects.create(route_version=route, step_no=step_no, operation=operation)
        step.data_specs.add(*specs)

    start = datetime(2026, 1, 1, tzinfo=UTC)
    units_out = []
    for r in range(runs):
        run = Run.objects.create(
            run_no=f"RUN-BENCH-{r:03d}", route_version=route, status="IN_PROGRESS"
        )
        last_step_no = STEPS[-1][0]
        units = Unit.objects.bulk_create(
            [
                Unit(
                    sn=f"SN-B{r:03d}-{u:05d}",
                    run=run,
                    status="IN_STATION",
                    current_step_no=last_step_no,
                )
                for u in range(units_per_run)
            ]
        )
        # Each unit passed every step but the last, where it is in station: one open pass
        # per unit (docs/execution.md). Events name their step, so each finds its pass.
        Track.objects.bulk_create(
            [
                Track(
                    unit=unit,
                    step_no=step_no,
                    station=stations[step_no],
                    source="AUTO",
                    in_at=start + timedelta(seconds=index * 20 + step_no),
                    out_at=None
                    if step_no == last_step_no
                    else start + timedelta(seconds=index * 20 + step_no + 5),
                    result=None if step_no == last_step_no else "PASS",
                )
                for index, unit in enumerate(units)
                for step_no, *_ in STEPS
            ]
        )
        units_out += [(unit.sn, run.run_no) for unit in units]
    keys = [create_gateway(f"gw-bench-{n}")[1] for n in range(gateways)]
    return {"units": units_out, "keys": keys}


# The stations' line: step 10 may be done at either printer, step 20 at the oven only.
TRACKING_RUN = "RUN-TRK-001"
TRACKING_STEPS = [
    (10, ["TRK-PRINT-1", "TRK-PRINT-2"], "OP-T-PRINT", ["Paste Height", "Squeegee Pressure"]),
    (20, ["TRK-OVEN-1"], "OP-T-REFLOW", ["Peak Temperature"]),
]
# What each spec takes: its limits, and an alarm that puts the unit on hold.
TRACKING_LIMITS = {
    "Paste Height": ({"min": 100, "max": 150}, None),
    "Squeegee Pressure": ({"min": 4, "max": 8}, {"min": 2, "max": 10, "action": "HOLD"}),
    "Peak Temperature": ({"min": 240, "max": 250}, None),
}


def seed_tracking_line(units: int, gateways: int, prefix: str = "SN-T") -> dict:
    """An AUTHORIZED run of a two-step route (docs/execution.md) with `units` units queued
    at its first step (`{prefix}-00000` on), and station gateways (Gateways and
    Operators: they may track units) with their keys."""
    route = RouteVersion.objects.create(code="ROUTE-TRK", version_no=1)
    for step_no, station_codes, operation_code, spec_names in TRACKING_STEPS:
        operation = Operation.objects.create(code=operation_code, name=operation_code)
        specs = []
        for name in spec_names:
            limits, alarm = TRACKING_LIMITS[name]
            specs.append(
                DataSpec.objects.create(
                    operation=operation, name=name, data_type="NUMBER", spec=limits, alarm=alarm
                )
            )
        step = RouteStep.objects.create(
            route_version=route, step_no=step_no, operation=operation, station_type="AUTO"
        )
        step.data_specs.add(*specs)
        step.allowed_stations.add(
            *[
                Station.objects.create(code=code, name=code, station_type="AUTO", line_code="TRK")
                for code in station_codes
            ]
        )
    run = Run.objects.create(
        run_no=TRACKING_RUN, route_version=route, status="AUTHORIZED", wo_no="WO-TRK",
        line_code="TRK",
    )  # fmt: skip
    queued = Unit.objects.bulk_create(
        [
            Unit(sn=f"{prefix}-{n:05d}", run=run, status="QUEUED", current_step_no=10)
            for n in range(units)
        ]
    )
    operators = Group.objects.get(name="Operators")
    keys = []
    for n in range(gateways):
        user, key = create_gateway(f"gw-station-{n}")
        user.groups.add(operators)
        keys.append(key)
    return {"run_no": run.run_no, "units": [unit.sn for unit in queued], "keys": keys}
