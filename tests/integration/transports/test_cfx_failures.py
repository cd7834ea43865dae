"""IPC-CFX across failures: a consumer killed mid-stream and a database cut for seconds lose
nothing and write nothing twice. A real RabbitMQ (AMQP 1.0), the real `manage.py
consume_cfx`; panels of 4 units, as a reflow oven sends them."""

import json
import signal
import subprocess
import time
import uuid

import pytest

from integration.models import DeviceDataRecord
from tests.cfx_broker import CfxConsumerProcess, CfxQueue, needs_rabbitmq, wait_until
from tests.conftest import REFLOW_HANDLE, build_cfx_line
from tests.factories import gateway_with_key
from tests.postgres import database_cut, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    needs_rabbitmq,
    needs_postgresql("the consumer, a second process, writes to the test database"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

UNITS = 40  # the panels' units: CFX-SN-0001 …


def panel(first_unit: int) -> tuple[bytes, set[str]]:
    """A reflow oven's UnitsProcessed for 4 units, and the eventIds it becomes."""
    unique_id = str(uuid.uuid4())
    body = {
        "MessageName": "CFX.Production.Processing.UnitsProcessed",
        "Version": "2.1",
        "TimeStamp": "2026-11-30T10:00:00Z",
        "UniqueID": unique_id,
        "Source": REFLOW_HANDLE,
        "MessageBody": {
            "TransactionId": str(uuid.uuid4()),
            "OverallResult": "Succeeded",
            "CommonProcessData": {
                "$type": "CFX.Structures.Generic.GenericProcessData, CFX",
                "Readings": [{"Name": "PeakTemperature", "Value": {"Value": 245.0}}],
            },
            "UnitProcessData": [
                {
                    "UnitIdentifier": f"CFX-SN-{(first_unit + n) % UNITS + 1:04d}",
                    "UnitResult": "Succeeded",
                }
                for n in range(4)
            ],
        },
    }
    return json.dumps(body).encode(), {f"cfx-{unique_id}-{n}" for n in range(1, 5)}


def publish_panels(queue: CfxQueue, count: int) -> set[str]:
    event_ids = set()
    for n in range(count):
        body, ids = panel(4 * n)
        queue.publish(body)
        event_ids |= ids
    return event_ids


def every_event_written_once(event_ids: set[str]) -> None:
    wait_until(
        lambda: DeviceDataRecord.objects.filter(event_id__in=event_ids).count() == len(event_ids),
        what=f"{len(event_ids)} records",
    )
    written = list(
        DeviceDataRecord.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True)
    )
    assert sorted(written) == sorted(event_ids)  # each once: event_id is unique anyway


@pytest.fixture
def setting(db, tmp_path):
    build_cfx_line(units=UNITS)
    gateway_with_key("gw-cfx")
    queue = CfxQueue()
    started = []

    def start() -> CfxConsumerProcess:
        consumer = CfxConsumerProcess(queue, tmp_path)
        started.append(consumer)
        return consumer

    yield queue, start
    for consumer in started:
        consumer.stop(signal.SIGKILL)
    queue.close()


def test_a_consumer_killed_mid_stream_and_started_again_loses_and_doubles_nothing(setting):
    queue, start = setting
    consumer = start()
    event_ids = publish_panels(queue, 300)
    wait_until(lambda: DeviceDataRecord.objects.exists(), what="the first records")
    consumer.stop(signal.SIGKILL)
    event_ids |= publish_panels(queue, 50)  # waiting in the queue meanwhile
    assert DeviceDataRecord.objects.count() < len(event_ids)
    again = start()
    every_event_written_once(event_ids)
    line = again.stats_line()
    assert "DUPLICATE" in line or "CREATED" in line


def test_a_database_cut_for_seconds_loses_and_doubles_nothing(setting):
    queue, start = setting
    consumer = start()
    first = publish_panels(queue, 25)
    every_event_written_once(first)
    with database_cut():
        during = publish_panels(queue, 25)
        consumer.wait_for_log("Database unavailable", 1)
        time.sleep(2)
    after = publish_panels(queue, 25)
    every_event_written_once(first | during | after)
    assert "database outages 1" in consumer.stats_line()


def test_cut_broker_connections_lose_and_double_nothing(setting):
    queue, start = setting
    consumer = start()
    first = publish_panels(queue, 150)
    wait_until(lambda: DeviceDataRecord.objects.exists(), what="the first records")
    # Every AMQP connection of the broker, the consumer's and the publisher's.
    subprocess.run(
        [
            "rabbitmqctl",
            "close_all_connections",
            "cut by test_cfx_failures.py",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    consumer.wait_for_log("The CFX consumer lost the broker", 1)
    queue.reconnect()
    second = publish_panels(queue, 50)
    every_event_written_once(first | second)
