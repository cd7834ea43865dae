"""Calls that meet a database older than the code: a migration being undone (or not yet
applied) under a running version, as `migrate execution 0010` does while gunicorn serves
(tests/deploy/test_tracking_across_migrations.py takes the whole deploy).

A table or column the write needs is missing: answered 503 "nothing written", and the
same call sent again once the schema is back is written once. A track-out reads none of
a hold's later columns, so it goes on working while they are missing.
"""

from contextlib import contextmanager

import pytest
from django.db import connection

from execution.models import DataValue, Track
from integration.ingestion.errors import EventNotWritten
from integration.models import DeviceDataRecord, TrackingRecord
from integration.tracking.service import receive_track_in, receive_track_out
from mes.database_errors import Cause
from tests.conftest import make_event
from tests.factories import UnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SN = "SN-SCHEMA-0001"
MISSING = {"cause": Cause.SCHEMA_BEHIND.value, "written": "nothing"}


@contextmanager
def column_missing(table: str, column: str):
    """The column gone (renamed away, as undoing its migration drops it) until the block
    ends."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(column)} TO gone")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {quote(table)} RENAME COLUMN gone TO {quote(column)}")


@pytest.fixture
def unit(route_line):
    return UnitFactory(sn=SN, run=route_line.run, status="QUEUED", current_step_no=10)


@pytest.fixture
def operator(db):
    return UserFactory(username="op-schema")


def call(route_line, event_id: str, **more) -> dict:
    return {"sn": SN, "runNo": route_line.run.run_no, "eventId": event_id, **more}


def test_a_track_in_meeting_a_missing_column_is_a_503_and_written_once_when_sent_again(
    route_line, unit, operator, caplog
):
    with (
        column_missing("integration_trackingrecord", "payload_hash"),
        pytest.raises(EventNotWritten) as refused,
    ):
        receive_track_in(call(route_line, "ti-1"), station_code="SPI-01", sent_by=operator)

    assert (refused.value.status_code, refused.value.details) == (503, MISSING)
    assert "not written" in caplog.text
    assert not Track.objects.filter(unit=unit).exists()
    assert not TrackingRecord.objects.exists()
    outcome = receive_track_in(call(route_line, "ti-1"), station_code="SPI-01", sent_by=operator)
    assert outcome.is_duplicate is False
    assert Track.objects.get(unit=unit).pk == int(outcome.answer["trackId"])
    assert TrackingRecord.objects.count() == 1


def test_a_track_out_reads_none_of_the_holds_later_columns(route_line, unit, operator):
    receive_track_in(call(route_line, "ti-2"), station_code="SPI-01", sent_by=operator)
    out = call(
        route_line,
        "to-2",
        result="PASS",
        data=[{"specName": "Paste Height", "valueNumber": 120}],
    )

    # The hold's reason came with execution 0014: undone, the track-out still goes through.
    with column_missing("execution_hold", "reason_id"):
        outcome = receive_track_out(out, station_code="SPI-01", sent_by=operator)

    assert outcome.is_duplicate is False
    track = Track.objects.get(unit=unit)
    assert (track.result, track.out_at is not None) == ("PASS", True)
    assert DataValue.objects.filter(track=track).count() == 1


def test_device_data_meeting_a_missing_column_is_a_503_and_written_once_when_sent_again(
    line, gateway_client
):
    body = {"events": [make_event(eventId="evt-s1"), make_event(eventId="evt-s2")]}

    with column_missing("integration_devicedatarecord", "payload_hash"):
        refused = gateway_client.post("/api/integration/device-data/batch", body, format="json")

    # No event of it written: the batch as a whole is a 503 to send again.
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert refused.json()["error"]["details"] == MISSING
    assert refused["Retry-After"]
    assert not DeviceDataRecord.objects.exists()
    again = gateway_client.post("/api/integration/device-data/batch", body, format="json")
    assert [r["status"] for r in again.json()["data"]["results"]] == ["CREATED", "CREATED"]
    assert DeviceDataRecord.objects.count() == 2
