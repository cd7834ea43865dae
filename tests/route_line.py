"""A line with a three-step route for track-in and track-out (docs/execution.md): paste
inspection (AUTO, SPI-01), reflow (AUTO, OVEN-01 only) and a manual inspection that
requires a visual check (MANUAL), in an AUTHORIZED run of work order WO-1001 on LINE-1.
"""

from dataclasses import dataclass

from execution.models import DataSpec, RouteStep, Run, Station
from tests.factories import (
    DataSpecFactory,
    OperationFactory,
    RouteStepFactory,
    RouteVersionFactory,
    RunFactory,
    StationFactory,
)


@dataclass
class RouteLine:
    run: Run
    spi: Station
    reflow: Station
    reflow_spare: Station
    inspection: Station
    steps: list[RouteStep]
    paste_height: DataSpec
    peak: DataSpec
    aoi_result: DataSpec
    visual: DataSpec


def build_route_line(run_no: str = "RUN-TRACK-001") -> RouteLine:
    route = RouteVersionFactory(code=f"ROUTE-{run_no}")
    spi = StationFactory(code="SPI-01", station_type=Station.StationType.AUTO)
    reflow = StationFactory(code="OVEN-01", station_type=Station.StationType.AUTO)
    reflow_spare = StationFactory(code="OVEN-02", station_type=Station.StationType.AUTO)
    inspection = StationFactory(code="INSPECT-01", station_type=Station.StationType.MANUAL)
    print_op = OperationFactory(code="OP-TRK-PRINT")
    reflow_op = OperationFactory(code="OP-TRK-REFLOW")
    inspect_op = OperationFactory(code="OP-TRK-INSPECT")
    paste_height = DataSpecFactory(
        operation=print_op, name="Paste Height", spec={"min": 100, "max": 150}
    )
    peak = DataSpecFactory(
        operation=reflow_op,
        name="Peak Temperature",
        spec={"min": 240, "max": 250},
        alarm={"min": 235, "max": 255, "action": "HOLD"},
    )
    aoi_result = DataSpecFactory(
        operation=inspect_op,
        name="AOI Result",
        data_type=DataSpec.DataType.BOOLEAN,
        item_type=DataSpec.ItemType.KEY,
        spec={"expected": True},
    )
    visual = DataSpecFactory(
        operation=inspect_op,
        name="Visual Check",
        data_type=DataSpec.DataType.BOOLEAN,
        method=DataSpec.Method.MANUAL,
        spec={"expected": True},
        is_required=True,
    )
    steps = [
        RouteStepFactory(
            route_version=route,
            step_no=10,
            operation=print_op,
            station_type=Station.StationType.AUTO,
            data_specs=[paste_height],
        ),
        RouteStepFactory(
            route_version=route,
            step_no=20,
            operation=reflow_op,
            station_type=Station.StationType.AUTO,
            data_specs=[peak],
        ),
        RouteStepFactory(
            route_version=route,
            step_no=30,
            operation=inspect_op,
            station_type=Station.StationType.MANUAL,
            data_specs=[aoi_result, visual],
        ),
    ]
    steps[1].allowed_stations.add(reflow)
    run = RunFactory(
        run_no=run_no,
        route_version=route,
        status=Run.Status.AUTHORIZED,
        wo_no="WO-1001",
        line_code="LINE-1",
    )
    return RouteLine(
        run, spi, reflow, reflow_spare, inspection, steps, paste_height, peak, aoi_result, visual
    )


def fail_at_first_step(line: RouteLine, sn: str, operator_id: str = ""):
    """Track unit `sn` of the route line in at SPI-01 and out with FAIL (defect BRIDGE at
    U7): OUT_FAILED, waiting for a disposition. The track-out's outcome."""
    from execution.tracking import track_in, track_out

    track_in(station_code="SPI-01", sn=sn, run_no=line.run.run_no, operator_id=operator_id)
    return track_out(
        station_code="SPI-01",
        sn=sn,
        run_no=line.run.run_no,
        result="FAIL",
        event_id=f"{sn}-out",
        source_ref=f"track-out:{sn}-out",
        defect_code="BRIDGE",
        defect_location="U7",
    )
