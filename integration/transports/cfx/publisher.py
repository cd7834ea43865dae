"""A CFX publisher for demos and load (`simulate_gateway --cfx`, bench/cfx.py): a reflow
oven's UnitsProcessed for a panel of units and an AOI's UnitsInspected, as envelopes of
the structures of the CFX SDK (docs/cfx.md), published to RabbitMQ over AMQP 1.0."""

import json
import uuid
from datetime import UTC, datetime

from proton import Message
from proton.utils import BlockingConnection

from integration.transports.cfx.config import CfxConfig


def _envelope(name: str, source: str, body: dict, unique_id: str | None = None) -> dict:
    return {
        "MessageName": name,
        "Version": "2.1",
        "TimeStamp": datetime.now(UTC).isoformat(),
        "UniqueID": unique_id or str(uuid.uuid4()),
        "Source": source,
        "Target": None,
        "RequestID": None,
        "MessageBody": {"$type": f"{name}, CFX", **body},
    }


def reflow_panel(source: str, unit_sns: list[str], rng, unique_id: str | None = None) -> dict:
    """UnitsProcessed of a reflow oven for one panel: the peak temperature of each unit, with
    the oven's own limits, a conveyor speed common to the panel, and each unit's result."""
    units = []
    for position, unit_sn in enumerate(unit_sns, start=1):
        peak = round(rng.gauss(245, 3.5), 1)
        readings = [
            {
                "Name": "PeakTemperature",
                "Value": {
                    "Value": peak,
                    "ValueUnits": "C",
                    "ExpectedValue": 245.0,
                    "MinimumAcceptableValue": 230.0,
                    "MaximumAcceptableValue": 260.0,
                },
            }
        ]
        units.append(
            {
                "UnitIdentifier": unit_sn,
                "UnitPositionNumber": position,
                "UnitResult": "Succeeded",
                "UnitProcessData": {
                    "$type": "CFX.Structures.Generic.GenericProcessData, CFX",
                    "Setpoints": [],
                    "Readings": readings,
                },
            }
        )
    common = {
        "$type": "CFX.Structures.Generic.GenericProcessData, CFX",
        "Readings": [{"Name": "ConveyorSpeed", "Value": {"Value": round(rng.gauss(80, 2), 1)}}],
    }
    body = {
        "TransactionId": str(uuid.uuid4()),
        "OverallResult": "Succeeded",
        "CommonProcessData": common,
        "UnitProcessData": units,
    }
    return _envelope("CFX.Production.Processing.UnitsProcessed", source, body, unique_id)


def aoi_inspection(source: str, unit_sns: list[str], rng, unique_id: str | None = None) -> dict:
    """UnitsInspected of an AOI for one panel: each unit passed, or failed with a defect."""
    units = []
    for position, unit_sn in enumerate(unit_sns, start=1):
        failed = rng.random() < 0.05
        defects = (
            [
                {
                    "DefectCode": "ISFSLD112",
                    "DefectCategory": "Solder Problems",
                    "Description": "Insufficient solder",
                    "ComponentOfInterest": {"ReferenceDesignator": "R22", "PartNumber": "11123"},
                }
            ]
            if failed
            else []
        )
        units.append(
            {
                "UnitIdentifier": unit_sn,
                "UnitPositionNumber": position,
                "OverallResult": "Failed" if failed else "Passed",
                "Inspections": [
                    {"InspectionName": "INSPECT_R22", "Result": "Failed" if failed else "Passed",
                     "DefectsFound": defects, "Measurements": []}
                ],
            }
        )  # fmt: skip
    body = {"TransactionId": str(uuid.uuid4()), "InspectionMethod": "AOI", "InspectedUnits": units}
    return _envelope("CFX.Production.TestAndInspection.UnitsInspected", source, body, unique_id)


class CfxPublisher:
    """Publishes CFX bodies to the queue of a CfxConfig (blocking, for demos and load)."""

    def __init__(self, config: CfxConfig):
        options = {"allowed_mechs": "PLAIN"} if config.username else {}
        if config.username:
            options.update(user=config.username, password=config.password)
        self.connection = BlockingConnection(config.url, timeout=30, **options)
        self.sender = self.connection.create_sender(config.address)

    def publish(self, envelope) -> None:
        self.sender.send(
            Message(body=json.dumps(envelope).encode(), content_type="application/json")
        )

    def close(self) -> None:
        self.connection.close()
