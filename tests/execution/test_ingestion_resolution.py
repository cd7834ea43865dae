"""Rules 3–8 of docs/ingestion.md through the service, without HTTP: what is written or refused."""

import pytest

from execution.models import DataSpec, DataValue, Track
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import (
    CarrierTrackFactory,
    DataSpecFactory,
    OperationFactory,
    RunFactory,
    StationFactory,
    TrackFactory,
    UnitFactory,
    close_pass,
)


def refused(payload, sender) -> EventRefused:
    with pytest.raises(EventRefused) as caught:
        receive_device_event(payload, sent_by=sender)
    return caught.value


def assert_kept_as_failed(error: EventRefused, code: str):
    """Nothing written but one FAILED message carrying the code and the payload."""
    assert error.code == code
    assert DeviceDataRecord.objects.count() == 0
    assert DataValue.objects.count() == 0
    message = IntegrationMessage.objects.get()
    assert message.status == IntegrationMessage.Status.FAILED
    assert message.error_code == code
    assert message.error_message
    assert error.details["messageId"] == str(message.pk)
    return message


def test_event_by_codes_writes_record_values_and_success_message(line, gateway):
    outcome = receive_device_event(
        make_event(data=[{"specName": "Peak Temperature", "valueNumber": 252}]), sent_by=gateway
    )

    record = DeviceDataRecord.objects.get()
    assert outcome.record == record and not outcome.is_duplicate
    assert (record.run_no, record.unit_sn, record.station_code, record.step_no) == (
        "RUN-2026-001",
        "SN-0001",
        "REFLOW-01",
        40,
    )
    assert record.track == line.track and record.operation == line.operation
    assert record.sent_by == gateway and record.data_values_created == 1
    assert record.meta == {"raw": "payload"} and record.equipment_id == "EQ-01"
    value = DataValue.objects.get()
    assert value.spec == line.peak and value.track == line.track
    assert value.value_number == 252.0 and value.value_text is None
    assert (value.judge, value.alarmed) == ("FAIL", False)
    assert value.limits == {"spec": line.peak.spec, "alarm": line.peak.alarm}
    assert value.source == "AUTO" and value.source_ref == "device-data:evt-0001"
    assert value.collected_at == record.event_time
    assert value.meta == {"eventId": "evt-0001", "equipmentId": "EQ-01", "operatorId": None}
    message = IntegrationMessage.objects.get()
    assert message.status == IntegrationMessage.Status.SUCCESS and message.record == record
    assert message.business_key == message.dedupe_key == "device-data:evt-0001"
    assert message.sent_by == gateway


def test_event_by_codes_creates_no_track(line, gateway):
    receive_device_event(make_event(), sent_by=gateway)
    assert Track.objects.count() == 1


def test_auto_event_by_track_id_resolves_spec_name_through_bound_specs(line, gateway):
    payload = make_event(
        runNo=None, unitSn=None, stationCode=None, stepNo=None, trackId=str(line.track.pk)
    )
    outcome = receive_device_event(payload, sent_by=gateway)

    record = outcome.record
    assert record.track == line.track
    # Filled from the Track, so list filters find it.
    assert (record.run_no, record.unit_sn, record.station_code, record.step_no) == (
        "RUN-2026-001",
        "SN-0001",
        "REFLOW-01",
        40,
    )
    value = DataValue.objects.get()
    assert value.spec == line.peak and value.source == "AUTO"


def test_latest_pass_at_the_station_and_step_is_the_track(line, gateway):
    close_pass(line.track)
    later = TrackFactory(
        unit=line.unit, step_no=40, station=line.station, in_at=line.track.in_at.replace(hour=11)
    )
    outcome = receive_device_event(make_event(), sent_by=gateway)
    assert outcome.record.track == later


def test_collected_at_of_an_item_is_kept(line, gateway):
    receive_device_event(
        make_event(
            data=[
                {
                    "specName": "Peak Temperature",
                    "valueNumber": 245,
                    "collectedAt": "2026-01-24T11:59:00+02:00",
                }
            ]
        ),
        sent_by=gateway,
    )
    assert DataValue.objects.get().collected_at.isoformat() == "2026-01-24T09:59:00+00:00"


def test_several_readings_of_one_spec_are_all_written(line, gateway):
    readings = [{"specName": "Peak Temperature", "valueNumber": v} for v in (244, 246, 256)]
    outcome = receive_device_event(make_event(data=readings), sent_by=gateway)
    judged = [(v.value_number, v.judge, v.alarmed) for v in DataValue.objects.order_by("pk")]
    assert judged == [(244.0, "PASS", False), (246.0, "PASS", False), (256.0, "FAIL", True)]
    assert outcome.record.data_values_created == 3


def test_only_the_value_field_of_the_spec_type_is_stored(line, gateway):
    receive_device_event(
        make_event(
            data=[{"specName": "Peak Temperature", "valueNumber": 245, "valueText": "ignored"}]
        ),
        sent_by=gateway,
    )
    value = DataValue.objects.get()
    assert value.value_number == 245.0 and value.value_text is None


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"runNo": "RUN-NOPE"}, "RUN_NOT_FOUND"),
        ({"stationCode": "NOPE-01"}, "STATION_NOT_FOUND"),
        ({"unitSn": "SN-NOPE"}, "UNIT_NOT_FOUND"),
        ({"stepNo": 99}, "TRACK_NOT_FOUND"),
    ],
)
def test_each_miss_by_codes_has_its_own_code(line, gateway, overrides, code):
    assert_kept_as_failed(refused(make_event(**overrides), gateway), code)


def test_unit_of_another_run_is_refused(line, gateway):
    other_run = RunFactory(run_no="RUN-OTHER", route_version=line.run.route_version)
    unit = UnitFactory(sn="SN-OTHER", run=other_run)
    TrackFactory(unit=unit, step_no=40, station=line.station)
    error = refused(make_event(unitSn="SN-OTHER"), gateway)
    assert_kept_as_failed(error, "UNIT_NOT_IN_RUN")


def test_unknown_track_id_is_refused(line, gateway):
    error = refused(make_event(runNo=None, trackId=999999), gateway)
    assert_kept_as_failed(error, "TRACK_NOT_FOUND")


@pytest.mark.parametrize(
    "overrides",
    [
        {"runNo": "RUN-OTHER"},
        {"unitSn": "SN-0002"},
        {"stationCode": "UNKNOWN-STATION"},
        {"stepNo": 41},
    ],
)
def test_codes_that_contradict_the_track_are_refused(line, gateway, overrides):
    payload = make_event(runNo=None, unitSn=None, stationCode=None, stepNo=None)
    payload.update(trackId=line.track.pk, **overrides)
    assert_kept_as_failed(refused(payload, gateway), "TRACK_MISMATCH")


def test_unknown_carrier_track_is_refused(line, gateway):
    payload = make_event(runNo=None, unitSn=None, stationCode=None, stepNo=None)
    payload["carrierTrackId"] = 424242
    assert_kept_as_failed(refused(payload, gateway), "CARRIER_TRACK_NOT_FOUND")


def test_carrier_event_writes_values_on_the_carrier_track(line, gateway):
    carrier_track = CarrierTrackFactory(step_no=40, station=line.station)
    payload = make_event(
        runNo=None,
        unitSn=None,
        stationCode=None,
        stepNo=None,
        carrierTrackId=carrier_track.pk,
        operationId=line.operation.pk,
    )
    outcome = receive_device_event(payload, sent_by=gateway)
    value = DataValue.objects.get()
    assert value.carrier_track == carrier_track and value.track is None
    assert outcome.record.carrier_track == carrier_track
    assert outcome.record.station_code == "REFLOW-01" and outcome.record.step_no == 40


def test_carrier_event_without_operation_takes_the_spec_operation_by_id(line, gateway):
    carrier_track = CarrierTrackFactory(step_no=40, station=line.station)
    payload = make_event(runNo=None, unitSn=None, stationCode=None, stepNo=None)
    payload.update(
        carrierTrackId=carrier_track.pk, data=[{"specId": line.peak.pk, "valueNumber": 245}]
    )
    outcome = receive_device_event(payload, sent_by=gateway)
    assert outcome.record.operation == line.operation


def test_spec_name_without_any_operation_is_refused(line, gateway):
    carrier_track = CarrierTrackFactory(step_no=40, station=line.station)
    payload = make_event(runNo=None, unitSn=None, stationCode=None, stepNo=None)
    payload["carrierTrackId"] = carrier_track.pk
    assert_kept_as_failed(refused(payload, gateway), "OPERATION_REQUIRED")


def test_operation_id_must_name_an_operation(line, gateway):
    assert_kept_as_failed(refused(make_event(operationId=987654), gateway), "OPERATION_NOT_FOUND")


def test_operation_id_cannot_step_around_the_route_step(line, gateway):
    other = OperationFactory(code="OP-OTHER")
    DataSpecFactory(operation=other, name="Peak Temperature")
    error = refused(make_event(operationId=other.pk), gateway)
    assert_kept_as_failed(error, "OPERATION_MISMATCH")


def test_operation_id_matching_the_route_step_is_accepted(line, gateway):
    outcome = receive_device_event(make_event(operationId=line.operation.pk), sent_by=gateway)
    assert outcome.record.operation == line.operation


def test_run_without_route_takes_the_operation_id(line, gateway):
    run = RunFactory(run_no="RUN-NO-ROUTE", route_version=None)
    unit = UnitFactory(sn="SN-NR-1", run=run)
    TrackFactory(unit=unit, step_no=40, station=line.station)
    payload = make_event(runNo="RUN-NO-ROUTE", unitSn="SN-NR-1", operationId=line.operation.pk)
    # Without a route step nothing is bound: any active spec of the operation may be named.
    payload["data"] = [{"specName": "Time Above Liquidus", "valueNumber": 60}]
    outcome = receive_device_event(payload, sent_by=gateway)
    assert outcome.values[0].spec == line.unbound


def test_spec_not_bound_to_the_step_is_refused_by_name_and_by_id(line, gateway):
    by_name = refused(
        make_event(data=[{"specName": "Time Above Liquidus", "valueNumber": 60}]), gateway
    )
    assert by_name.code == "SPEC_NOT_BOUND"
    by_id = refused(
        make_event(eventId="evt-2", data=[{"specId": line.unbound.pk, "valueNumber": 60}]),
        gateway,
    )
    assert by_id.code == "SPEC_NOT_BOUND"
    assert DataValue.objects.count() == 0
    assert IntegrationMessage.objects.filter(error_code="SPEC_NOT_BOUND").count() == 2


def test_spec_of_another_operation_is_refused(line, gateway):
    foreign = DataSpecFactory(operation=OperationFactory(code="OP-SPI"), name="Paste Height")
    error = refused(make_event(data=[{"specId": foreign.pk, "valueNumber": 120}]), gateway)
    assert_kept_as_failed(error, "SPEC_OPERATION_MISMATCH")


@pytest.mark.parametrize(
    "item",
    [
        {"specName": "No Such Spec", "valueNumber": 1},
        {"specId": 99999, "valueNumber": 1},
        {"specId": "__PEAK__", "specName": "Conveyor Speed", "valueNumber": 1},
    ],
)
def test_unknown_or_contradictory_spec_is_refused(line, gateway, item):
    if item.get("specId") == "__PEAK__":
        item = {**item, "specId": line.peak.pk}
    assert_kept_as_failed(refused(make_event(data=[item]), gateway), "SPEC_NOT_FOUND")


def test_inactive_spec_is_refused(line, gateway):
    DataSpec.objects.filter(pk=line.peak.pk).update(is_active=False)
    assert_kept_as_failed(refused(make_event(), gateway), "SPEC_NOT_FOUND")


def test_spec_id_and_name_naming_the_same_spec_are_accepted(line, gateway):
    item = {"specId": str(line.peak.pk), "specName": "Peak Temperature", "valueNumber": 245}
    outcome = receive_device_event(make_event(data=[item]), sent_by=gateway)
    assert outcome.values[0].spec == line.peak


def test_auto_event_cannot_write_a_manual_spec(line, gateway):
    item = {"specName": "Visual Check", "valueBoolean": True}
    assert_kept_as_failed(refused(make_event(data=[item]), gateway), "SPEC_METHOD_MISMATCH")


def test_manual_event_with_operator_writes_a_manual_spec(line, gateway):
    item = {"specName": "Visual Check", "valueBoolean": False}
    outcome = receive_device_event(
        make_event(source="MANUAL", operatorId="OP-77", data=[item]), sent_by=gateway
    )
    value = outcome.values[0]
    assert (value.value_boolean, value.judge, value.source) == (False, "FAIL", "MANUAL")
    assert outcome.record.operator_id == "OP-77"


def test_value_of_the_wrong_type_is_refused(line, gateway):
    item = {"specName": "Peak Temperature", "valueText": "245"}
    assert_kept_as_failed(refused(make_event(data=[item]), gateway), "VALUE_TYPE_MISMATCH")


def test_every_failing_item_is_listed_and_the_first_gives_the_code(line, gateway):
    items = [
        {"specName": "Peak Temperature", "valueNumber": 245},
        {"specName": "Conveyor Speed", "valueText": "fast"},
        {"specName": "Nope", "valueNumber": 1},
    ]
    error = refused(make_event(data=items), gateway)
    assert error.code == "VALUE_TYPE_MISMATCH"
    assert [(item["index"], item["code"]) for item in error.details["items"]] == [
        (1, "VALUE_TYPE_MISMATCH"),
        (2, "SPEC_NOT_FOUND"),
    ]
    # One bad item refuses the whole event: nothing of item 0 is written.
    assert DataValue.objects.count() == 0


def test_json_and_text_values_are_stored_in_their_columns(line, gateway):
    station = StationFactory(code="AOI-01")
    operation = OperationFactory(code="OP-AOI")
    DataSpecFactory(
        operation=operation, name="AOI Result", data_type="TEXT", spec={"allowed": ["PASS"]}
    )
    DataSpecFactory(operation=operation, name="Defect Map", data_type="JSON")
    run = RunFactory(run_no="RUN-AOI", route_version=None)
    unit = UnitFactory(sn="SN-AOI", run=run)
    TrackFactory(unit=unit, step_no=50, station=station)
    payload = make_event(
        runNo="RUN-AOI",
        unitSn="SN-AOI",
        stationCode="AOI-01",
        stepNo=50,
        operationId=operation.pk,
        data=[
            {"specName": "AOI Result", "valueText": "NG"},
            {"specName": "Defect Map", "valueJson": {"R12": "missing", "count": 1}},
        ],
    )
    outcome = receive_device_event(payload, sent_by=gateway)
    text, blob = outcome.values
    assert (text.value_text, text.judge) == ("NG", "FAIL")
    assert (blob.value_json, blob.judge) == ({"R12": "missing", "count": 1}, "NA")
