"""The demo SMT line: master data, a run with units and tracks, and a carrier.

Used by `manage.py seed_demo` (with the demo users and gateway). Every row is
looked up by its natural key first, so seeding twice changes nothing. A finished
run of DEMO_HISTORY_UNITS boards gives the SPC chart a history to show (its
readings are sent through the ingestion service by integration/demo_history.py).
An AUTHORIZED run on version 2 of the route, whose steps name their stations, waits
for units to be tracked in and out over the stations API (execution/demo_line.py).
"""

from datetime import UTC, datetime, timedelta

from execution.demo_line import seed_tracked_line
from execution.models import (
    Carrier,
    CarrierTrack,
    DataSpec,
    Operation,
    PassResult,
    RouteStep,
    RouteVersion,
    Run,
    Source,
    Station,
    Track,
    Unit,
)

DEMO_RUN_NO = "RUN-DEMO-001"
DEMO_UNIT_COUNT = 12
DEMO_CARRIER_NO = "CARRIER-DEMO-01"
# Fixed times keep the demo identical run after run.
DEMO_START = datetime(2026, 1, 24, 8, 0, tzinfo=UTC)
# The day before: a finished run whose boards passed every step, two minutes apart,
# with a three-hour stop of the line halfway (a gap on the SPC chart's time axis).
DEMO_HISTORY_RUN_NO = "RUN-DEMO-000"
DEMO_HISTORY_UNITS = 120
DEMO_HISTORY_START = datetime(2026, 1, 23, 6, 0, tzinfo=UTC)
DEMO_HISTORY_PAUSE_AFTER = 60

NUMBER, TEXT, BOOLEAN, JSON = (
    DataSpec.DataType.NUMBER,
    DataSpec.DataType.TEXT,
    DataSpec.DataType.BOOLEAN,
    DataSpec.DataType.JSON,
)
AUTO, MANUAL = DataSpec.Method.AUTO, DataSpec.Method.MANUAL

# (step no, station code, station name, operation code, operation name)
LINE = [
    (10, "PRINTER-01", "Stencil printer", "OP-PRINT", "Solder paste printing"),
    (20, "SPI-01", "Solder paste inspection", "OP-SPI", "Solder paste inspection"),
    (30, "MOUNTER-01", "Pick and place", "OP-MOUNT", "Component placement"),
    (40, "REFLOW-01", "Reflow oven", "OP-REFLOW", "Reflow soldering"),
    (50, "AOI-01", "Automated optical inspection", "OP-AOI", "Optical inspection"),
]

# operation code → [(name, data type, method, spec, alarm, bound to the step)]
SPECS = {
    "OP-PRINT": [
        ("Squeegee Pressure", NUMBER, AUTO, {"min": 5, "max": 12, "unit": "kg"}, None, True),
        ("Print Speed", NUMBER, AUTO, {"min": 20, "max": 80, "unit": "mm/s"}, None, True),
    ],
    "OP-SPI": [
        (
            "Paste Height",
            NUMBER,
            AUTO,
            {"min": 100, "max": 160, "target": 130, "unit": "um"},
            {"min": 90, "max": 170, "action": "ALARM_ONLY"},
            True,
        ),
        ("Paste Volume", NUMBER, AUTO, {"min": 70, "max": 130, "unit": "%"}, None, True),
    ],
    "OP-MOUNT": [
        ("Placement Count", NUMBER, AUTO, {"min": 1}, None, False),
        ("Pickup Errors", NUMBER, AUTO, {"max": 3}, {"action": "ALARM_ONLY"}, False),
    ],
    "OP-REFLOW": [
        (
            "Peak Temperature",
            NUMBER,
            AUTO,
            {"min": 240, "max": 250, "target": 245, "unit": "C"},
            {"min": 235, "max": 255, "action": "HOLD"},
            True,
        ),
        ("Conveyor Speed", NUMBER, AUTO, {"min": 70, "max": 90, "unit": "cm/min"}, None, True),
        # Defined for the operation but bound to no step: events naming it are refused.
        ("Time Above Liquidus", NUMBER, AUTO, {"min": 45, "max": 90, "unit": "s"}, None, False),
    ],
    "OP-AOI": [
        # PASS from the demo's gateways, Passed from an AOI speaking IPC-CFX (TestResult).
        ("AOI Result", TEXT, AUTO, {"allowed": ["PASS", "Passed"]}, {"action": "ALARM_ONLY"}, True),
        ("Visual Check", BOOLEAN, MANUAL, {"expected": True}, None, True),
        ("Defect Map", JSON, AUTO, None, None, True),
    ],
}


# A PASS at their step needs a value of these (docs/execution.md, track-out rule 2); the
# AOI's verdict is a key characteristic too: NG turns a station's PASS into FAIL.
REQUIRED_SPECS = {"Paste Height", "Peak Temperature", "AOI Result"}
KEY_SPECS = {"AOI Result"}


def seed_demo_line() -> dict:
    """Create (or find) the demo line and return its main objects by name."""
    route, _ = RouteVersion.objects.get_or_create(code="ROUTE-SMT-DEMO", version_no=1)
    stations = {}
    for step_no, station_code, station_name, operation_code, operation_name in LINE:
        station, _ = Station.objects.get_or_create(
            code=station_code,
            defaults={
                "name": station_name,
                "station_type": Station.StationType.AUTO,
                "line_code": "SMT-LINE-1",
            },
        )
        stations[step_no] = station
        operation, _ = Operation.objects.get_or_create(
            code=operation_code, defaults={"name": operation_name}
        )
        step, _ = RouteStep.objects.get_or_create(
            route_version=route, step_no=step_no, defaults={"operation": operation}
        )
        bound = []
        for name, data_type, method, limits, alarm, is_bound in SPECS[operation_code]:
            spec, _ = DataSpec.objects.get_or_create(
                operation=operation,
                name=name,
                defaults={
                    "data_type": data_type,
                    "method": method,
                    "spec": limits,
                    "alarm": alarm,
                    "item_type": DataSpec.ItemType.KEY
                    if data_type == NUMBER or name in KEY_SPECS
                    else DataSpec.ItemType.OBSERVATION,
                    "is_required": name in REQUIRED_SPECS,
                },
            )
            if is_bound:
                bound.append(spec)
        step.data_specs.add(*bound)

    run, _ = Run.objects.get_or_create(
        run_no=DEMO_RUN_NO,
        defaults={"route_version": route, "status": Run.Status.IN_PROGRESS},
    )
    for number in range(1, DEMO_UNIT_COUNT + 1):
        last_step_no = max(stations)
        unit, _ = Unit.objects.get_or_create(
            sn=f"SN-DEMO-{number:04d}",
            defaults={
                "run": run,
                "status": Unit.Status.IN_STATION,
                "current_step_no": last_step_no,
            },
        )
        # Passed every step but the last, where it is in station (one open pass per unit).
        for step_no, station in stations.items():
            in_at = DEMO_START + timedelta(minutes=number, seconds=step_no * 6)
            passed = step_no != last_step_no
            Track.objects.get_or_create(
                unit=unit,
                step_no=step_no,
                station=station,
                defaults={
                    "source": Source.AUTO,
                    "in_at": in_at,
                    "out_at": in_at + timedelta(seconds=5) if passed else None,
                    "result": PassResult.PASS if passed else None,
                },
            )
    carrier, _ = Carrier.objects.get_or_create(carrier_no=DEMO_CARRIER_NO)
    carrier_track, _ = CarrierTrack.objects.get_or_create(
        carrier=carrier,
        step_no=40,
        station=stations[40],
        defaults={"in_at": DEMO_START},
    )
    history = seed_demo_history_run(route, stations)
    line_run = seed_tracked_line(route, stations)
    return {
        "run": run,
        "history_run": history,
        "line_run": line_run,
        "route": route,
        "stations": stations,
        "carrier_track": carrier_track,
    }


def history_unit_sn(number: int) -> str:
    return f"SN-HIST-{number:04d}"


def history_in_at(number: int) -> datetime:
    """When history board `number` (1-based) entered the line."""
    pause = timedelta(hours=3) if number > DEMO_HISTORY_PAUSE_AFTER else timedelta()
    return DEMO_HISTORY_START + timedelta(minutes=2 * number) + pause


def seed_demo_history_run(route, stations) -> Run:
    """The finished history run: its boards and their tracks, created where missing."""
    run, _ = Run.objects.get_or_create(
        run_no=DEMO_HISTORY_RUN_NO,
        defaults={"route_version": route, "status": Run.Status.COMPLETED},
    )
    existing = set(run.units.values_list("sn", flat=True))
    new_units = Unit.objects.bulk_create(
        Unit(sn=history_unit_sn(number), run=run, status=Unit.Status.DONE)
        for number in range(1, DEMO_HISTORY_UNITS + 1)
        if history_unit_sn(number) not in existing
    )
    numbers = {history_unit_sn(number): number for number in range(1, DEMO_HISTORY_UNITS + 1)}
    Track.objects.bulk_create(
        Track(
            unit=unit,
            step_no=step_no,
            station=station,
            source=Source.AUTO,
            in_at=history_in_at(numbers[unit.sn]) + timedelta(seconds=step_no * 6),
            out_at=history_in_at(numbers[unit.sn]) + timedelta(seconds=step_no * 6 + 50),
            result=PassResult.PASS,
        )
        for unit in new_units
        for step_no, station in stations.items()
    )
    return run
