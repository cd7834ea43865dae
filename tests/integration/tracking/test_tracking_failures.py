"""The database failing a track-in or track-out (integration/tracking/service.py over
execution/tracking_rows.py): a lock held past the lock timeout, a statement past the
statement timeout, a connection lost while the call waits. Each answers 503 with
nothing written, or is taken again on a new connection and written once; a re-send
then writes it once.

Needs PostgreSQL: a second session holds the unit's row, and the call runs on a
connection of its own in a thread, whose backend the test ends.
"""

import threading
import time

import pytest
from django.db import connection
from django.test import override_settings

from execution.models import DataSpec, DataValue, Track, Unit
from integration.ingestion.errors import EventNotWritten
from integration.models import IntegrationMessage, TrackingRecord
from integration.tracking.errors import TrackingCallRefused
from integration.tracking.service import receive_track_in, receive_track_out
from mes.database_errors import Cause
from tests.factories import UnitFactory, UserFactory
from tests.postgres import backends_waiting_on_a_lock, needs_postgresql, row_locked, second_session

pytestmark = [
    pytest.mark.postgres_only,
    needs_postgresql("a second session holds the unit's row lock"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SN = "SN-FAIL-0001"


@pytest.fixture
def unit(route_line):
    return UnitFactory(sn=SN, run=route_line.run, status="QUEUED", current_step_no=10)


@pytest.fixture
def operator(db):
    return UserFactory(username="op-fail")


def track_in_call(route_line, event_id="ti-fail"):
    return {"sn": SN, "runNo": route_line.run.run_no, "eventId": event_id}


def track_out_call(route_line, event_id="to-fail"):
    return {
        "sn": SN,
        "runNo": route_line.run.run_no,
        "result": "PASS",
        "eventId": event_id,
        "data": [{"specName": "Paste Height", "valueNumber": 120}],
    }


def written(event_id: str) -> tuple[int, int]:
    """(records, messages) of an eventId."""
    return (
        TrackingRecord.objects.filter(event_id=event_id).count(),
        IntegrationMessage.objects.filter(business_key__endswith=f":{event_id}").count(),
    )


@pytest.mark.parametrize(
    "timeouts, cause",
    [
        ({"INGEST_LOCK_TIMEOUT_MS": 300, "INGEST_STATEMENT_TIMEOUT_MS": 5000}, Cause.LOCK_TIMEOUT),
        (
            {"INGEST_LOCK_TIMEOUT_MS": 5000, "INGEST_STATEMENT_TIMEOUT_MS": 300},
            Cause.STATEMENT_TIMEOUT,
        ),
    ],
)
def test_a_locked_unit_is_a_503_at_the_first_timeout_and_nothing_is_written(
    route_line, unit, operator, timeouts, cause
):
    with override_settings(**timeouts), row_locked("execution_unit", unit.pk):
        started = time.monotonic()
        with pytest.raises(EventNotWritten) as refused:
            receive_track_in(track_in_call(route_line), station_code="SPI-01", sent_by=operator)
        waited = time.monotonic() - started

    assert refused.value.cause is cause
    assert refused.value.status_code == 503
    assert refused.value.details == {"cause": cause.value, "written": "nothing"}
    assert 0.25 < waited < 3, waited
    assert not Track.objects.filter(unit=unit).exists()
    assert written("ti-fail") == (0, 0)
    # Sent again once the lock is gone: written once.
    outcome = receive_track_in(track_in_call(route_line), station_code="SPI-01", sent_by=operator)
    assert outcome.is_duplicate is False
    assert Track.objects.get(unit=unit).pk == int(outcome.answer["trackId"])


def call_in_thread(receive, payload, operator) -> dict:
    """Run one call on a connection of its own; its outcome or error in the dict."""
    done = {}

    def run():
        try:
            done["outcome"] = receive(payload, station_code="SPI-01", sent_by=operator)
        except Exception as error:  # noqa: BLE001  (the test reads it)
            done["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    done["thread"] = thread
    return done


def waiting_other_than(ended: int, timeout: float = 10) -> list[int]:
    """The sessions waiting for a lock once one other than `ended` waits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        others = [pid for pid in backends_waiting_on_a_lock() if pid != ended]
        if others:
            return others
        time.sleep(0.02)
    return []


@pytest.mark.parametrize("action", ["track-in", "track-out"])
def test_a_connection_lost_while_waiting_for_the_unit_is_taken_again_and_written_once(
    route_line, unit, operator, action
):
    if action == "track-out":
        receive_track_in(track_in_call(route_line), station_code="SPI-01", sent_by=operator)
        receive, payload = receive_track_out, track_out_call(route_line)
    else:
        receive, payload = receive_track_in, track_in_call(route_line)

    with override_settings(INGEST_LOCK_TIMEOUT_MS=5000), row_locked("execution_unit", unit.pk):
        call = call_in_thread(receive, payload, operator)
        (waiting,) = backends_waiting_on_a_lock()
        with second_session() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [waiting])
        # The call's next try waits on a new connection; the lock is let go meanwhile.
        again = waiting_other_than(waiting)
    call["thread"].join(30)

    assert again and waiting not in again
    assert "error" not in call, call.get("error")
    outcome = call["outcome"]
    assert outcome.is_duplicate is False
    track = Track.objects.get(unit=unit)
    assert track.pk == int(outcome.answer["trackId"])
    assert (track.result, track.out_at is None) == (
        ("PASS", False) if action == "track-out" else (None, True)
    )
    assert written(payload["eventId"]) == (1, 1)
    assert DataValue.objects.filter(track=track).count() == (action == "track-out")
    # A re-send is its duplicate.
    repeat = receive(payload, station_code="SPI-01", sent_by=operator)
    assert repeat.is_duplicate and repeat.answer == {**outcome.answer, "isDuplicate": True}


def test_a_refusal_the_database_cannot_keep_now_is_a_503_not_a_refusal_without_trace(
    route_line, operator
):
    refused_call = {"sn": SN, "runNo": "RUN-NOT-THERE", "eventId": "ti-unkept"}
    with override_settings(INGEST_LOCK_TIMEOUT_MS=300), second_session() as session:
        # A maintenance job holds the messages table against inserts.
        session.execute("BEGIN")
        session.execute("LOCK TABLE integration_integrationmessage IN SHARE MODE")
        try:
            with pytest.raises(EventNotWritten) as unavailable:
                receive_track_in(refused_call, station_code="SPI-01", sent_by=operator)
        finally:
            session.execute("ROLLBACK")
    assert unavailable.value.cause is Cause.LOCK_TIMEOUT
    assert not IntegrationMessage.objects.exists()
    # Sent again once the table is free, the refusal is kept.
    with pytest.raises(TrackingCallRefused) as refused:
        receive_track_in(refused_call, station_code="SPI-01", sent_by=operator)
    assert refused.value.code == "RUN_NOT_FOUND"
    assert IntegrationMessage.objects.get().error_code == "RUN_NOT_FOUND"


def test_a_unit_tracked_in_while_its_run_completes_is_refused_not_left_in_a_completed_run(
    route_line, operator
):
    new_unit = {"sn": "SN-LATE-0001", "runNo": route_line.run.run_no, "eventId": "ti-late"}
    with second_session() as session:
        # The run's last unit finishing: its row locked and COMPLETED, not committed yet.
        session.execute("BEGIN")
        session.execute("SELECT 1 FROM execution_run WHERE id = %s FOR UPDATE", [route_line.run.pk])
        session.execute(
            "UPDATE execution_run SET status = 'COMPLETED' WHERE id = %s", [route_line.run.pk]
        )
        call = call_in_thread(receive_track_in, new_unit, operator)
        assert backends_waiting_on_a_lock(), "the track-in did not wait for the run"
        session.execute("COMMIT")
        call["thread"].join(10)

    assert not call["thread"].is_alive()
    assert call["error"].code == "RUN_NOT_AUTHORIZED"
    assert not Unit.objects.filter(sn="SN-LATE-0001").exists()


def test_a_call_that_fails_unexpectedly_while_its_failure_cannot_be_kept_is_a_503(
    route_line, unit, operator
):
    """The service fails on the call (limits stored as text: judging raises TypeError) and
    the messages table is locked when its FAILED message would be kept: answered 503,
    nothing written, send it again; never a 500 that leaves no trace (a sender does not
    send a 500 again)."""
    receive_track_in(track_in_call(route_line), station_code="SPI-01", sent_by=operator)
    DataSpec.objects.filter(pk=route_line.paste_height.pk).update(spec={"min": "100"})
    before = written("to-fail")

    with override_settings(INGEST_LOCK_TIMEOUT_MS=300), second_session() as lock:
        lock.execute("BEGIN")
        lock.execute("LOCK TABLE integration_integrationmessage IN ACCESS EXCLUSIVE MODE")
        try:
            with pytest.raises(EventNotWritten) as refused:
                receive_track_out(
                    track_out_call(route_line), station_code="SPI-01", sent_by=operator
                )
        finally:
            lock.execute("ROLLBACK")

    assert refused.value.status_code == 503
    assert refused.value.cause is Cause.LOCK_TIMEOUT
    assert written("to-fail") == before == (0, 0)
    assert Track.objects.get(unit=unit).out_at is None
