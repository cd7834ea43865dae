"""Rule 2: exactly-once writes by eventId, duplicates and conflicts (docs/ingestion.md)."""

import hashlib

import pytest
from django.db import connection
from django.utils import timezone

from execution.models import DataValue
from integration.ingestion.errors import EventIdConflict
from integration.ingestion.event_hash import CURRENT_VERSION, canonical_event_hash
from integration.ingestion.service import receive_device_event
from integration.ingestion.shape import validate_event_shape
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import DataSpecFactory

URL = "/api/integration/device-data"


def test_second_post_of_the_same_event_is_a_duplicate_of_the_original(line, gateway_client):
    first = gateway_client.post(URL, make_event(), format="json")
    second = gateway_client.post(URL, make_event(), format="json")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    original, repeat = first.json()["data"], second.json()["data"]
    assert original["isDuplicate"] is False and repeat["isDuplicate"] is True
    for field in ("id", "trackId", "carrierTrackId", "dataValuesCreated", "receivedAt", "values"):
        assert repeat[field] == original[field]
    record = DeviceDataRecord.objects.get()
    assert record.duplicate_count == 1 and record.last_duplicate_at is not None
    assert DataValue.objects.count() == 1
    duplicate = IntegrationMessage.objects.get(status=IntegrationMessage.Status.DUPLICATE)
    assert duplicate.record == record


def test_duplicate_count_grows_with_each_repeat(line, gateway):
    for _ in range(3):
        receive_device_event(make_event(), sent_by=gateway)
    record = DeviceDataRecord.objects.get()
    assert record.duplicate_count == 2
    assert IntegrationMessage.objects.filter(status="DUPLICATE").count() == 2


def test_meta_is_not_part_of_the_event(line, gateway):
    receive_device_event(make_event(meta={"raw": "first"}), sent_by=gateway)
    outcome = receive_device_event(make_event(meta={"raw": "retry", "attempt": 2}), sent_by=gateway)
    assert outcome.is_duplicate
    assert DeviceDataRecord.objects.get().meta == {"raw": "first"}


def test_same_eventid_with_another_value_is_a_conflict(line, gateway_client):
    gateway_client.post(URL, make_event(), format="json")
    changed = make_event(data=[{"specName": "Peak Temperature", "valueNumber": 246}])
    response = gateway_client.post(URL, changed, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "EVENT_ID_CONFLICT"
    record = DeviceDataRecord.objects.get()
    conflict = IntegrationMessage.objects.get(status=IntegrationMessage.Status.CONFLICT)
    assert error["details"] == {"messageId": str(conflict.pk), "recordId": str(record.pk)}
    assert conflict.record == record and conflict.error_code == "EVENT_ID_CONFLICT"
    assert conflict.payload["data"][0]["valueNumber"] == 246
    # Nothing else written: the record and its values are the first event's.
    assert record.duplicate_count == 0
    assert list(DataValue.objects.values_list("value_number", flat=True)) == [245.0]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"stepNo": 40}, {"stepNo": 40, "trackId": None, "operatorId": None}),
        ({"eventTime": "2026-01-24T10:00:00Z"}, {"eventTime": "2026-01-24T12:00:00+02:00"}),
        ({"eventTime": "2026-01-24T10:00:00Z"}, {"eventTime": "2026-01-24T10:00:00.000+00:00"}),
        (
            {"data": [{"specName": "Peak Temperature", "valueNumber": 245}]},
            {"data": [{"specName": "Peak Temperature", "valueNumber": 245.0}]},
        ),
        ({"operationId": 42}, {"operationId": "42"}),
        ({"unknownField": 1}, {"anotherUnknownField": 2}),
    ],
)
def test_canonical_event_treats_equal_values_alike(first, second):

    one = canonical_event_hash(validate_event_shape(make_event(**first)))
    two = canonical_event_hash(validate_event_shape(make_event(**second)))
    assert one == two


@pytest.mark.parametrize(
    "second",
    [
        {"eventTime": "2026-01-24T10:00:01Z"},
        {"equipmentId": "EQ-02"},
        {"data": [{"specName": "Peak Temperature", "valueNumber": 245.5}]},
        {"data": [{"specName": "Peak Temperature", "valueNumber": 245, "collectedAt": None}] * 2},
    ],
)
def test_canonical_event_tells_different_events_apart(second):

    one = canonical_event_hash(validate_event_shape(make_event()))
    two = canonical_event_hash(validate_event_shape(make_event(**second)))
    assert one != two


def test_conflict_through_the_service_raises_and_keeps_a_conflict_message(line, gateway):
    receive_device_event(make_event(), sent_by=gateway)
    with pytest.raises(EventIdConflict):
        receive_device_event(make_event(equipmentId="EQ-99"), sent_by=gateway)
    assert IntegrationMessage.objects.filter(status="CONFLICT").count() == 1
    assert DeviceDataRecord.objects.get().equipment_id == "EQ-01"


PINNED_EVENT = {
    "eventId": "evt-pin-1",
    "eventTime": "2026-01-24T11:00:00+01:00",
    "source": "AUTO",
    "trackId": 17,
    "operationId": "4",
    "equipmentId": "OVEN-7",
    "operatorId": None,
    "data": [
        {"specId": 3, "valueNumber": 245.0},
        {"specName": "Profile", "valueJson": {"zones": [1, 2.5, None, True], "b": None}},
        {"specName": "Verdict", "valueBoolean": False, "collectedAt": None},
    ],
    "meta": {"ignored": True},
}


def test_canonical_event_text_of_version_1_stays_what_records_of_version_1_stored():
    # Records keep the hash of this text; if it changed, every retry of an event
    # written before an upgrade would be answered as a conflict.
    text = (
        '{"data":[{"spec_id":"3","value_number":245},'
        '{"spec_name":"Profile","value_json":{"zones":[1,2.5,null,true]}},'
        '{"spec_name":"Verdict","value_boolean":false}],'
        '"equipment_id":"OVEN-7","event_id":"evt-pin-1",'
        '"event_time":"2026-01-24T10:00:00+00:00","operation_id":"4","source":"AUTO",'
        '"track_id":"17"}'
    )
    assert (
        canonical_event_hash(validate_event_shape(PINNED_EVENT), version=1)
        == hashlib.sha256(text.encode()).hexdigest()
    )


def test_canonical_event_text_of_version_2_keeps_value_json_as_sent():
    text = (
        '{"data":[{"spec_id":"3","value_number":245},'
        '{"spec_name":"Profile","value_json":{"b":null,"zones":[1,2.5,null,true]}},'
        '{"spec_name":"Verdict","value_boolean":false}],'
        '"equipment_id":"OVEN-7","event_id":"evt-pin-1",'
        '"event_time":"2026-01-24T10:00:00+00:00","operation_id":"4","source":"AUTO",'
        '"track_id":"17"}'
    )
    assert (
        canonical_event_hash(validate_event_shape(PINNED_EVENT))
        == hashlib.sha256(text.encode()).hexdigest()
    )


def profile_event(value_json, **overrides) -> dict:
    return make_event(data=[{"specName": "Profile", "valueJson": value_json}], **overrides)


@pytest.fixture
def profile(line):
    spec = DataSpecFactory(operation=line.operation, name="Profile", data_type="JSON", spec=None)
    line.step.data_specs.add(spec)
    return spec


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"zone": 3, "alarm": None}, {"zone": 3}),
        ({"track_id": 7}, {"track_id": "7"}),
        ({"readings": [1, None]}, {"readings": [1]}),
        ({"spec_id": "12"}, {"spec_id": 12}),
        ({"flag": True}, {"flag": 1}),
    ],
)
def test_a_resend_with_other_data_inside_value_json_is_a_conflict(profile, gateway, first, second):
    receive_device_event(profile_event(first), sent_by=gateway)

    with pytest.raises(EventIdConflict):
        receive_device_event(profile_event(second), sent_by=gateway)
    assert DeviceDataRecord.objects.get().duplicate_count == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"zone": 3, "alarm": None}, {"alarm": None, "zone": 3}),
        (
            {"outer": {"a": 1, "b": [2, {"c": None, "d": "x"}]}},
            {"outer": {"b": [2, {"d": "x", "c": None}], "a": 1}},
        ),
        ({"temperature": 245}, {"temperature": 245.0}),
    ],
)
def test_key_order_and_the_form_of_a_number_inside_value_json_do_not_make_a_conflict(
    profile, gateway, first, second
):
    receive_device_event(profile_event(first), sent_by=gateway)

    assert receive_device_event(profile_event(second), sent_by=gateway).is_duplicate


def written_as_before_hash_versions(record: DeviceDataRecord, event: dict) -> None:
    """Make a record what the code before versioned hashes wrote: the version-1 hash,
    and version 1, the column's database default (next test)."""
    DeviceDataRecord.objects.filter(pk=record.pk).update(
        payload_hash=canonical_event_hash(validate_event_shape(event), version=1),
        payload_hash_version=1,
    )


def test_a_record_inserted_by_code_that_knows_no_hash_version_is_version_1(line):
    # What the code before this column does while a deploy rolls out: it names
    # every column but this one.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO integration_devicedatarecord (event_id, event_time, source, run_no, "
            "unit_sn, station_code, equipment_id, operator_id, data, payload_hash, "
            "data_values_created, duplicate_count, received_at) "
            "VALUES ('evt-old-code', %s, 'AUTO', '', '', '', '', '', '[]', %s, 0, 0, %s)",
            [timezone.now(), "0" * 64, timezone.now()],
        )
    assert DeviceDataRecord.objects.get(event_id="evt-old-code").payload_hash_version == 1


def test_an_unchanged_resend_of_a_record_stored_before_versioned_hashes_is_a_duplicate(
    profile, gateway
):
    event = profile_event({"zone": 3, "alarm": None, "track_id": 7}, eventId="evt-old")
    outcome = receive_device_event(event, sent_by=gateway)
    written_as_before_hash_versions(outcome.record, event)
    assert DeviceDataRecord.objects.get().payload_hash_version == 1

    again = receive_device_event(event, sent_by=gateway)

    assert again.is_duplicate and again.record.pk == outcome.record.pk
    assert DeviceDataRecord.objects.get().duplicate_count == 1


def test_a_record_stored_before_versioned_hashes_still_tells_another_event_apart(profile, gateway):
    event = profile_event({"zone": 3}, eventId="evt-old-2")
    outcome = receive_device_event(event, sent_by=gateway)
    written_as_before_hash_versions(outcome.record, event)

    with pytest.raises(EventIdConflict):
        receive_device_event(profile_event({"zone": 4}, eventId="evt-old-2"), sent_by=gateway)


def test_new_records_keep_the_current_hash_version(profile, gateway):
    receive_device_event(profile_event({"zone": 3}), sent_by=gateway)
    assert DeviceDataRecord.objects.get().payload_hash_version == CURRENT_VERSION


def test_a_record_of_a_hash_version_this_release_does_not_know_answers_a_conflict(profile, gateway):
    # Written by a newer release, then the code was rolled back: the re-send cannot be
    # compared, so it is refused as a conflict (and kept) rather than failing the request.
    event = profile_event({"zone": 3}, eventId="evt-future")
    outcome = receive_device_event(event, sent_by=gateway)
    DeviceDataRecord.objects.filter(pk=outcome.record.pk).update(payload_hash_version=99)

    with pytest.raises(EventIdConflict):
        receive_device_event(event, sent_by=gateway)
    assert IntegrationMessage.objects.filter(status="CONFLICT").count() == 1
