"""POST /api/integration/device-data over HTTP: the acceptance scenarios, shape errors, cost."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution.models import DataValue, Track
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event

URL = "/api/integration/device-data"


def nothing_written():
    return (
        DeviceDataRecord.objects.count() == 0
        and DataValue.objects.count() == 0
        and IntegrationMessage.objects.count() == 0
    )


def test_auto_event_by_track_id_is_written_once_and_idempotent(line, gateway_client):
    """The replaced system's first acceptance scenario."""
    payload = {
        "eventId": "evt_20250101_001",
        "eventTime": "2026-01-24T10:00:00Z",
        "source": "AUTO",
        "trackId": line.track.pk,
        "data": [{"specName": "Peak Temperature", "valueNumber": 245}],
    }
    first = gateway_client.post(URL, payload, format="json")
    second = gateway_client.post(URL, payload, format="json")

    body = first.json()
    assert first.status_code == 200 and body["ok"] is True
    data = body["data"]
    assert data["trackId"] == str(line.track.pk) and data["carrierTrackId"] is None
    assert data["dataValuesCreated"] == 1 and data["receivedAt"].endswith("Z")
    assert data["values"] == [
        {
            "specId": str(line.peak.pk),
            "specName": "Peak Temperature",
            "judge": "PASS",
            "alarmed": False,
        }
    ]
    value = DataValue.objects.get()
    assert value.source == "AUTO" and value.track == line.track
    assert second.json()["data"]["isDuplicate"] is True
    assert DataValue.objects.count() == 1 and DeviceDataRecord.objects.count() == 1


def test_event_by_codes_writes_its_record_with_those_fields_and_creates_no_track(
    line, gateway_client
):
    """The replaced system's second acceptance scenario."""
    tracks_before = Track.objects.count()
    response = gateway_client.post(URL, make_event(), format="json")

    assert response.status_code == 200
    record = DeviceDataRecord.objects.get(pk=response.json()["data"]["id"])
    assert (record.run_no, record.unit_sn, record.station_code, record.step_no) == (
        "RUN-2026-001",
        "SN-0001",
        "REFLOW-01",
        40,
    )
    assert Track.objects.count() == tracks_before


def test_unknown_top_level_fields_are_ignored(line, gateway_client):
    response = gateway_client.post(
        URL, make_event(firmware="v2.1", plant={"name": "A"}), format="json"
    )
    assert response.status_code == 200
    assert DeviceDataRecord.objects.count() == 1


BAD_SHAPES = [
    ({"eventId": ""}, "eventId"),
    ({"eventId": "x" * 201}, "eventId"),
    ({"eventId": 12}, "eventId"),
    ({"eventTime": "2026-01-24T10:00:00"}, "eventTime"),
    ({"eventTime": "yesterday"}, "eventTime"),
    ({"source": "ROBOT"}, "source"),
    ({"data": []}, "data"),
    ({"data": {"specName": "x"}}, "data"),
    ({"data": [{"valueNumber": 1}]}, "data"),
    ({"data": [{"specName": "Peak Temperature", "valueNumber": "245"}]}, "data"),
    ({"data": [{"specName": "Peak Temperature", "valueBoolean": 1}]}, "data"),
    ({"data": [{"specName": "Peak Temperature", "valueText": 5}]}, "data"),
    ({"data": [{"specName": "Peak Temperature", "valueNumber": 1, "collectedAt": "noon"}]}, "data"),
    ({"data": [{"specName": "P", "valueNumber": 1}] * 1001}, "data"),
    ({"stepNo": 0}, "stepNo"),
    ({"stepNo": "40"}, "stepNo"),
    ({"stepNo": 40.5}, "stepNo"),
    ({"runNo": None}, "runNo"),
    ({"trackId": "12a"}, "trackId"),
    ({"trackId": -3}, "trackId"),
    ({"trackId": 1, "carrierTrackId": 2}, "carrierTrackId"),
    ({"operationId": True}, "operationId"),
    ({"source": "MANUAL"}, "operatorId"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_SHAPES)
def test_malformed_event_is_a_400_naming_the_field_and_stores_nothing(
    line, gateway_client, overrides, field
):
    response = gateway_client.post(URL, make_event(**overrides), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"] and error["message"]
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"eventId": NaN}',
        b'{"eventId": Infinity}',
        b'{"valueNumber": 1e400}',
        b'"just a string"',
        b"[1, 2]",
        b"\xff\xfe{}",
    ],
)
def test_unparsable_bodies_are_a_400_in_the_envelope(line, gateway_client, body):
    response = gateway_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert nothing_written()


def test_json_nested_deeper_than_the_bound_is_refused(line, gateway_client, settings):
    deep = {}
    for _ in range(settings.INGEST_MAX_JSON_DEPTH):
        deep = {"d": deep}
    response = gateway_client.post(URL, make_event(meta=deep), format="json")
    assert response.status_code == 400
    assert "nested" in response.json()["error"]["message"]
    assert nothing_written()


def test_wrong_content_type_is_a_415(line, gateway_client):
    response = gateway_client.post(URL, json.dumps(make_event()), content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert nothing_written()


def test_json_with_a_charset_parameter_is_accepted(line, gateway_client):
    response = gateway_client.post(
        URL, json.dumps(make_event()), content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 200


def test_empty_body_is_a_400(line, gateway_client):
    response = gateway_client.post(URL, b"", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_body_over_the_limit_is_a_413(line, gateway_client, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    payload = make_event(meta={"blob": "x" * 4096})
    response = gateway_client.post(URL, payload, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert nothing_written()


def test_a_new_event_costs_a_bounded_number_of_queries(
    line, gateway_client, django_assert_max_num_queries
):
    gateway_client.post(URL, make_event(eventId="warm-up"), format="json")  # key use noted
    payload = make_event(
        eventId="evt-cost",
        data=[
            {"specName": "Peak Temperature", "valueNumber": 245},
            {"specName": "Conveyor Speed", "valueNumber": 80},
        ],
    )
    # 1 for the key with its gateway (permissions are cached since the warm-up), 8
    # for the ingestion, and a savepoint pair because the test runs in a transaction.
    with django_assert_max_num_queries(11):
        response = gateway_client.post(URL, payload, format="json")
    assert response.status_code == 200
    assert DataValue.objects.filter(source_ref="device-data:evt-cost").count() == 2


def test_a_duplicate_costs_a_bounded_number_of_queries(
    line, gateway_client, django_assert_max_num_queries
):
    gateway_client.post(URL, make_event(), format="json")
    with django_assert_max_num_queries(10):
        response = gateway_client.post(URL, make_event(), format="json")
    assert response.json()["data"]["isDuplicate"] is True


def ingestion_statements(payload, sender) -> list[str]:
    """The SQL one event's ingestion runs, without the test transaction's savepoints."""
    with CaptureQueriesContext(connection) as captured:
        receive_device_event(payload, sent_by=sender)
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_ingesting_a_new_event_takes_at_most_eight_statements(line, gateway):
    payload = make_event(
        data=[
            {"specName": "Peak Temperature", "valueNumber": 245},
            {"specName": "Conveyor Speed", "valueNumber": 80},
        ]
    )
    statements = ingestion_statements(payload, gateway)
    # Reads: record, track, route step with its bindings, specs. Writes: record,
    # values, message, resolution of earlier failures.
    assert len(statements) <= 8, "\n".join(statements)
    assert DataValue.objects.count() == 2


def test_a_duplicate_takes_fewer_statements_than_a_new_event(line, gateway):
    receive_device_event(make_event(), sent_by=gateway)
    statements = ingestion_statements(make_event(), gateway)
    # Record lookup, message, duplicate count, original values, and the unit's holds: a
    # re-send answers the hold its original named (docs/holds.md).
    assert len(statements) <= 5, "\n".join(statements)
    assert DeviceDataRecord.objects.get().duplicate_count == 1


def test_the_written_out_answer_is_the_one_the_openapi_serializer_describes(line, gateway):
    from integration.answers import IngestionAnswerSerializer, ingestion_answer

    two_values = [
        {"specName": "Peak Temperature", "valueNumber": 260},
        {"specName": "Conveyor Speed", "valueNumber": 80},
    ]
    created = receive_device_event(make_event(data=two_values), sent_by=gateway)
    duplicate = receive_device_event(make_event(data=two_values), sent_by=gateway)
    by_track = receive_device_event(
        make_event(eventId="evt-by-track", trackId=str(line.track.pk)), sent_by=gateway
    )

    for outcome in (created, duplicate, by_track):
        assert ingestion_answer(outcome) == IngestionAnswerSerializer(outcome).data
    assert ingestion_answer(created)["values"][0]["judge"] == "FAIL"
    assert ingestion_answer(duplicate)["isDuplicate"] is True
    assert ingestion_answer(created)["receivedAt"].endswith("Z")
