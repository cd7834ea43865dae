"""POST /api/integration/device-data/batch: per-event answers, isolation and cost."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from execution.models import DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.db import COPY_FROM_ROWS
from tests.conftest import make_event, requires_postgresql
from tests.factories import TrackFactory, UnitFactory, gateway_with_key

URL = "/api/integration/device-data/batch"
SINGLE_URL = "/api/integration/device-data"


def post_batch(client, events):
    return client.post(URL, {"events": events}, format="json")


def test_mixed_batch_answers_each_event_as_if_posted_alone(line, gateway_client):
    gateway_client.post(SINGLE_URL, make_event(eventId="evt-old"), format="json")
    events = [
        make_event(eventId="evt-new"),
        make_event(eventId="evt-old"),  # duplicate of an earlier post
        make_event(eventId="evt-old", equipmentId="EQ-02"),  # conflict with it
        make_event(eventId="evt-failed", unitSn="SN-UNKNOWN"),
        make_event(eventId="evt-malformed", stepNo="forty"),
        make_event(
            eventId="evt-new-2", data=[{"specName": "Peak Temperature", "valueNumber": 260}]
        ),
    ]

    response = post_batch(gateway_client, events)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["summary"] == {"created": 2, "duplicate": 1, "conflict": 1, "failed": 2}
    results = data["results"]
    assert [(r["index"], r["eventId"], r["status"]) for r in results] == [
        (0, "evt-new", "CREATED"),
        (1, "evt-old", "DUPLICATE"),
        (2, "evt-old", "CONFLICT"),
        (3, "evt-failed", "FAILED"),
        (4, "evt-malformed", "FAILED"),
        (5, "evt-new-2", "CREATED"),
    ]
    assert results[0]["data"]["isDuplicate"] is False
    assert results[1]["data"]["isDuplicate"] is True
    assert results[1]["data"]["id"] == str(DeviceDataRecord.objects.get(event_id="evt-old").pk)
    assert results[2]["error"]["code"] == "EVENT_ID_CONFLICT"
    assert results[3]["error"]["code"] == "UNIT_NOT_FOUND"
    assert results[4]["error"]["code"] == "VALIDATION_ERROR"
    assert "stepNo" in results[4]["error"]["details"]
    assert results[5]["data"]["values"][0]["judge"] == "FAIL"
    assert results[5]["data"]["values"][0]["alarmed"] is True

    assert set(DeviceDataRecord.objects.values_list("event_id", flat=True)) == {
        "evt-old",
        "evt-new",
        "evt-new-2",
    }
    assert DeviceDataRecord.objects.get(event_id="evt-old").duplicate_count == 1
    assert DataValue.objects.count() == 3
    statuses = dict(
        IntegrationMessage.objects.exclude(business_key="device-data:evt-old").values_list(
            "business_key", "status"
        )
    )
    assert statuses == {
        "device-data:evt-new": "SUCCESS",
        "device-data:evt-new-2": "SUCCESS",
        "device-data:evt-failed": "FAILED",
    }  # the malformed event stored nothing
    old_messages = IntegrationMessage.objects.filter(business_key="device-data:evt-old")
    assert sorted(old_messages.values_list("status", flat=True)) == [
        "CONFLICT",
        "DUPLICATE",
        "SUCCESS",
    ]


def test_each_message_keeps_its_own_event_as_received(line, gateway_client):
    events = [make_event(eventId="evt-a"), make_event(eventId="evt-b", unitSn="SN-NONE")]
    post_batch(gateway_client, events)
    written = IntegrationMessage.objects.get(business_key="device-data:evt-a")
    refused = IntegrationMessage.objects.get(business_key="device-data:evt-b")
    assert written.full_payload == events[0]
    assert refused.full_payload == refused.payload == events[1]


def test_repeat_within_a_batch_is_a_duplicate_of_the_earlier_event(line, gateway_client):
    events = [make_event(eventId="evt-r"), make_event(eventId="evt-r"), make_event(eventId="evt-r")]
    results = post_batch(gateway_client, events).json()["data"]["results"]

    assert [r["status"] for r in results] == ["CREATED", "DUPLICATE", "DUPLICATE"]
    assert len({r["data"]["id"] for r in results}) == 1
    assert results[2]["data"]["values"] == results[0]["data"]["values"]
    record = DeviceDataRecord.objects.get()
    assert record.duplicate_count == 2 and DataValue.objects.count() == 1


def test_different_event_with_an_eventid_used_earlier_in_the_batch_is_a_conflict(
    line, gateway_client
):
    events = [make_event(eventId="evt-c"), make_event(eventId="evt-c", equipmentId="EQ-9")]
    results = post_batch(gateway_client, events).json()["data"]["results"]
    assert [r["status"] for r in results] == ["CREATED", "CONFLICT"]
    assert DeviceDataRecord.objects.get().equipment_id == "EQ-01"


def test_failed_event_does_not_use_up_its_eventid_within_the_batch(line, gateway_client):
    events = [
        make_event(eventId="evt-f", unitSn="SN-UNKNOWN"),
        make_event(eventId="evt-f"),
    ]
    results = post_batch(gateway_client, events).json()["data"]["results"]
    assert [r["status"] for r in results] == ["FAILED", "CREATED"]
    failed = IntegrationMessage.objects.get(status="FAILED")
    assert failed.resolved_at is not None


def test_batch_resolves_earlier_failed_messages_of_its_events(line, gateway_client):
    gateway_client.post(SINGLE_URL, make_event(eventId="evt-late", unitSn="SN-LATE"), format="json")
    unit = UnitFactory(sn="SN-LATE", run=line.run)
    TrackFactory(unit=unit, step_no=40, station=line.station)
    results = post_batch(gateway_client, [make_event(eventId="evt-late", unitSn="SN-LATE")])
    assert results.json()["data"]["results"][0]["status"] == "CREATED"
    assert IntegrationMessage.objects.get(status="FAILED").resolved_at is not None


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": "not a list"},
        {"events": [make_event()] * 501},
        {"evts": [make_event()]},
        [make_event()],
    ],
    ids=["empty", "not-a-list", "too-many", "no-events", "bare-list"],
)
def test_malformed_envelope_is_a_400_for_the_whole_request(line, gateway_client, body):
    response = gateway_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert DeviceDataRecord.objects.count() == 0 and IntegrationMessage.objects.count() == 0


def test_depth_is_counted_from_each_event(line, gateway_client, settings):
    def nested(levels):
        value = {}
        for _ in range(levels - 2):  # the event and meta are the first two levels
            value = {"d": value}
        return value

    fits = make_event(eventId="evt-deep-ok", meta=nested(settings.INGEST_MAX_JSON_DEPTH))
    assert post_batch(gateway_client, [fits]).status_code == 200
    too_deep = make_event(eventId="evt-deep", meta=nested(settings.INGEST_MAX_JSON_DEPTH + 1))
    assert post_batch(gateway_client, [too_deep]).status_code == 400
    assert not DeviceDataRecord.objects.filter(event_id="evt-deep").exists()


def test_quality_staff_cannot_post_a_batch(line, quality_client):
    response = post_batch(quality_client, [make_event()])
    assert response.status_code == 403
    assert DeviceDataRecord.objects.count() == 0


def five_hundred_events(line, prefix="evt-bulk"):
    units = UnitFactory.create_batch(50, run=line.run)
    for unit in units:
        TrackFactory(unit=unit, step_no=40, station=line.station)
    return [
        make_event(
            eventId=f"{prefix}-{n:03d}",
            unitSn=units[n % 50].sn,
            data=[
                {"specName": "Peak Temperature", "valueNumber": 240 + n % 15},
                {"specName": "Conveyor Speed", "valueNumber": 80},
            ],
        )
        for n in range(500)
    ]


def insert_statements(model, rows: int) -> int:
    """How many statements the backend needs to insert `rows` rows: on PostgreSQL a
    COPY and the sequence read for its ids; elsewhere INSERTs of as many rows as
    the parameter limit allows (SQLite caps parameters per query)."""
    if connection.vendor == "postgresql" and rows >= COPY_FROM_ROWS:
        return 2
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    per_statement = connection.ops.bulk_batch_size(fields, [None] * rows)
    return -(-rows // per_statement)


def test_a_batch_of_500_new_events_costs_a_constant_number_of_queries(
    line, gateway_client, django_assert_max_num_queries
):
    events = five_hundred_events(line)
    gateway_client.post(SINGLE_URL, make_event(eventId="warm-up"), format="json")
    inserts = (
        insert_statements(DeviceDataRecord, 500)
        + insert_statements(DataValue, 1000)
        + insert_statements(IntegrationMessage, 500)
    )
    # 1 for the key with its gateway (permissions cached by the warm-up), 4 reads (records, tracks,
    # route steps, specs), the bulk inserts (one each on PostgreSQL), 1 update of
    # earlier failures, and a savepoint pair because the test runs in a
    # transaction. No per-event query.
    with django_assert_max_num_queries(1 + 4 + inserts + 1 + 2):
        response = post_batch(gateway_client, events)
    assert response.json()["data"]["summary"]["created"] == 500
    assert DataValue.objects.filter(source_ref__startswith="device-data:evt-bulk").count() == 1000


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_batch_and_single_posts_of_the_same_events_interleaved_write_each_once(line):
    """Each event is written once, and every answer says truly what happened to it. On a
    loaded machine the database may take too long for some events of a batch: those are
    answered 503 (not written, send again), never counted as written or duplicated."""
    events = five_hundred_events(line, prefix="evt-mix")[:120]
    _, key = gateway_with_key("gw-interleave")
    barrier = threading.Barrier(4)

    def client():
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return api

    def batch_sender(chunk):
        try:
            barrier.wait(timeout=30)
            response = post_batch(client(), chunk)
            assert response.status_code == 200, response.json()
            return [
                (result["eventId"], result["status"], result.get("error", {}).get("code"))
                for result in response.json()["data"]["results"]
            ]
        finally:
            connection.close()

    def single_sender(chunk):
        try:
            barrier.wait(timeout=30)
            api = client()
            answers = []
            for event in chunk:
                response = api.post(SINGLE_URL, event, format="json")
                body = response.json()
                if response.status_code == 200:
                    status = "DUPLICATE" if body["data"]["isDuplicate"] else "CREATED"
                    answers.append((event["eventId"], status, None))
                else:
                    answers.append((event["eventId"], "FAILED", body["error"]["code"]))
            return answers
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(batch_sender, events),
            pool.submit(batch_sender, list(reversed(events))),
            pool.submit(single_sender, events[::2]),
            pool.submit(single_sender, list(reversed(events))[::3]),
        ]
        answers = [answer for future in futures for answer in future.result()]

    assert len(answers) == 120 * 2 + len(events[::2]) + len(events[::3])
    not_written = [answer for answer in answers if answer[1] == "FAILED"]
    assert {code for _, _, code in not_written} <= {"SERVICE_UNAVAILABLE"}
    created = Counter(event_id for event_id, status, _ in answers if status == "CREATED")
    duplicates = Counter(event_id for event_id, status, _ in answers if status == "DUPLICATE")
    records = dict(DeviceDataRecord.objects.values_list("event_id", "duplicate_count"))
    # Each event written at most once, by the one answer that said CREATED.
    assert set(created.values()) == {1}
    assert set(records) == set(created)
    assert {event_id: duplicates[event_id] for event_id in records} == records
    assert DataValue.objects.count() == 2 * len(records)
    assert IntegrationMessage.objects.filter(status="SUCCESS").count() == len(records)
    # Every event was in both batches: only an overloaded database leaves one unwritten.
    assert len(records) >= 120 - len(not_written)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="array parameters are PostgreSQL's; on SQLite a set is an IN list of its length",
)
def test_batches_of_any_size_read_with_the_same_statements(line, gateway_client):
    # One statement text per lookup, whatever the batch size, so PostgreSQL parses and
    # plans it once (prepared) instead of once per number of events.
    events = five_hundred_events(line, prefix="evt-sizes")
    post_batch(gateway_client, events[:2])  # warms the permission cache

    def reads_of(batch):
        statements = []

        def record(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            assert post_batch(gateway_client, batch).status_code == 200
        # (the ids for COPY come from the sequences: not a lookup)
        return [sql for sql in statements if sql.startswith("SELECT") and "nextval" not in sql]

    reads_of_three, reads_of_forty = reads_of(events[2:5]), reads_of(events[5:45])
    # The event ids, the units' passes, the specs (the gateway's key is kept by the
    # process since the first post: not read again).
    assert len(reads_of_three) >= 3
    assert reads_of_three == reads_of_forty
