"""The read API (docs/api.md): the messages list, its filters and pages.

Records are written through the real ingestion service, then read back over HTTP.
"""

from datetime import datetime

import pytest

from integration.ingestion.errors import EventIdConflict
from integration.ingestion.service import receive_device_event, replay_failed_message
from integration.models import IntegrationMessage
from tests.conftest import make_event
from tests.factories import (
    TrackFactory,
    UnitFactory,
)
from tests.integration.api.read_api_shop import (
    DIGITS,
    MESSAGE_FIELDS,
    MESSAGES_URL,
    assert_validation_error,
    at,
    ingest,
    refused,
)

# --- GET /api/integration/messages ---------------------------------------------------


@pytest.fixture
def messages(line, gateway):
    """SUCCESS, FAILED, DUPLICATE and CONFLICT attempts, created an hour apart."""
    record = ingest(make_event(eventId="evt-a"), gateway)
    refused(make_event(eventId="evt-x", unitSn="SN-0404"), gateway)
    receive_device_event(make_event(eventId="evt-a"), sent_by=gateway)
    with pytest.raises(EventIdConflict):
        receive_device_event(
            make_event(eventId="evt-a", data=[{"specName": "Peak Temperature", "valueNumber": 1}]),
            sent_by=gateway,
        )
    by_status = {m.status: m for m in IntegrationMessage.objects.all()}
    assert set(by_status) == {"SUCCESS", "FAILED", "DUPLICATE", "CONFLICT"}
    for hour, status in enumerate(["SUCCESS", "FAILED", "DUPLICATE", "CONFLICT"], start=10):
        IntegrationMessage.objects.filter(pk=by_status[status].pk).update(created_at=at(hour))
        by_status[status].refresh_from_db()
    by_status["record"] = record
    return by_status


def statuses(response) -> list[str]:
    return [item["status"] for item in response.json()["data"]["items"]]


def test_messages_list_every_attempt_newest_first_in_the_envelope(messages, quality_client):
    response = quality_client.get(MESSAGES_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert (body["data"]["total"], body["data"]["page"], body["data"]["pageSize"]) == (4, 1, 30)
    assert statuses(response) == ["CONFLICT", "DUPLICATE", "FAILED", "SUCCESS"]
    assert IntegrationMessage.objects.count() == 4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "FAILED"}, ["FAILED"]),
        ({"status": "SUCCESS"}, ["SUCCESS"]),
        ({"status": "CONFLICT"}, ["CONFLICT"]),
        ({"system": "DEVICE"}, ["CONFLICT", "DUPLICATE", "FAILED", "SUCCESS"]),
        ({"entityType": "DEVICE_DATA"}, ["CONFLICT", "DUPLICATE", "FAILED", "SUCCESS"]),
        ({"businessKey": "device-data:evt-a"}, ["CONFLICT", "DUPLICATE", "SUCCESS"]),
        ({"businessKey": "device-data:evt-x"}, ["FAILED"]),
        ({"businessKey": "evt-a"}, []),
        ({"createdFrom": "2026-01-24T11:00:00Z"}, ["CONFLICT", "DUPLICATE", "FAILED"]),
        ({"createdTo": "2026-01-24T11:00:00Z"}, ["FAILED", "SUCCESS"]),
        (
            {"createdFrom": "2026-01-24T11:00:00Z", "createdTo": "2026-01-24T12:00:00Z"},
            ["DUPLICATE", "FAILED"],
        ),
        ({"createdFrom": "2026-01-24T13:00:00+01:00"}, ["CONFLICT", "DUPLICATE"]),
        ({"businessKey": "device-data:evt-a", "status": "DUPLICATE"}, ["DUPLICATE"]),
        ({"businessKey": "device-data:evt-x", "status": "SUCCESS"}, []),
    ],
)
def test_each_message_filter_narrows_the_list_to_exactly_the_matching_attempts(
    messages, quality_client, params, expected
):
    response = quality_client.get(MESSAGES_URL, params)

    assert response.status_code == 200, response.content
    assert statuses(response) == expected
    assert response.json()["data"]["total"] == len(expected)


def test_a_message_item_has_every_field_and_no_payload(messages, quality_client):
    items = quality_client.get(MESSAGES_URL).json()["data"]["items"]
    by_status = {item["status"]: item for item in items}

    success, failed = messages["SUCCESS"], messages["FAILED"]
    for item in items:
        assert set(item) == MESSAGE_FIELDS
        assert DIGITS.match(item["id"])
        assert item["createdAt"].endswith("Z")
    assert by_status["SUCCESS"] == {
        "id": str(success.pk),
        "direction": "IN",
        "system": "DEVICE",
        "entityType": "DEVICE_DATA",
        "businessKey": "device-data:evt-a",
        "dedupeKey": "device-data:evt-a",
        "status": "SUCCESS",
        "errorCode": "",
        "errorMessage": "",
        "recordId": str(messages["record"].pk),
        "replayOf": None,
        "resolvedAt": None,
        "sentBy": "gw-reflow-1",
        "createdAt": "2026-01-24T10:00:00Z",
        "acknowledgedAt": None,
        "acknowledgedBy": None,
        "acknowledgementNote": "",
    }
    assert by_status["FAILED"]["id"] == str(failed.pk)
    assert by_status["FAILED"]["errorCode"] == "UNIT_NOT_FOUND"
    assert by_status["FAILED"]["errorMessage"] == failed.error_message != ""
    assert by_status["FAILED"]["recordId"] is None
    assert by_status["CONFLICT"]["errorCode"] == "EVENT_ID_CONFLICT"
    assert by_status["CONFLICT"]["recordId"] == str(messages["record"].pk)
    assert by_status["DUPLICATE"]["recordId"] == str(messages["record"].pk)


def test_a_replayed_message_names_the_failed_attempt_and_the_admin_who_replayed(
    messages, line, quality_client, integration_admin
):
    TrackFactory(unit=UnitFactory(sn="SN-0404", run=line.run), step_no=40, station=line.station)
    outcome = replay_failed_message(messages["FAILED"], replayed_by=integration_admin)

    response = quality_client.get(MESSAGES_URL, {"businessKey": "device-data:evt-x"})

    by_status = {item["status"]: item for item in response.json()["data"]["items"]}
    assert set(by_status) == {"FAILED", "SUCCESS"}
    assert by_status["SUCCESS"]["replayOf"] == str(messages["FAILED"].pk)
    assert by_status["SUCCESS"]["sentBy"] == "integration-admin"
    assert by_status["SUCCESS"]["recordId"] == str(outcome.record.pk)
    assert by_status["FAILED"]["resolvedAt"].endswith("Z")
    failed = IntegrationMessage.objects.get(pk=messages["FAILED"].pk)
    assert datetime.fromisoformat(by_status["FAILED"]["resolvedAt"]) == failed.resolved_at
    assert outcome.record.sent_by.username == "gw-reflow-1"


def test_messages_are_paginated_like_records(messages, quality_client):
    second = quality_client.get(MESSAGES_URL, {"pageSize": 3, "page": 2})
    past = quality_client.get(MESSAGES_URL, {"pageSize": 3, "page": 3})

    assert statuses(second) == ["SUCCESS"]
    assert past.status_code == 200
    assert past.json()["data"] == {
        "items": [], "total": 4, "totalIsEstimate": False, "page": 3, "pageSize": 3,
        "nextCursor": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("status", "BROKEN"),
        ("status", "failed"),
        ("system", "MES"),
        ("entityType", "UNIT"),
        ("createdFrom", "notadate"),
        ("createdTo", "yesterday"),
        ("pageSize", "1000"),
        ("page", "0"),
    ],
)
def test_a_bad_message_filter_value_is_a_validation_error(
    messages, quality_client, parameter, value
):
    response = quality_client.get(MESSAGES_URL, {parameter: value})

    assert_validation_error(response, parameter)
    assert IntegrationMessage.objects.count() == 4
