"""Rule 2: exactly-once writes by eventId, duplicates and conflicts (DESIGN.md §4)."""

import hashlib

import pytest

from execution.models import DataValue
from integration.ingestion import (
    EventIdConflict,
    canonical_event_hash,
    receive_device_event,
    validate_event_shape,
)
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event

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


def test_canonical_event_text_stays_what_earlier_versions_stored():
    # Records keep the hash of this text; if it changed, every retry of an event
    # written before an upgrade would be answered as a conflict.
    event = {
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
    text = (
        '{"data":[{"spec_id":"3","value_number":245},'
        '{"spec_name":"Profile","value_json":{"zones":[1,2.5,null,true]}},'
        '{"spec_name":"Verdict","value_boolean":false}],'
        '"equipment_id":"OVEN-7","event_id":"evt-pin-1",'
        '"event_time":"2026-01-24T10:00:00+00:00","operation_id":"4","source":"AUTO",'
        '"track_id":"17"}'
    )
    assert (
        canonical_event_hash(validate_event_shape(event))
        == hashlib.sha256(text.encode()).hexdigest()
    )
