"""Rule 3 without a step number (docs/ingestion.md): the unit's open pass at the station,
else its latest pass there; none is UNIT_NOT_AT_STATION, kept as FAILED. Any transport
may send such an event (IPC-CFX does: docs/cfx.md); REST included."""

from datetime import timedelta

import pytest
from rest_framework.exceptions import ValidationError

from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from tests.conftest import make_event
from tests.factories import RunFactory, StationFactory, TrackFactory, UnitFactory


def at_station(**overrides):
    return make_event(stepNo=..., runNo=..., **overrides)


def test_without_a_step_the_open_pass_at_the_station_is_taken(line, gateway):
    closed_later = TrackFactory(
        unit=line.unit,
        step_no=40,
        station=line.station,
        in_at=line.track.in_at + timedelta(hours=1),
        out_at=line.track.in_at + timedelta(hours=2),
    )
    outcome = receive_device_event(at_station(eventId="evt-open"), sent_by=gateway)
    assert closed_later.pk != line.track.pk
    assert outcome.record.track_id == line.track.pk  # open, although older
    assert (outcome.record.step_no, outcome.record.run_no) == (40, line.run.run_no)


def test_without_an_open_pass_the_latest_pass_at_the_station_is_taken(line, gateway):
    line.track.out_at = line.track.in_at + timedelta(minutes=1)
    line.track.save()
    later = TrackFactory(
        unit=line.unit,
        step_no=40,
        station=line.station,
        in_at=line.track.in_at + timedelta(hours=1),
        out_at=line.track.in_at + timedelta(hours=2),
    )
    outcome = receive_device_event(at_station(eventId="evt-latest"), sent_by=gateway)
    assert outcome.record.track_id == later.pk


def test_a_unit_with_no_pass_at_the_station_is_refused_and_kept(line, gateway):
    StationFactory(code="AOI-01")
    with pytest.raises(EventRefused) as refused:
        receive_device_event(at_station(eventId="evt-away", stationCode="AOI-01"), sent_by=gateway)
    assert refused.value.code == "UNIT_NOT_AT_STATION"
    assert refused.value.failed_message.status == "FAILED"


def test_a_run_sent_without_a_step_must_be_the_units_run(line, gateway):
    other = RunFactory(run_no="RUN-OTHER")
    with pytest.raises(EventRefused) as refused:
        receive_device_event(
            make_event(eventId="evt-run", stepNo=..., runNo=other.run_no), sent_by=gateway
        )
    assert refused.value.code == "UNIT_NOT_IN_RUN"
    outcome = receive_device_event(
        make_event(eventId="evt-run-ok", stepNo=..., runNo=line.run.run_no), sent_by=gateway
    )
    assert outcome.record.track_id == line.track.pk


def test_unknown_units_and_stations_keep_their_own_codes(line, gateway):
    UnitFactory(sn="SN-ELSEWHERE")
    for overrides, code in (
        ({"unitSn": "SN-NOBODY"}, "UNIT_NOT_FOUND"),
        ({"stationCode": "NOWHERE"}, "STATION_NOT_FOUND"),
        ({"unitSn": "SN-ELSEWHERE"}, "UNIT_NOT_AT_STATION"),
    ):
        with pytest.raises(EventRefused) as refused:
            receive_device_event(at_station(eventId=f"evt-{code}", **overrides), sent_by=gateway)
        assert refused.value.code == code


def test_a_step_without_a_run_is_malformed(line, gateway):
    with pytest.raises(ValidationError) as malformed:
        receive_device_event(make_event(eventId="evt-no-run", runNo=...), sent_by=gateway)
    assert "runNo" in malformed.value.detail


def test_the_rest_endpoint_takes_an_event_without_a_step(line, gateway_client):
    response = gateway_client.post(
        "/api/integration/device-data", at_station(eventId="evt-rest"), format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["trackId"] == str(line.track.pk)
