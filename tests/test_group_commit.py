"""Group commit: single events posted at the same time are received together,
each still judged, written and answered on its own (integration.ingestion.ConcurrentEvents)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.exceptions import ValidationError

from execution.models import DataValue
from integration import ingestion
from integration.ingestion import ConcurrentEvents, EventRefused, receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event, requires_postgresql
from tests.factories import TrackFactory, UnitFactory, gateway_with_key
from tests.test_concurrency import post_concurrently


def queue_while_a_group_is_written(groups: ConcurrentEvents, submissions):
    """Submit each (payload, sender) from its own thread while every writing lane is
    taken, as if other requests were being written, then hand the queued events on
    as the next group, as a finishing writer does; returns each answer (an Attempt
    or the exception raised) in submission order."""
    with groups._lock:
        groups._writing = groups.lanes

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
            groups._writing -= groups.lanes - 1  # the other lanes are free again
        following[0].woken.set()
        return [future.result(timeout=30) for future in futures]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_events_queued_during_a_write_are_received_as_one_list_each_with_its_own_answer(
    line, monkeypatch
):
    reflow, _ = gateway_with_key("gw-reflow")
    oven, _ = gateway_with_key("gw-oven")
    receive_device_event(make_event(eventId="evt-earlier"), sent_by=reflow)
    lists = []
    real = ingestion.receive_device_events

    def spy(payloads, **kwargs):
        lists.append(len(payloads))
        return real(payloads, **kwargs)

    monkeypatch.setattr(ingestion, "receive_device_events", spy)

    answers = queue_while_a_group_is_written(
        ConcurrentEvents(),
        [
            (make_event(eventId="evt-new"), reflow),
            (make_event(eventId="evt-earlier"), oven),
            (make_event(eventId="evt-lost", unitSn="SN-UNKNOWN"), reflow),
            (make_event(eventId=""), oven),
            (make_event(eventId="evt-new"), oven),
        ],
    )

    assert lists == [5]
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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_error_while_a_group_is_written_reaches_every_request_of_the_group(
    line, monkeypatch
):
    gateway, _ = gateway_with_key("gw-reflow")

    def database_down(payloads, **kwargs):
        raise ingestion.IntegrityError("simulated")

    monkeypatch.setattr(ingestion, "receive_device_events", database_down)
    groups = ConcurrentEvents()
    answers = queue_while_a_group_is_written(
        groups, [(make_event(eventId=f"evt-{n}"), gateway) for n in range(3)]
    )

    assert [type(answer).__name__ for answer in answers] == ["IntegrityError"] * 3
    assert groups._writing == 0 and groups._queue == []


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_request_finding_a_lane_free_is_written_at_once_while_another_group_is_written(line):
    gateway, _ = gateway_with_key("gw-reflow")
    groups = ConcurrentEvents(lanes=2)
    with groups._lock:
        groups._writing = 1  # another group is being written

    attempt = groups.receive(make_event(eventId="evt-second-lane"), gateway)

    assert attempt.status == "CREATED"
    assert DeviceDataRecord.objects.filter(event_id="evt-second-lane").count() == 1
    assert groups._writing == 1 and groups._queue == []


def test_an_event_received_inside_a_callers_transaction_is_never_grouped(
    line, gateway, monkeypatch
):
    def grouped(payload, sent_by):
        raise AssertionError("grouped inside a caller's transaction")

    monkeypatch.setattr(ingestion.concurrent_events, "receive", grouped)
    # pytest-django runs this test inside a transaction, as a caller's atomic block would.
    outcome = receive_device_event(make_event(eventId="evt-in-transaction"), sent_by=gateway)

    assert outcome.record.event_id == "evt-in-transaction" and not outcome.is_duplicate
    assert DeviceDataRecord.objects.filter(event_id="evt-in-transaction").count() == 1
