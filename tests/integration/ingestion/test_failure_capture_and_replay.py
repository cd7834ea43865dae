"""Rule 9: refused events are kept as FAILED messages, resent or replayed once fixed."""

import pytest

from execution.models import DataValue
from integration.ingestion.errors import EventRefused, MessageNotReplayable
from integration.ingestion.service import receive_device_event, replay_failed_message
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import TrackFactory, UnitFactory

URL = "/api/integration/device-data"


def unknown_unit_event():
    return make_event(eventId="evt-late-unit", unitSn="SN-LATE")


def create_late_unit(line):
    unit = UnitFactory(sn="SN-LATE", run=line.run)
    return TrackFactory(unit=unit, step_no=40, station=line.station)


def test_refused_event_answers_422_with_the_kept_message_id(line, gateway_client):
    response = gateway_client.post(URL, unknown_unit_event(), format="json")

    assert response.status_code == 422
    error = response.json()["error"]
    failed = IntegrationMessage.objects.get()
    assert error["code"] == "UNIT_NOT_FOUND" and "SN-LATE" in error["message"]
    assert error["details"]["messageId"] == str(failed.pk)
    assert failed.status == "FAILED" and failed.resolved_at is None
    assert failed.payload == unknown_unit_event()
    assert failed.sent_by == gateway_client.user
    assert DeviceDataRecord.objects.count() == 0


def test_item_errors_are_listed_in_details(line, gateway_client):
    payload = make_event(data=[{"specName": "Peak Temperature", "valueText": "hot"}])
    error = gateway_client.post(URL, payload, format="json").json()["error"]
    assert error["details"]["items"] == [
        {
            "index": 0,
            "code": "VALUE_TYPE_MISMATCH",
            "message": error["details"]["items"][0]["message"],
        }
    ]
    assert "valueNumber" in error["details"]["items"][0]["message"]


def test_failed_event_succeeds_when_resent_after_the_unit_is_created(line, gateway_client):
    gateway_client.post(URL, unknown_unit_event(), format="json")
    gateway_client.post(URL, unknown_unit_event(), format="json")
    track = create_late_unit(line)

    response = gateway_client.post(URL, unknown_unit_event(), format="json")

    assert response.status_code == 200 and response.json()["data"]["isDuplicate"] is False
    record = DeviceDataRecord.objects.get()
    assert record.track == track
    failed = IntegrationMessage.objects.filter(status="FAILED")
    assert failed.count() == 2
    assert all(message.resolved_at is not None for message in failed)
    assert DataValue.objects.filter(track=track).count() == 1


def test_replaying_a_failed_message_writes_the_event_once_fixed(line, gateway, integration_admin):
    with pytest.raises(EventRefused) as refusal:
        receive_device_event(unknown_unit_event(), sent_by=gateway)
    failed = refusal.value.failed_message
    create_late_unit(line)

    outcome = replay_failed_message(failed, replayed_by=integration_admin)

    assert not outcome.is_duplicate
    record = DeviceDataRecord.objects.get()
    assert record.sent_by == gateway  # the record keeps the original sender
    assert outcome.message.replay_of == failed
    assert outcome.message.sent_by == integration_admin
    assert outcome.message.status == "SUCCESS"
    failed.refresh_from_db()
    assert failed.resolved_at is not None


def test_replay_that_fails_again_is_kept_and_points_back(line, gateway, integration_admin):
    with pytest.raises(EventRefused) as refusal:
        receive_device_event(unknown_unit_event(), sent_by=gateway)
    failed = refusal.value.failed_message

    with pytest.raises(EventRefused) as again:
        replay_failed_message(failed, replayed_by=integration_admin)

    retry = again.value.failed_message
    assert retry.replay_of == failed and retry.sent_by == integration_admin
    failed.refresh_from_db()
    assert failed.resolved_at is None
    assert DeviceDataRecord.objects.count() == 0


def test_replaying_a_message_whose_event_is_written_answers_as_duplicate(
    line, gateway, integration_admin
):
    with pytest.raises(EventRefused) as refusal:
        receive_device_event(unknown_unit_event(), sent_by=gateway)
    create_late_unit(line)
    receive_device_event(unknown_unit_event(), sent_by=gateway)

    outcome = replay_failed_message(refusal.value.failed_message, replayed_by=integration_admin)

    assert outcome.is_duplicate
    assert DeviceDataRecord.objects.get().duplicate_count == 1
    assert DataValue.objects.count() == 1


def test_only_failed_messages_can_be_replayed(line, gateway, integration_admin):
    outcome = receive_device_event(make_event(), sent_by=gateway)
    with pytest.raises(MessageNotReplayable):
        replay_failed_message(outcome.message, replayed_by=integration_admin)
    assert IntegrationMessage.objects.count() == 1
