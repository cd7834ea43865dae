"""What the read API tests share (tests/integration/api/test_read_api_*.py): a shop of
records written through the real ingestion service, and helpers to read them back."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from execution.models import DataSpec
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord
from tests.conftest import make_event
from tests.factories import (
    DataSpecFactory,
    OperationFactory,
    RouteStepFactory,
    RunFactory,
    StationFactory,
    TrackFactory,
    UnitFactory,
    close_pass,
)

LIST_URL = "/api/integration/device-data"
MESSAGES_URL = "/api/integration/messages"
DIGITS = re.compile(r"^[0-9]+$")

RECORD_FIELDS = {
    "id",
    "eventId",
    "eventTime",
    "source",
    "runNo",
    "unitSn",
    "stationCode",
    "stepNo",
    "trackId",
    "carrierTrackId",
    "operationId",
    "equipmentId",
    "operatorId",
    "data",
    "meta",
    "dataValuesCreated",
    "duplicateCount",
    "receivedAt",
}
MESSAGE_FIELDS = {
    "id",
    "direction",
    "system",
    "entityType",
    "businessKey",
    "dedupeKey",
    "status",
    "errorCode",
    "errorMessage",
    "recordId",
    "replayOf",
    "resolvedAt",
    "sentBy",
    "createdAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "acknowledgementNote",
}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 24, hour, minute, tzinfo=UTC)


def ingest(event: dict, sender) -> DeviceDataRecord:
    return receive_device_event(event, sent_by=sender).record


def refused(event: dict, sender) -> EventRefused:
    with pytest.raises(EventRefused) as caught:
        receive_device_event(event, sent_by=sender)
    return caught.value


def event_ids(response) -> list[str]:
    return [item["eventId"] for item in response.json()["data"]["items"]]


def assert_validation_error(response, parameter: str):
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert parameter in body["error"]["details"]


@dataclass
class Shop:
    """Two runs, two units, two stations, two steps, both sources, five event times."""

    line: object
    aoi_station: object
    solder: DataSpec
    unit2: object
    records: dict


def build_shop(line, gateway) -> Shop:
    aoi_station = StationFactory(code="AOI-01")
    aoi_operation = OperationFactory(code="OP-AOI")
    solder = DataSpecFactory(operation=aoi_operation, name="Solder Volume", spec={"min": 80})
    RouteStepFactory(
        route_version=line.step.route_version,
        step_no=50,
        operation=aoi_operation,
        data_specs=[solder],
    )
    run2 = RunFactory(run_no="RUN-2026-002", route_version=line.step.route_version)
    unit2 = UnitFactory(sn="SN-0002", run=run2)
    close_pass(line.track)
    TrackFactory(unit=line.unit, step_no=50, station=aoi_station)
    close_pass(TrackFactory(unit=unit2, step_no=40, station=line.station))
    TrackFactory(unit=unit2, step_no=50, station=aoi_station)

    solder_item = [{"specName": "Solder Volume", "valueNumber": 100}]
    events = [
        make_event(eventId="evt-a", eventTime="2026-01-24T10:00:00Z"),
        make_event(
            eventId="evt-b",
            eventTime="2026-01-24T11:00:00Z",
            stationCode="AOI-01",
            stepNo=50,
            data=solder_item,
        ),
        make_event(
            eventId="evt-c",
            eventTime="2026-01-24T12:00:00Z",
            source="MANUAL",
            operatorId="OPR-7",
            runNo="RUN-2026-002",
            unitSn="SN-0002",
            data=[{"specName": "Visual Check", "valueBoolean": True}],
        ),
        make_event(
            eventId="evt-d",
            eventTime="2026-01-24T09:00:00Z",
            runNo="RUN-2026-002",
            unitSn="SN-0002",
            stationCode="AOI-01",
            stepNo=50,
            data=solder_item,
        ),
        make_event(
            eventId="evt-e",
            eventTime="2026-01-24T10:00:00Z",
            data=[{"specName": "Conveyor Speed", "valueNumber": 80}],
        ),
    ]
    records = {event["eventId"]: ingest(event, gateway) for event in events}
    # evt-a and evt-e happened at the same time; evt-e, written later, was received
    # earlier, so the list must order them by receivedAt and not by insertion.
    DeviceDataRecord.objects.filter(event_id="evt-a").update(received_at=at(10, 5))
    DeviceDataRecord.objects.filter(event_id="evt-e").update(received_at=at(10, 1))
    for record in records.values():
        record.refresh_from_db()
    return Shop(line, aoi_station, solder, unit2, records)
