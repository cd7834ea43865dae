"""A line whose machines track units through IPC-CFX (docs/cfx.md, "Tracking by the
machine"): an SPI, a reflow oven and an AOI, each tracked by its machine, on a
three-step route whose every required spec a machine sends; an AUTHORIZED run with
four units the MES knows, none started. And the CFX messages its machines send, as
envelopes of the SDK's structures (tests/fixtures/cfx/README.md names them)."""

import json
import uuid
from dataclasses import dataclass

from execution.models import DataSpec, RouteStep, Run, Station, Unit
from integration.models import CfxReadingName
from tests.factories import (
    DataSpecFactory,
    OperationFactory,
    RouteStepFactory,
    RouteVersionFactory,
    RunFactory,
    StationFactory,
    UnitFactory,
)

SPI_HANDLE = "KohYoung.SPI_8030.SN3003"  # tests/fixtures/cfx/work_started.json's Source
OVEN_HANDLE = "Heller.Reflow_2043.SN3004"
AOI_HANDLE = "Omron.AOI_VT.SN3005"
RUN_NO = "RUN-CFX-TRACK"


@dataclass
class CfxRouteLine:
    run: Run
    spi: Station
    oven: Station
    aoi: Station
    steps: list[RouteStep]
    paste_height: DataSpec
    peak: DataSpec
    aoi_result: DataSpec
    units: list[Unit]


def build_cfx_route_line(units: int = 4, prefix: str = "PCB-M-") -> CfxRouteLine:
    route = RouteVersionFactory(code="ROUTE-CFX-TRACK")
    stations = [
        StationFactory(
            code=code,
            station_type=Station.StationType.AUTO,
            line_code="LINE-M",
            cfx_handle=handle,
            tracked_by_machine=True,
        )
        for code, handle in (
            ("SPI-M1", SPI_HANDLE),
            ("OVEN-M1", OVEN_HANDLE),
            ("AOI-M1", AOI_HANDLE),
        )
    ]
    spi_op = OperationFactory(code="OP-M-SPI")
    oven_op = OperationFactory(code="OP-M-REFLOW")
    aoi_op = OperationFactory(code="OP-M-AOI")
    paste_height = DataSpecFactory(
        operation=spi_op, name="Paste Height M", spec={"min": 100, "max": 150}, is_required=True
    )
    peak = DataSpecFactory(
        operation=oven_op,
        name="Peak Temperature M",
        spec={"min": 235, "max": 255, "unit": "C"},
        is_required=True,
    )
    aoi_result = DataSpecFactory(
        operation=aoi_op,
        name="AOI Result M",
        data_type=DataSpec.DataType.TEXT,
        item_type=DataSpec.ItemType.KEY,
        spec={"allowed": ["Passed"]},
        is_required=True,
    )
    steps = [
        RouteStepFactory(
            route_version=route,
            step_no=step_no,
            operation=operation,
            station_type=Station.StationType.AUTO,
            data_specs=[spec],
        )
        for step_no, operation, spec in (
            (10, spi_op, paste_height),
            (20, oven_op, peak),
            (30, aoi_op, aoi_result),
        )
    ]
    for step, station in zip(steps, stations, strict=True):
        step.allowed_stations.add(station)
    for station, reading, spec in (
        (stations[0], "PasteHeight", paste_height),
        (stations[1], "PeakTemperature", peak),
        (stations[2], "OverallResult", aoi_result),
    ):
        CfxReadingName.objects.create(station=station, reading_name=reading, spec_name=spec.name)
    run = RunFactory(
        run_no=RUN_NO, route_version=route, status=Run.Status.AUTHORIZED, line_code="LINE-M"
    )
    made = [
        UnitFactory(sn=f"{prefix}{n:04d}", run=run, status=Unit.Status.QUEUED)
        for n in range(1, units + 1)
    ]
    spi, oven, aoi = stations
    return CfxRouteLine(run, spi, oven, aoi, steps, paste_height, peak, aoi_result, made)


# The machines' messages (structures of the CFX SDK, folder CFX/).


def envelope(name: str, source: str, body: dict, unique_id: str | None = None) -> dict:
    """CFXEnvelope.cs: one message of `source`, its body typed by `$type`."""
    return {
        "MessageName": name,
        "Version": "2.1",
        "TimeStamp": "2026-11-30T12:00:00Z",
        "UniqueID": unique_id or str(uuid.uuid4()),
        "Source": source,
        "Target": None,
        "RequestID": None,
        "MessageBody": {"$type": f"{name}, CFX", **body},
    }


def _unit_positions(sns: list[str], statuses: list[str] | None = None) -> list[dict]:
    """Structures/UnitPosition.cs, a panel's units at positions 1, 2, …"""
    return [
        {
            "UnitIdentifier": sn,
            "PositionNumber": n,
            "PositionName": f"CIRCUIT{n}",
            "X": 20.0 * n,
            "Y": 80.0,
            "Rotation": 0.0,
            "FlipX": False,
            "FlipY": False,
            "Status": statuses[n - 1] if statuses else "Pass",
        }
        for n, sn in enumerate(sns, start=1)
    ]


def work_started(source: str, transaction: str, sns: list[str], unique_id=None) -> dict:
    """Production/WorkStarted.cs."""
    body = {
        "PrimaryIdentifier": None,
        "HermesIdentifier": None,
        "TransactionID": transaction,
        "Lane": 1,
        "UnitCount": len(sns),
        "Units": _unit_positions(sns),
    }
    return envelope("CFX.Production.WorkStarted", source, body, unique_id)


def work_completed(
    source: str,
    transaction: str,
    result: str = "Completed",
    sns: list[str] | None = None,
    statuses: list[str] | None = None,
    unique_id=None,
) -> dict:
    """Production/WorkCompleted.cs: its units named only when `sns` are given."""
    units = _unit_positions(sns, statuses) if sns else []
    body = {
        "TransactionID": transaction,
        "Result": result,
        "PrimaryIdentifier": None,
        "HermesIdentifier": None,
        "UnitCount": len(units),
        "Units": units,
        "PerformanceImpacts": [],
    }
    return envelope("CFX.Production.WorkCompleted", source, body, unique_id)


def units_processed(source: str, transaction: str, readings: dict[str, dict[str, float]]):
    """Production/Processing/UnitsProcessed.cs: each unit's GenericProcessData readings
    (unit → {reading name: value})."""
    units = [
        {
            "UnitIdentifier": sn,
            "UnitPositionNumber": n,
            "UnitResult": "Succeeded",
            "UnitProcessData": {
                "$type": "CFX.Structures.Generic.GenericProcessData, CFX",
                "Readings": [
                    {"Name": name, "Value": {"Value": value}} for name, value in values.items()
                ],
            },
        }
        for n, (sn, values) in enumerate(readings.items(), start=1)
    ]
    body = {"TransactionId": transaction, "OverallResult": "Succeeded", "UnitProcessData": units}
    return envelope("CFX.Production.Processing.UnitsProcessed", source, body)


def units_inspected(source: str, transaction: str, results: dict[str, str]) -> dict:
    """Production/TestAndInspection/UnitsInspected.cs: each unit's OverallResult."""
    units = [
        {
            "UnitIdentifier": sn,
            "UnitPositionNumber": n,
            "OverallResult": result,
            "Inspections": [],
        }
        for n, (sn, result) in enumerate(results.items(), start=1)
    ]
    body = {"TransactionId": transaction, "InspectionMethod": "AOI", "InspectedUnits": units}
    return envelope("CFX.Production.TestAndInspection.UnitsInspected", source, body)


def body_of(message: dict) -> bytes:
    return json.dumps(message).encode()


def route_messages(sns: list[str], aoi_results: dict[str, str]) -> list[dict]:
    """What the line's machines send for one panel through the whole route: at each station
    WorkStarted, the readings, WorkCompleted. The AOI inspects each unit under its own
    transaction and completes it with `aoi_results[sn]` (a WorkResult)."""
    messages = []
    for source, readings in (
        (SPI_HANDLE, {sn: {"PasteHeight": 120.0 + n} for n, sn in enumerate(sns)}),
        (OVEN_HANDLE, {sn: {"PeakTemperature": 245.0 + n} for n, sn in enumerate(sns)}),
    ):
        transaction = str(uuid.uuid4())
        messages += [
            work_started(source, transaction, sns),
            units_processed(source, transaction, readings),
            work_completed(source, transaction),
        ]
    for sn in sns:
        transaction = str(uuid.uuid4())
        result = aoi_results[sn]
        inspected = "Passed" if result == "Completed" else "Failed"
        messages += [
            work_started(AOI_HANDLE, transaction, [sn]),
            units_inspected(AOI_HANDLE, transaction, {sn: inspected}),
            work_completed(AOI_HANDLE, transaction, result),
        ]
    return messages
