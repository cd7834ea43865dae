"""Realistic master data for the ingestion benchmark, written with bulk inserts."""

from datetime import UTC, datetime, timedelta

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
        units = Unit.objects.bulk_create(
            [
                Unit(sn=f"SN-B{r:03d}-{u:05d}", run=run, status="IN_STATION")
                for u in range(units_per_run)
            ]
        )
        Track.objects.bulk_create(
            [
                Track(
                    unit=unit,
                    step_no=step_no,
                    station=stations[step_no],
                    source="AUTO",
                    in_at=start + timedelta(seconds=index * 20 + step_no),
                )
                for index, unit in enumerate(units)
                for step_no, *_ in STEPS
            ]
        )
        units_out += [(unit.sn, run.run_no) for unit in units]
    keys = [create_gateway(f"gw-bench-{n}")[1] for n in range(gateways)]
    return {"units": units_out, "keys": keys}
