"""Group commit: single events posted at the same time are received together, each

One piece at 500 lines: the group's rules and its faults share the concurrent-post
harness and the second-session fixtures below.
still judged, written and answered on its own, and one event's trouble with the
database stays its own (integration/ingestion/group_commit.py).

The faults are real: a row lock held by a second session, a statement timeout,
a connection terminated by the server. They need PostgreSQL.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from execution.models import DataSpec, DataValue
from integration.ingestion import service
from integration.ingestion.errors import EventFailedUnexpectedly, EventNotWritten, EventRefused
from integration.ingestion.group_commit import GroupCommit
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.database_errors import CommitUncertain, bounded_transaction
from tests.conftest import make_event, requires_postgresql
from tests.factories import TrackFactory, UnitFactory, gateway_with_key
from tests.integration.ingestion.test_concurrency import post_concurrently
from tests.postgres import backends_waiting_on_a_lock, needs_postgresql, row_locked, second_session

URL = "/api/integration/device-data"
RECORDS = "integration_devicedatarecord"
live_database = pytest.mark.django_db(transaction=True, serialized_rollback=True)
real_faults = needs_postgresql(
    "real faults (a row lock held by a second session, lock and statement timeouts, "
    "a connection terminated by the server)"
)


def queue_while_a_group_is_written(groups: GroupCommit, submissions):
    """Submit each (payload, sender) from its own thread while the writer is busy,
    as if another group were being written, then hand the queued events on as the
    next group, as a finishing writer does; returns each answer (an Attempt or the
    exception raised) in submission order."""
    with groups._lock:
        groups._writing = True

    def submit(payload, sender):
        try:
            return groups.receive(payload, sender)
        except Exception as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(submissions)) as pool:
        futures = []
        for payload, sender in submissions:
            futures.append(pool.submit(submit, payload, sender))
            deadline = time.monotonic() + 10
            while len(groups._queue) < len(futures) and time.monotonic() < deadline:
                time.sleep(0.005)
        assert len(groups._queue) == len(submissions)
        with groups._lock:
            following = groups._take()
            following[0].group = following
        following[0].woken.set()
        return [future.result(timeout=30) for future in futures]


@pytest.fixture
def patient_groups(settings):
    """Queued events wait for their group as long as a test needs to line them up."""
    settings.INGEST_GROUP_WAIT_MS = 30_000


def counted_groups():
    sizes = []

    def receive_group(payloads, senders):
        sizes.append(len(payloads))
        return service._receive_group(payloads, senders)

    return GroupCommit(receive_group, service._receive_one), sizes


@live_database
def test_events_queued_during_a_write_are_received_as_one_list_each_with_its_own_answer(
    line, patient_groups
):
    reflow, _ = gateway_with_key("gw-reflow")
    oven, _ = gateway_with_key("gw-oven")
    receive_device_event(make_event(eventId="evt-earlier"), sent_by=reflow)
    groups, sizes = counted_groups()

    answers = queue_while_a_group_is_written(
        groups,
        [
            (make_event(eventId="evt-new"), reflow),
            (make_event(eventId="evt-earlier"), oven),
            (make_event(eventId="evt-lost", unitSn="SN-UNKNOWN"), reflow),
            (make_event(eventId=""), oven),
            (make_event(eventId="evt-new"), oven),
        ],
    )

    assert sizes == [5]
    new, earlier, lost, malformed, repeat = answers
    assert (new.status, new.record.event_id, new.index) == ("CREATED", "evt-new", 0)
    assert (earlier.status, earlier.record.event_id) == ("DUPLICATE", "evt-earlier")
    assert lost.status == "FAILED" and isinstance(lost.error, EventRefused)
    assert lost.error.code == "UNIT_NOT_FOUND"
    assert malformed.status == "FAILED" and isinstance(malformed.error, ValidationError)
    assert (repeat.status, repeat.record.pk) == ("DUPLICATE", new.record.pk)
    # Written once each, by the sender of each attempt.
    record = DeviceDataRecord.objects.get(event_id="evt-new")
    assert record.sent_by == reflow and record.duplicate_count == 1
    assert DataValue.objects.filter(source_ref="device-data:evt-new").count() == 1
    senders = {
        (message.business_key, message.status): message.sent_by.username
        for message in IntegrationMessage.objects.select_related("sent_by")
    }
    assert senders[("device-data:evt-new", "SUCCESS")] == "gw-reflow"
    assert senders[("device-data:evt-new", "DUPLICATE")] == "gw-oven"
    assert senders[("device-data:evt-earlier", "DUPLICATE")] == "gw-oven"
    assert senders[("device-data:evt-lost", "FAILED")] == "gw-reflow"


@needs_postgresql("three requests then write alone at once; SQLite's lock serialises them")
@live_database
def test_an_event_the_service_fails_on_fails_alone_and_the_rest_of_its_group_is_written(
    line, patient_groups, caplog
):
    # Limits stored as text past the model's checks (an SQL data fix): judging a Conveyor
    # Speed value raises TypeError, a bug's way to fail, not the database's.
    DataSpec.objects.filter(pk=line.conveyor.pk).update(spec={"min": "70"})
    reflow, _ = gateway_with_key("gw-reflow")
    oven, _ = gateway_with_key("gw-oven")
    groups, sizes = counted_groups()
    poison = make_event(
        eventId="evt-poison", data=[{"specName": "Conveyor Speed", "valueNumber": 80}]
    )

    answers = queue_while_a_group_is_written(
        groups,
        [
            (make_event(eventId="evt-a"), reflow),
            (poison, oven),
            (make_event(eventId="evt-b"), reflow),
        ],
    )

    assert sizes == [3]  # the group, failed; then each event alone, outside the group
    first, failed, last = answers
    assert (first.status, last.status) == ("CREATED", "CREATED")
    assert failed.status == "FAILED" and isinstance(failed.error, EventFailedUnexpectedly)
    assert failed.error.status_code == 500  # to the poison's own request only
    assert set(DeviceDataRecord.objects.values_list("event_id", flat=True)) == {"evt-a", "evt-b"}
    kept = IntegrationMessage.objects.get(status="FAILED")
    assert (kept.business_key, kept.error_code) == ("device-data:evt-poison", "INTERNAL_ERROR")
    assert "A group of 3 events failed; each again alone" in caplog.text


@real_faults
@live_database
def test_an_event_waiting_on_a_locked_row_fails_alone_and_the_rest_of_its_group_is_written(
    line, patient_groups, settings
):
    settings.INGEST_GROUP_LOCK_TIMEOUT_MS = 100
    settings.INGEST_LOCK_TIMEOUT_MS = 300
    gateway, _ = gateway_with_key("gw-reflow")
    locked = receive_device_event(make_event(eventId="evt-locked"), sent_by=gateway).record
    groups, sizes = counted_groups()

    with row_locked(RECORDS, locked.pk):
        answers = queue_while_a_group_is_written(
            groups,
            [
                (make_event(eventId="evt-new-1"), gateway),
                (make_event(eventId="evt-locked"), gateway),  # a re-send: its count is locked
                (make_event(eventId="evt-lost", unitSn="SN-UNKNOWN"), gateway),
                (make_event(eventId="evt-new-2"), gateway),
            ],
        )

    assert sizes == [4]  # one group; then each event alone, in its own request's thread
    new_1, resend, lost, new_2 = answers
    assert (new_1.status, new_2.status) == ("CREATED", "CREATED")
    assert isinstance(lost.error, EventRefused)
    error = resend.error
    assert isinstance(error, EventNotWritten) and error.status_code == 503
    assert error.details == {"cause": "lock timeout", "written": "nothing"}
    assert "Nothing of this event was written" in error.message
    # Written: the new events and the refused one's FAILED message, once each;
    # nothing of the re-send: no DUPLICATE message, its count unchanged.
    assert set(DeviceDataRecord.objects.values_list("event_id", flat=True)) == {
        "evt-locked",
        "evt-new-1",
        "evt-new-2",
    }
    assert DeviceDataRecord.objects.get(event_id="evt-locked").duplicate_count == 0
    statuses = sorted(IntegrationMessage.objects.values_list("business_key", "status"))
    assert statuses == [
        ("device-data:evt-locked", "SUCCESS"),
        ("device-data:evt-lost", "FAILED"),
        ("device-data:evt-new-1", "SUCCESS"),
        ("device-data:evt-new-2", "SUCCESS"),
    ]


def post_in_background(key: str, payload: dict):
    """POST from another thread; returns the thread and a dict that gets the answer
    and the seconds it took."""
    result = {}

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        started = time.monotonic()
        try:
            result["response"] = client.post(URL, payload, format="json")
        finally:
            result["seconds"] = time.monotonic() - started
            connection.close()

    thread = threading.Thread(target=post)
    thread.start()
    return thread, result


@real_faults
@live_database
def test_a_post_waiting_on_a_locked_row_answers_503_with_retry_after_and_says_nothing_was_written(
    line, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 300
    gateway, key = gateway_with_key("gw-reflow")
    locked = receive_device_event(make_event(eventId="evt-locked"), sent_by=gateway).record

    with row_locked(RECORDS, locked.pk):
        results = post_concurrently(
            [make_event(eventId="evt-locked"), make_event(eventId="evt-free")], key
        )

    (locked_status, locked_body), (free_status, free_body) = results
    assert free_status == 200 and free_body["data"]["isDuplicate"] is False
    assert locked_status == 503
    error = locked_body["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {"cause": "lock timeout", "written": "nothing"}
    assert "Nothing of this event was written" in error["message"]
    assert DeviceDataRecord.objects.get(event_id="evt-locked").duplicate_count == 0
    assert not IntegrationMessage.objects.filter(status="DUPLICATE").exists()


def resent_while_its_record_is_locked(client, event_id: str):
    """Post an event, lock its record from another session, post it again: the answer
    to the re-send and the seconds it took."""
    first = client.post(URL, make_event(eventId=event_id), format="json")
    with row_locked(RECORDS, int(first.json()["data"]["id"])):
        started = time.monotonic()
        answer = client.post(URL, make_event(eventId=event_id), format="json")
        return answer, time.monotonic() - started


@real_faults
@live_database
def test_a_statement_that_runs_past_the_statement_timeout_answers_503_for_its_event(
    line, gateway_client, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = settings.INGEST_GROUP_LOCK_TIMEOUT_MS = 10_000
    settings.INGEST_STATEMENT_TIMEOUT_MS = 300
    answer, seconds = resent_while_its_record_is_locked(gateway_client, "evt-slow")

    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["details"] == {"cause": "statement timeout", "written": "nothing"}
    assert seconds < 5
    assert DeviceDataRecord.objects.get().duplicate_count == 0


@real_faults
@live_database
def test_a_post_queued_behind_a_stuck_group_is_written_alone_after_the_group_wait(line, settings):
    settings.INGEST_LOCK_TIMEOUT_MS = settings.INGEST_GROUP_LOCK_TIMEOUT_MS = 3000
    settings.INGEST_GROUP_WAIT_MS = 200
    gateway, key = gateway_with_key("gw-reflow")
    locked = receive_device_event(make_event(eventId="evt-locked"), sent_by=gateway).record

    with row_locked(RECORDS, locked.pk):
        stuck, stuck_result = post_in_background(key, make_event(eventId="evt-locked"))
        backends_waiting_on_a_lock()  # the writer is stuck on the lock
        queued, queued_result = post_in_background(key, make_event(eventId="evt-queued"))
        queued.join(timeout=10)
        assert stuck.is_alive()  # still waiting for the lock
    stuck.join(timeout=10)

    assert queued_result["response"].status_code == 200
    assert queued_result["seconds"] < 1.5
    assert stuck_result["response"].status_code == 200  # the lock went in time
    assert stuck_result["response"].json()["data"]["isDuplicate"] is True
    assert DeviceDataRecord.objects.get(event_id="evt-locked").duplicate_count == 1


@real_faults
@live_database
def test_a_post_whose_connection_is_cut_while_it_writes_is_written_on_a_new_connection(line):
    gateway, key = gateway_with_key("gw-reflow")
    locked = receive_device_event(make_event(eventId="evt-cut"), sent_by=gateway).record

    with row_locked(RECORDS, locked.pk) as session:
        thread, result = post_in_background(key, make_event(eventId="evt-cut"))
        (writer,) = backends_waiting_on_a_lock()
        session.execute("SELECT pg_terminate_backend(%s)", [writer])
        time.sleep(0.2)
    thread.join(timeout=10)

    assert result["response"].status_code == 200, result["response"].content[:500]
    assert result["response"].json()["data"]["isDuplicate"] is True
    assert DeviceDataRecord.objects.get().duplicate_count == 1
    assert IntegrationMessage.objects.filter(status="DUPLICATE").count() == 1


@real_faults
@live_database
def test_a_batch_answers_an_event_waiting_on_a_locked_row_on_its_own(
    line, gateway_client, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 300
    first = gateway_client.post(URL, make_event(eventId="evt-locked"), format="json")
    events = [make_event(eventId=e) for e in ("evt-new-1", "evt-locked", "evt-new-2")]

    with row_locked(RECORDS, int(first.json()["data"]["id"])):
        answer = gateway_client.post(f"{URL}/batch", {"events": events}, format="json")
        alone = gateway_client.post(
            f"{URL}/batch", {"events": [make_event(eventId="evt-locked")]}, format="json"
        )

    assert answer.status_code == 200 and answer.headers["Retry-After"] == "5"
    results = answer.json()["data"]["results"]
    assert [result["status"] for result in results] == ["CREATED", "FAILED", "CREATED"]
    assert results[1]["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert results[1]["error"]["details"] == {"cause": "lock timeout", "written": "nothing"}
    # A batch none of whose events could be written is a 503 as a whole.
    assert alone.status_code == 503 and alone.headers["Retry-After"] == "5"
    assert "Nothing of this batch was written" in alone.json()["error"]["message"]
    assert DeviceDataRecord.objects.count() == 3
    assert DeviceDataRecord.objects.get(event_id="evt-locked").duplicate_count == 0


@requires_postgresql
@live_database
def test_many_gateways_posting_at_once_have_each_event_written_once_and_answered_as_its_own(
    line,
):
    units = [UnitFactory(sn=f"SN-GROUP-{n:02d}", run=line.run) for n in range(12)]
    for unit in units:
        TrackFactory(unit=unit, step_no=40, station=line.station)
    keys = [gateway_with_key(f"gw-group-{n}")[1] for n in range(3)]
    payloads = [
        make_event(eventId=f"evt-group-{n:02d}", unitSn=unit.sn) for n, unit in enumerate(units)
    ]
    payloads += payloads[:4]  # retries arriving with the originals
    results = post_concurrently(payloads, keys)

    assert [status for status, _ in results] == [200] * len(payloads)
    for (_, body), payload in zip(results, payloads, strict=True):
        assert body["data"]["eventId"] == payload["eventId"]
    assert sum(not body["data"]["isDuplicate"] for _, body in results) == 12
    assert DeviceDataRecord.objects.count() == 12
    assert DataValue.objects.count() == 12
    assert IntegrationMessage.objects.filter(status="SUCCESS").count() == 12
    assert IntegrationMessage.objects.filter(status="DUPLICATE").count() == 4


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite commits a savepoint released outside a transaction, so with autocommit "
    "off Django's atomic() commits there whoever calls it",
)
@live_database
def test_an_event_of_a_caller_with_autocommit_off_is_not_grouped_and_goes_with_its_rollback(
    line, patient_groups
):
    gateway, _ = gateway_with_key("gw-reflow")
    groups = service.group_commit
    with groups._lock:
        groups._writing = True  # another request's group is being written
    transaction.set_autocommit(False)
    try:
        answered = {}
        caller = threading.Thread(
            target=lambda: answered.update(
                outcome=receive_device_event(make_event(eventId="evt-caller"), sent_by=gateway)
            )
        )
        # Run here, on this thread's connection: the thread only bounds the wait.
        caller.run()
        assert answered["outcome"].record.event_id == "evt-caller"
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
        with groups._lock:
            groups._writing = False

    assert groups._queue == []
    assert not DeviceDataRecord.objects.filter(event_id="evt-caller").exists()


def test_an_event_received_inside_a_callers_transaction_is_never_grouped(line, gateway):
    groups = service.group_commit
    with groups._lock:
        groups._writing = True  # a grouped event would now wait in the queue
    try:
        # pytest-django runs this test inside a transaction, as a caller's atomic block would.
        outcome = receive_device_event(make_event(eventId="evt-in-transaction"), sent_by=gateway)
    finally:
        with groups._lock:
            groups._writing = False

    assert outcome.record.event_id == "evt-in-transaction" and not outcome.is_duplicate
    assert groups._queue == []
    assert DeviceDataRecord.objects.filter(event_id="evt-in-transaction").count() == 1


@real_faults
@live_database
def test_ingestion_transactions_carry_the_configured_timeouts(line, gateway, settings):
    settings.INGEST_LOCK_TIMEOUT_MS = 1234
    settings.INGEST_STATEMENT_TIMEOUT_MS = 4321
    seen = {}

    def look(execute, sql, params, many, context):
        if "integration_devicedatarecord" in sql and "SELECT" in sql and not seen:
            cursor = context["cursor"]
            cursor.execute(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
            )
            seen["inside"] = cursor.fetchone()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(look):
        receive_device_event(make_event(eventId="evt-timeouts"), sent_by=gateway)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (after,) = cursor.fetchone()

    assert seen["inside"] == ("1234ms", "4321ms")
    assert after == "0"  # SET LOCAL: the connection's other work keeps no timeout


@real_faults
@live_database
def test_a_lone_post_that_meets_a_locked_row_waits_one_lock_timeout_not_two(
    line, gateway_client, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 600
    answer, seconds = resent_while_its_record_is_locked(gateway_client, "evt-lone")

    assert answer.status_code == 503
    assert 0.6 <= seconds < 1.1  # its group of one is its try alone


@real_faults
@live_database
def test_a_batch_whose_table_stays_locked_gives_up_after_the_statement_timeout(
    line, gateway_client, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 300
    settings.INGEST_STATEMENT_TIMEOUT_MS = 1000
    events = [make_event(eventId=f"evt-batch-{n:02d}") for n in range(20)]

    with second_session() as session:  # a migration's lock, held while the batch arrives
        session.execute("BEGIN")
        session.execute(f"LOCK TABLE {RECORDS} IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        answer = gateway_client.post(f"{URL}/batch", {"events": events}, format="json")
        seconds = time.monotonic() - started
        session.execute("ROLLBACK")

    # 20 events × 300 ms one by one would be 6 s; the retries stop after about 1 s.
    assert seconds < 3
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "Nothing of this batch was written" in answer.json()["error"]["message"]
    assert DeviceDataRecord.objects.count() == 0


@real_faults
@live_database
def test_a_foreign_key_refused_at_the_commit_is_an_error_not_an_uncertain_commit(line):
    # Django's foreign keys are checked at the commit (DEFERRABLE INITIALLY DEFERRED): the
    # server refused the commit, so the transaction was rolled back, which is certain.
    with (
        pytest.raises(IntegrityError) as refused,
        bounded_transaction(lock_timeout_ms=1000, statement_timeout_ms=1000),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE execution_track SET unit_id = %s WHERE id = %s", [10**9, line.track.pk]
        )

    assert not isinstance(refused.value, CommitUncertain)
    line.track.refresh_from_db()
    assert line.track.unit_id == line.unit.pk
