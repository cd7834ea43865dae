"""Track-in and track-out exactly once (docs/api.md "Stations", exactly once): an eventId in
the body or an Idempotency-Key header (the body's wins); a re-send answers the first
answer again, another body under the id is a conflict, a refused call sent again after its
cause is fixed is written and resolves its FAILED attempt; without an id the unit's state
decides. On PostgreSQL, calls racing with one id write it once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from execution.models import DataValue, Run, Track
from integration.models import IntegrationMessage, TrackingRecord
from tests.conftest import requires_postgresql
from tests.factories import UserFactory
from tests.integration.api.stations_api import (
    accepted,
    malformed,
    post,
    refused,
    track_in,
    track_out,
    unit_state,
    written,
)

pytestmark = pytest.mark.django_db

SN = "SN-IDEM-0001"
RUN = "RUN-TRACK-001"
PASTE = [{"specName": "Paste Height", "valueNumber": 120}]


def _statuses(business_key: str) -> list[str]:
    return list(
        IntegrationMessage.objects.filter(business_key=business_key)
        .order_by("pk")
        .values_list("status", flat=True)
    )


def test_a_re_sent_track_in_answers_the_first_answer_and_tracks_once(route_line, operator):
    body = {"sn": SN, "runNo": RUN, "eventId": "ti-1"}
    first = post(operator, "SPI-01", "track-in", body)
    assert "Idempotent-Replayed" not in first

    again = post(operator, "SPI-01", "track-in", body)
    third = post(operator, "SPI-01", "track-in", body)

    assert again.status_code == third.status_code == 200
    assert again.json()["data"] == third.json()["data"] == {**accepted(first), "isDuplicate": True}
    assert again["Idempotent-Replayed"] == "true"
    assert Track.objects.count() == 1 and unit_state(SN) == ("IN_STATION", 10)
    record = TrackingRecord.objects.get()
    assert (record.kind, record.event_id, record.unit_sn, record.station_code) == (
        "TRACK_IN",
        "ti-1",
        SN,
        "SPI-01",
    )
    assert record.duplicate_count == 2 and record.last_duplicate_at is not None
    assert record.sent_by == operator.user
    assert _statuses("track-in:ti-1") == ["SUCCESS", "DUPLICATE", "DUPLICATE"]
    duplicate = IntegrationMessage.objects.filter(status="DUPLICATE").first()
    assert (duplicate.entity_type, duplicate.system) == ("TRACK_IN", "STATION")


def test_a_re_sent_track_out_writes_its_values_once_and_answers_as_first_after_the_unit_moved(
    route_line, operator
):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    body = {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": "to-1", "data": PASTE}
    first = accepted(post(operator, "SPI-01", "track-out", body))
    accepted(track_in(operator, "OVEN-01", SN, RUN))  # the unit went on meanwhile

    again = post(operator, "SPI-01", "track-out", body)

    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == {**first, "isDuplicate": True}
    assert first["status"] == "QUEUED" and unit_state(SN) == ("IN_STATION", 20)
    assert DataValue.objects.count() == 1
    assert Track.objects.filter(out_at__isnull=False).count() == 1
    assert TrackingRecord.objects.get(kind="TRACK_OUT").duplicate_count == 1
    assert _statuses("track-out:to-1") == ["SUCCESS", "DUPLICATE"]


def test_the_idempotency_key_header_makes_a_call_exactly_once(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    body = {"sn": SN, "runNo": RUN, "result": "PASS", "data": PASTE}

    first = accepted(post(operator, "SPI-01", "track-out", body, HTTP_IDEMPOTENCY_KEY="key-1"))
    again = post(operator, "SPI-01", "track-out", body, HTTP_IDEMPOTENCY_KEY="key-1")

    assert again.json()["data"] == {**first, "isDuplicate": True}
    assert TrackingRecord.objects.get(kind="TRACK_OUT").event_id == "key-1"
    assert DataValue.objects.get().source_ref == "track-out:key-1"
    message = IntegrationMessage.objects.get(status="SUCCESS", entity_type="TRACK_OUT")
    assert message.payload["eventId"] == "key-1"  # kept, so a replay is the same call


def test_the_bodys_event_id_wins_over_the_header(route_line, operator):
    body = {"sn": SN, "runNo": RUN, "eventId": "from-body"}
    first = accepted(post(operator, "SPI-01", "track-in", body, HTTP_IDEMPOTENCY_KEY="from-header"))

    # The same call sent again under the body's id, now as a header: a duplicate.
    again = post(
        operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN}, HTTP_IDEMPOTENCY_KEY="from-body"
    )

    assert TrackingRecord.objects.get().event_id == "from-body"
    assert again.json()["data"] == {**first, "isDuplicate": True}
    assert not IntegrationMessage.objects.filter(business_key__contains="from-header").exists()


def test_the_same_values_written_differently_are_the_same_call(route_line, operator):
    """A re-send may spell a number (120 or 120.0) or an instant (in another offset)
    differently, or leave out an optional field it sent as null: the same call, not a
    conflict."""
    accepted(track_in(operator, "SPI-01", SN, RUN))
    item = {"specName": "Paste Height", "valueNumber": 120, "collectedAt": "2026-01-24T10:00:00Z"}
    body = {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": "to-1", "data": [item]}
    accepted(post(operator, "SPI-01", "track-out", body))

    respelled = {
        **body,
        "data": [
            {
                "specName": "Paste Height",
                "valueNumber": 120.0,
                "collectedAt": "2026-01-24T11:00:00+01:00",
                "senderLimits": None,
            }
        ],
        "defectCode": None,
        "operatorId": None,
    }
    again = post(operator, "SPI-01", "track-out", respelled)

    assert again.status_code == 200, again.content
    assert again.json()["data"]["isDuplicate"] is True


CONFLICTING = [
    pytest.param("SPI-01", {"runNo": "RUN-OTHER"}, id="another run"),
    pytest.param("SPI-01", {"sn": "SN-IDEM-0002"}, id="another unit"),
    pytest.param("OVEN-01", {}, id="another station"),
    pytest.param("SPI-01", {"operatorId": "op-9"}, id="another operator"),
]


@pytest.mark.parametrize(("station", "changes"), CONFLICTING)
def test_another_track_in_under_a_used_id_is_a_conflict_that_moves_nothing(
    route_line, operator, station, changes
):
    body = {"sn": SN, "runNo": RUN, "operatorId": "op-7", "eventId": "ti-1"}
    accepted(post(operator, "SPI-01", "track-in", body))
    before = written()

    response = post(operator, station, "track-in", {**body, **changes})

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "EVENT_ID_CONFLICT" and "ti-1" in error["message"]
    kept = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    assert (kept.status, kept.entity_type, kept.error_code) == (
        "CONFLICT",
        "TRACK_IN",
        "EVENT_ID_CONFLICT",
    )
    assert kept.payload["stationCode"] == station
    tracks, open_tracks, values, records, messages = before
    assert written() == (tracks, open_tracks, values, records, messages + 1)
    assert TrackingRecord.objects.get().duplicate_count == 0
    assert not IntegrationMessage.objects.filter(status="FAILED").exists()


def test_another_track_out_under_a_used_id_is_a_conflict_that_writes_no_value(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    body = {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": "to-1", "data": PASTE}
    accepted(post(operator, "SPI-01", "track-out", body))
    accepted(track_in(operator, "OVEN-01", SN, RUN))

    response = post(operator, "OVEN-01", "track-out", {**body, "data": []})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EVENT_ID_CONFLICT"
    assert unit_state(SN) == ("IN_STATION", 20)  # its pass at the oven is still open
    assert DataValue.objects.count() == 1
    assert _statuses("track-out:to-1") == ["SUCCESS", "CONFLICT"]


def test_track_in_and_track_out_ids_are_apart(route_line, operator):
    """The same id on a track-in and a track-out names two calls, not one."""
    accepted(post(operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN, "eventId": "e-1"}))

    out = post(
        operator,
        "SPI-01",
        "track-out",
        {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": "e-1"},
    )

    assert accepted(out)["isDuplicate"] is False
    assert sorted(TrackingRecord.objects.values_list("kind", flat=True)) == [
        "TRACK_IN",
        "TRACK_OUT",
    ]


def test_a_refused_call_sent_again_after_its_cause_is_fixed_is_written_and_resolved(
    route_line, operator
):
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.PREP)
    body = {"sn": SN, "runNo": RUN, "eventId": "ti-early"}
    failed = refused(
        post(operator, "SPI-01", "track-in", body), 422, "RUN_NOT_AUTHORIZED", "TRACK_IN"
    )
    refused_again = refused(
        post(operator, "SPI-01", "track-in", body), 422, "RUN_NOT_AUTHORIZED", "TRACK_IN"
    )
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.AUTHORIZED)

    answer = accepted(post(operator, "SPI-01", "track-in", body))

    assert answer["isDuplicate"] is False and unit_state(SN) == ("IN_STATION", 10)
    for attempt in (failed, refused_again):
        attempt.refresh_from_db()
        assert attempt.resolved_at is not None
    assert _statuses("track-in:ti-early") == ["FAILED", "FAILED", "SUCCESS"]
    assert accepted(post(operator, "SPI-01", "track-in", body))["isDuplicate"] is True


def test_without_an_id_the_units_state_decides(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    refused(track_in(operator, "SPI-01", SN, RUN), 409, "UNIT_ALREADY_IN_STATION", "TRACK_IN")
    accepted(track_out(operator, "SPI-01", SN, RUN, data=PASTE))

    again = track_out(operator, "SPI-01", SN, RUN, data=PASTE)

    kept = refused(again, 409, "TRACK_NOT_FOUND", "TRACK_OUT")
    assert "nowhere" in kept.error_message
    assert not TrackingRecord.objects.exists()
    assert DataValue.objects.count() == 1
    # Calls without an id tie nothing together: each has a key of its own.
    keys = IntegrationMessage.objects.values_list("business_key", flat=True)
    assert len(set(keys)) == 4


def test_a_blank_event_id_is_malformed_and_null_means_none(route_line, operator):
    malformed(post(operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN, "eventId": ""}))

    accepted(post(operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN, "eventId": None}))

    assert not TrackingRecord.objects.exists()


# Racing calls, each on its own connection (PostgreSQL only).

RACERS = 12


def _post_concurrently(user, calls):
    """POST each (path, body) from its own thread at once; (status, body) in order."""
    barrier = threading.Barrier(len(calls))

    def send(index):
        client = APIClient()
        client.force_authenticate(user)
        path, body = calls[index]
        try:
            barrier.wait(timeout=30)
            response = client.post(path, body, format="json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, range(len(calls))))


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_re_sends_of_one_track_in_track_once(route_line):
    operator = UserFactory(username="op-race", groups=["Operators"])
    body = {"sn": SN, "runNo": RUN, "eventId": "ti-race"}

    results = _post_concurrently(operator, [("/api/stations/SPI-01/track-in", body)] * RACERS)

    assert [status for status, _ in results] == [200] * RACERS, results
    answers = [answer["data"] for _, answer in results]
    assert sum(not answer["isDuplicate"] for answer in answers) == 1
    assert len({answer["trackId"] for answer in answers}) == 1
    assert Track.objects.count() == 1
    assert TrackingRecord.objects.get().duplicate_count == RACERS - 1
    assert sorted(_statuses("track-in:ti-race")) == ["DUPLICATE"] * (RACERS - 1) + ["SUCCESS"]


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_track_ins_of_one_unit_without_an_id_open_one_pass(route_line):
    operator = UserFactory(username="op-race", groups=["Operators"])
    body = {"sn": SN, "runNo": RUN}

    results = _post_concurrently(operator, [("/api/stations/SPI-01/track-in", body)] * RACERS)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (RACERS - 1), results
    codes = {answer["error"]["code"] for status, answer in results if status == 409}
    assert codes == {"UNIT_ALREADY_IN_STATION"}
    assert Track.objects.count() == 1 and unit_state(SN) == ("IN_STATION", 10)
    assert IntegrationMessage.objects.filter(status="FAILED").count() == RACERS - 1


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_re_sends_of_one_track_out_write_its_values_once(route_line):
    operator = UserFactory(username="op-race", groups=["Operators"])
    client = APIClient()
    client.force_authenticate(operator)
    accepted(track_in(client, "SPI-01", SN, RUN))
    body = {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": "to-race", "data": PASTE}

    results = _post_concurrently(operator, [("/api/stations/SPI-01/track-out", body)] * RACERS)

    assert [status for status, _ in results] == [200] * RACERS, results
    assert sum(not answer["data"]["isDuplicate"] for _, answer in results) == 1
    assert DataValue.objects.count() == 1 and unit_state(SN) == ("QUEUED", 20)
    assert TrackingRecord.objects.get(kind="TRACK_OUT").duplicate_count == RACERS - 1
    assert not IntegrationMessage.objects.filter(status="FAILED").exists()


def test_an_idempotency_key_longer_than_an_event_id_may_be_is_a_400(route_line, operator):
    """The header is the call's eventId: 1–200 characters, as the body's."""
    response = post(
        operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN}, HTTP_IDEMPOTENCY_KEY="k" * 201
    )

    error = malformed(response)
    assert "Idempotency-Key" in error["details"], error
    assert written() == (0, 0, 0, 0, 0)
    accepted(
        post(
            operator, "SPI-01", "track-in", {"sn": SN, "runNo": RUN}, HTTP_IDEMPOTENCY_KEY="k" * 200
        )
    )
    assert TrackingRecord.objects.get().event_id == "k" * 200
