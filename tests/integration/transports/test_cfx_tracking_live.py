"""Tracking by the machine over AMQP 1.0 (docs/cfx.md): a panel taken through its whole
route by its machines' WorkStarted, readings and WorkCompleted alone, every message
delivered twice, through a real RabbitMQ (AMQP 1.0 plugin) and the real `manage.py
consume_cfx` as a subprocess."""

import re
import signal

import pytest

from execution.models import DataValue, Track, Unit
from integration.models import IntegrationMessage, TrackingRecord
from tests.cfx_broker import CfxConsumerProcess, CfxQueue, needs_rabbitmq, wait_until
from tests.cfx_route import SPI_HANDLE, body_of, route_messages, work_completed, work_started
from tests.factories import StationFactory
from tests.postgres import needs_postgresql

pytestmark = [
    pytest.mark.slow,
    needs_rabbitmq,
    needs_postgresql("the consumer, a second process, writes to the test database"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PRINTER_HANDLE = "DEK.Printer_Horizon.SN3002"  # a station whose machine does not track


@pytest.fixture
def cfx_queue():
    queue = CfxQueue()
    yield queue
    queue.close()


@pytest.fixture
def consumer(cfx_queue, tmp_path):
    started = CfxConsumerProcess(cfx_queue, tmp_path)
    yield started
    started.stop(signal.SIGKILL)


def settled(consumer) -> int:
    return int(re.search(r"settled (\d+),", consumer.stats_line()).group(1))


def test_a_panel_taken_through_its_route_by_cfx_alone_is_tracked_once_however_often_delivered(
    cfx_route_line, cfx_tracking_gateway, cfx_queue, consumer
):
    StationFactory(code="PRINTER-M0", cfx_handle=PRINTER_HANDLE, tracked_by_machine=False)
    sns = ["PCB-M-0001", "PCB-M-0002"]
    messages = route_messages(sns, {"PCB-M-0001": "Completed", "PCB-M-0002": "Failed"})
    messages += [
        work_started(SPI_HANDLE, "t-unknown", ["PCB-UNKNOWN-1"]),  # a unit the MES lacks
        work_started(PRINTER_HANDLE, "t-printer", sns),  # ignored: not tracked by it
        work_completed(PRINTER_HANDLE, "t-printer"),
    ]
    for _delivery in range(2):  # every message delivered twice, as after a lost connection
        for message in messages:
            cfx_queue.publish(body_of(message))
    wait_until(lambda: settled(consumer) == 2 * len(messages), what="every delivery settled")

    done, failed = Unit.objects.get(sn="PCB-M-0001"), Unit.objects.get(sn="PCB-M-0002")
    assert (done.status, failed.status) == ("DONE", "OUT_FAILED")
    assert [
        (t.step_no, t.station.code, t.result, t.source)
        for t in Track.objects.filter(unit=done).order_by("step_no")
    ] == [
        (10, "SPI-M1", "PASS", "AUTO"),
        (20, "OVEN-M1", "PASS", "AUTO"),
        (30, "AOI-M1", "PASS", "AUTO"),
    ]
    last = Track.objects.get(unit=failed, step_no=30)
    assert (last.result, last.defect_code) == ("FAIL", "CFX_FAILED")
    # One track per unit and step, one value per unit and step: the second delivery
    # wrote nothing.
    assert Track.objects.count() == 6
    values = DataValue.objects.filter(track__unit__in=[done, failed])
    assert sorted(values.values_list("spec__name", flat=True)) == sorted(
        ["Paste Height M", "Peak Temperature M", "AOI Result M"] * 2
    )
    assert {r.duplicate_count for r in TrackingRecord.objects.filter(kind="TRACK_IN")} == {1}
    assert TrackingRecord.objects.filter(kind="TRACK_OUT").count() == 6
    # The unknown unit is refused and kept (once per delivery), never created.
    refused = IntegrationMessage.objects.filter(status="FAILED", error_code="UNIT_NOT_FOUND")
    assert {m.payload["sn"] for m in refused} == {"PCB-UNKNOWN-1"} and refused.count() == 2
    assert not Unit.objects.filter(sn="PCB-UNKNOWN-1").exists()
    line = consumer.stats_line()
    assert "track-in CREATED: 6" in line and "track-in DUPLICATE: 6" in line
    assert "track-in FAILED: 2" in line and "track-out CREATED: 6" in line
    assert "work completed with nothing open: 4" in line  # the re-delivered WorkCompleted
    assert "ignored message type: 4" in line
    assert consumer.stop() == 0
