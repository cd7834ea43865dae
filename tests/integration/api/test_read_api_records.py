"""The read API (docs/api.md): the device-data list, its filters and pages, and a record's detail.

Records are written through the real ingestion service, then read back over HTTP.
"""

from datetime import datetime

import pytest

from execution.models import DataSpec, DataValue
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import (
    TrackFactory,
    UnitFactory,
)
from tests.integration.api.read_api_shop import (
    DIGITS,
    LIST_URL,
    RECORD_FIELDS,
    assert_validation_error,
    at,
    event_ids,
    ingest,
    refused,
)

# --- GET /api/integration/device-data ------------------------------------------------


def test_list_answers_in_the_envelope_with_items_total_page_and_page_size(shop, quality_client):
    response = quality_client.get(LIST_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    # The replaced system's four fields, and two more for lists of millions (docs/api.md).
    assert set(body["data"]) == {
        "items", "total", "page", "pageSize", "totalIsEstimate", "nextCursor"
    }  # fmt: skip
    assert body["data"]["totalIsEstimate"] is False
    assert body["data"]["nextCursor"] is None
    assert body["data"]["total"] == DeviceDataRecord.objects.count() == 5
    assert body["data"]["page"] == 1
    assert body["data"]["pageSize"] == 30
    assert len(body["data"]["items"]) == 5


def test_list_orders_by_event_time_then_received_at_newest_first(shop, quality_client):
    response = quality_client.get(LIST_URL)

    assert event_ids(response) == ["evt-c", "evt-b", "evt-a", "evt-e", "evt-d"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"eventId": "evt-b"}, ["evt-b"]),
        ({"eventId": "evt-nope"}, []),
        ({"runNo": "RUN-2026-002"}, ["evt-c", "evt-d"]),
        ({"runNo": "RUN-2026-001"}, ["evt-b", "evt-a", "evt-e"]),
        ({"unitSn": "SN-0001"}, ["evt-b", "evt-a", "evt-e"]),
        ({"unitSn": "SN-0002"}, ["evt-c", "evt-d"]),
        ({"stationCode": "AOI-01"}, ["evt-b", "evt-d"]),
        ({"stationCode": "REFLOW-01"}, ["evt-c", "evt-a", "evt-e"]),
        ({"stepNo": "40"}, ["evt-c", "evt-a", "evt-e"]),
        ({"stepNo": "50"}, ["evt-b", "evt-d"]),
        ({"stepNo": "60"}, []),
        ({"source": "MANUAL"}, ["evt-c"]),
        ({"source": "AUTO"}, ["evt-b", "evt-a", "evt-e", "evt-d"]),
        ({"eventFrom": "2026-01-24T10:00:00Z"}, ["evt-c", "evt-b", "evt-a", "evt-e"]),
        ({"eventTo": "2026-01-24T10:00:00Z"}, ["evt-a", "evt-e", "evt-d"]),
        ({"eventFrom": "2026-01-24T11:00:00Z", "eventTo": "2026-01-24T11:00:00Z"}, ["evt-b"]),
        ({"eventFrom": "2026-01-24T12:00:00+01:00"}, ["evt-c", "evt-b"]),
        ({"eventTo": "2026-01-24T09:59:59.999999Z"}, ["evt-d"]),
    ],
    ids=lambda value: (
        "&".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None
    ),
)
def test_each_filter_narrows_the_list_to_exactly_the_matching_records(
    shop, quality_client, params, expected
):
    response = quality_client.get(LIST_URL, params)

    assert response.status_code == 200, response.content
    assert event_ids(response) == expected
    assert response.json()["data"]["total"] == len(expected)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"runNo": "RUN-2026-001", "stepNo": "40"}, ["evt-a", "evt-e"]),
        ({"runNo": "RUN-2026-002", "stationCode": "REFLOW-01"}, ["evt-c"]),
        ({"unitSn": "SN-0002", "source": "AUTO"}, ["evt-d"]),
        ({"stationCode": "AOI-01", "eventFrom": "2026-01-24T10:00:00Z"}, ["evt-b"]),
        ({"runNo": "RUN-2026-002", "eventId": "evt-a"}, []),
        (
            {
                "runNo": "RUN-2026-001",
                "unitSn": "SN-0001",
                "stationCode": "REFLOW-01",
                "stepNo": "40",
                "source": "AUTO",
                "eventFrom": "2026-01-24T10:00:00Z",
                "eventTo": "2026-01-24T10:00:00Z",
            },
            ["evt-a", "evt-e"],
        ),
    ],
)
def test_filters_combine_with_and(shop, quality_client, params, expected):
    response = quality_client.get(LIST_URL, params)

    assert response.status_code == 200, response.content
    assert event_ids(response) == expected
    assert response.json()["data"]["total"] == len(expected)


def test_page_size_splits_the_list_into_pages_in_order(shop, quality_client):
    pages = [quality_client.get(LIST_URL, {"pageSize": 2, "page": n}) for n in (1, 2, 3)]

    assert [event_ids(page) for page in pages] == [
        ["evt-c", "evt-b"],
        ["evt-a", "evt-e"],
        ["evt-d"],
    ]
    for number, page in enumerate(pages, start=1):
        data = page.json()["data"]
        assert (data["total"], data["page"], data["pageSize"]) == (5, number, 2)


def test_a_page_past_the_last_is_empty_with_the_right_total(shop, quality_client):
    response = quality_client.get(LIST_URL, {"pageSize": 2, "page": 4})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "data": {
            "items": [],
            "total": 5,
            "totalIsEstimate": False,
            "page": 4,
            "pageSize": 2,
            "nextCursor": None,
        },  # fmt: skip
    }


def test_pagination_applies_after_the_filters(shop, quality_client):
    response = quality_client.get(LIST_URL, {"source": "AUTO", "pageSize": 3, "page": 2})

    assert event_ids(response) == ["evt-d"]
    assert response.json()["data"]["total"] == 4


def test_page_size_of_one_hundred_is_allowed(shop, quality_client):
    response = quality_client.get(LIST_URL, {"pageSize": 100})

    assert response.status_code == 200, response.content
    assert response.json()["data"]["pageSize"] == 100
    assert len(event_ids(response)) == 5


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("stepNo", "abc"),
        ("stepNo", "4.5"),
        ("eventFrom", "notadate"),
        ("eventTo", "2026-13-45T99:00:00Z"),
        ("pageSize", "1000"),
        ("pageSize", "101"),
        ("pageSize", "0"),
        ("pageSize", "-1"),
        ("pageSize", "ten"),
        ("page", "0"),
        ("page", "-2"),
        ("page", "abc"),
        ("source", "FOO"),
        ("source", "auto"),
    ],
)
def test_a_bad_filter_value_is_a_validation_error_not_a_silent_default(
    shop, quality_client, parameter, value
):
    response = quality_client.get(LIST_URL, {parameter: value})

    assert_validation_error(response, parameter)
    assert "data" not in response.json()


def test_a_record_has_every_field_with_ids_as_digit_strings_and_times_in_utc(shop, quality_client):
    record = shop.records["evt-c"]

    response = quality_client.get(LIST_URL, {"eventId": "evt-c"})

    [item] = response.json()["data"]["items"]
    assert set(item) == RECORD_FIELDS
    assert item["id"] == str(record.pk)
    assert DIGITS.match(item["id"])
    assert item["trackId"] == str(record.track_id)
    assert DIGITS.match(item["trackId"])
    assert item["operationId"] == str(shop.line.operation.pk)
    assert DIGITS.match(item["operationId"])
    assert item["carrierTrackId"] is None
    assert item["eventTime"] == "2026-01-24T12:00:00Z"
    assert item["receivedAt"].endswith("Z")
    assert datetime.fromisoformat(item["receivedAt"]) == record.received_at
    assert item["source"] == "MANUAL"
    assert (item["runNo"], item["unitSn"], item["stationCode"], item["stepNo"]) == (
        "RUN-2026-002",
        "SN-0002",
        "REFLOW-01",
        40,
    )
    assert item["equipmentId"] == "EQ-01"
    assert item["operatorId"] == "OPR-7"
    assert item["data"] == [{"specName": "Visual Check", "valueBoolean": True}]
    assert item["meta"] == {"raw": "payload"}
    assert item["dataValuesCreated"] == 1
    assert item["duplicateCount"] == 0


def test_every_record_in_the_list_has_digit_ids_and_z_times(shop, quality_client):
    items = quality_client.get(LIST_URL).json()["data"]["items"]

    assert {item["id"] for item in items} == {str(r.pk) for r in shop.records.values()}
    for item in items:
        assert DIGITS.match(item["id"]) and DIGITS.match(item["trackId"])
        assert item["eventTime"].endswith("Z") and item["receivedAt"].endswith("Z")


def test_times_are_answered_in_utc_even_when_the_server_time_zone_is_not_utc(
    shop, quality_client, settings
):
    settings.TIME_ZONE = "Europe/Berlin"

    response = quality_client.get(LIST_URL, {"eventId": "evt-c"})

    [item] = response.json()["data"]["items"]
    assert item["eventTime"] == "2026-01-24T12:00:00Z"
    assert item["receivedAt"].endswith("Z")
    assert DeviceDataRecord.objects.get(event_id="evt-c").event_time == at(12)


def test_the_list_shows_the_duplicate_count_of_a_resent_event(shop, quality_client, gateway):
    receive_device_event(
        make_event(eventId="evt-a", eventTime="2026-01-24T10:00:00Z"), sent_by=gateway
    )

    [item] = quality_client.get(LIST_URL, {"eventId": "evt-a"}).json()["data"]["items"]

    assert item["duplicateCount"] == 1
    assert DeviceDataRecord.objects.get(event_id="evt-a").duplicate_count == 1
    assert DeviceDataRecord.objects.count() == 5


# --- GET /api/integration/device-data/{id} -------------------------------------------


def test_detail_shows_the_values_with_their_judgement_and_limits_at_the_time(
    line, quality_client, gateway
):
    record = ingest(
        make_event(
            eventId="evt-detail",
            data=[
                {
                    "specName": "Peak Temperature",
                    "valueNumber": 245,
                    "collectedAt": "2026-01-24T10:59:30+01:00",
                },
                {"specName": "Conveyor Speed", "valueNumber": 95},
            ],
        ),
        gateway,
    )
    # A later edit of the spec does not change what the stored judgement meant.
    DataSpec.objects.filter(pk=line.peak.pk).update(spec={"min": 250, "max": 260})

    response = quality_client.get(f"{LIST_URL}/{record.pk}")

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == RECORD_FIELDS | {"dataValues", "messages"}
    assert data["id"] == str(record.pk)
    assert data["eventId"] == "evt-detail"
    peak_value, conveyor_value = DataValue.objects.filter(
        source_ref="device-data:evt-detail"
    ).order_by("pk")
    assert data["dataValues"] == [
        {
            "id": str(peak_value.pk),
            "specId": str(line.peak.pk),
            "specName": "Peak Temperature",
            "valueNumber": 245.0,
            "valueText": None,
            "valueBoolean": None,
            "valueJson": None,
            "judge": "PASS",
            "alarmed": False,
            "limits": {
                "spec": {"min": 240, "max": 250, "target": 245, "unit": "C"},
                "alarm": {"min": 235, "max": 255, "action": "HOLD"},
            },
            "senderLimits": None,
            "collectedAt": "2026-01-24T09:59:30Z",
        },
        {
            "id": str(conveyor_value.pk),
            "specId": str(line.conveyor.pk),
            "specName": "Conveyor Speed",
            "valueNumber": 95.0,
            "valueText": None,
            "valueBoolean": None,
            "valueJson": None,
            "judge": "FAIL",
            "alarmed": False,
            "limits": {"spec": {"min": 70, "max": 90}, "alarm": None},
            "senderLimits": None,
            "collectedAt": "2026-01-24T10:00:00Z",
        },
    ]


def test_detail_shows_a_boolean_value_in_its_own_field(line, quality_client, gateway):
    record = ingest(
        make_event(
            eventId="evt-visual",
            source="MANUAL",
            operatorId="OPR-7",
            data=[{"specName": "Visual Check", "valueBoolean": False}],
        ),
        gateway,
    )

    [value] = quality_client.get(f"{LIST_URL}/{record.pk}").json()["data"]["dataValues"]

    assert value["valueBoolean"] is False
    assert value["valueNumber"] is None
    assert value["judge"] == "FAIL"
    assert DataValue.objects.get(source_ref="device-data:evt-visual").value_boolean is False


def test_detail_lists_the_failed_attempt_before_the_success_and_the_later_duplicate(
    line, quality_client, gateway
):
    event = make_event(eventId="evt-late-unit", unitSn="SN-0009")
    failure = refused(event, gateway)
    assert failure.code == "UNIT_NOT_FOUND"
    assert not DeviceDataRecord.objects.filter(event_id="evt-late-unit").exists()

    # The master data is fixed; the same event (same eventId) is sent again.
    TrackFactory(unit=UnitFactory(sn="SN-0009", run=line.run), step_no=40, station=line.station)
    record = ingest(event, gateway)
    receive_device_event(event, sent_by=gateway)  # a resend: a duplicate
    ingest(make_event(eventId="evt-other"), gateway)  # another event's messages stay out

    response = quality_client.get(f"{LIST_URL}/{record.pk}")

    assert response.status_code == 200, response.content
    messages = response.json()["data"]["messages"]
    stored = list(
        IntegrationMessage.objects.filter(dedupe_key="device-data:evt-late-unit").order_by("pk")
    )
    assert [m.status for m in stored] == ["FAILED", "SUCCESS", "DUPLICATE"]
    assert [(m["id"], m["status"], m["errorCode"]) for m in messages] == [
        (str(stored[0].pk), "FAILED", "UNIT_NOT_FOUND"),
        (str(stored[1].pk), "SUCCESS", ""),
        (str(stored[2].pk), "DUPLICATE", ""),
    ]
    for message in messages:
        assert set(message) == {"id", "status", "createdAt", "errorCode"}
        assert DIGITS.match(message["id"])
        assert message["createdAt"].endswith("Z")
    assert stored[0].resolved_at is not None
    assert response.json()["data"]["duplicateCount"] == 1


def test_detail_includes_a_failed_attempt_with_another_payload_under_the_same_event_id(
    line, quality_client, gateway
):
    failure = refused(
        make_event(eventId="evt-typo", data=[{"specName": "Peak Temp", "valueNumber": 245}]),
        gateway,
    )
    assert failure.code == "SPEC_NOT_FOUND"

    # A FAILED event does not use up its eventId: the corrected event is written.
    record = ingest(make_event(eventId="evt-typo"), gateway)

    data = quality_client.get(f"{LIST_URL}/{record.pk}").json()["data"]
    assert [(m["status"], m["errorCode"]) for m in data["messages"]] == [
        ("FAILED", "SPEC_NOT_FOUND"),
        ("SUCCESS", ""),
    ]
    assert [v["specName"] for v in data["dataValues"]] == ["Peak Temperature"]
    assert DeviceDataRecord.objects.filter(event_id="evt-typo").count() == 1


def test_an_unknown_record_id_is_not_found_in_the_envelope(shop, quality_client):
    missing = DeviceDataRecord.objects.order_by("-pk").first().pk + 1000

    response = quality_client.get(f"{LIST_URL}/{missing}")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert not DeviceDataRecord.objects.filter(pk=missing).exists()


def test_a_non_numeric_record_id_is_not_found_in_the_envelope(shop, quality_client):
    response = quality_client.get(f"{LIST_URL}/abc")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert DeviceDataRecord.objects.count() == 5
