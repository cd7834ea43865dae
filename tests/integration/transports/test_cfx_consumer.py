"""IPC-CFX over AMQP 1.0: a real RabbitMQ (AMQP 1.0 plugin), the real `manage.py consume_cfx`
as a subprocess. Fixtures: tests/fixtures/cfx/ (README there names the SDK files)."""

import configparser
import gzip
import signal
from pathlib import Path

import pytest
from django.conf import settings

from execution.models import DataValue
from integration.models import DeviceDataRecord
from integration.transports.cfx.consumer import EXIT_CONFIGURATION_REFUSED
from tests.cfx_broker import CfxConsumerProcess, CfxQueue, needs_rabbitmq, wait_until
from tests.integration.transports.test_cfx_mapping import fixture_body
from tests.postgres import needs_postgresql

# Seconds each (a consumer process, a real broker): in CI's full run on PostgreSQL.
live = [
    pytest.mark.slow,
    needs_rabbitmq,
    needs_postgresql("the consumer, a second process, writes to the test database"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def cfx_queue():
    queue = CfxQueue()
    yield queue
    queue.close()


@pytest.fixture
def cfx_consumers(cfx_queue, tmp_path):
    started = []

    def start(**env) -> CfxConsumerProcess:
        consumer = CfxConsumerProcess(cfx_queue, tmp_path, **env)
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.stop(signal.SIGKILL)


@live[0]
@live[1]
@live[2]
@live[3]
def test_an_ovens_and_an_aois_messages_are_written_judged_and_settled(
    cfx_line, cfx_gateway, cfx_queue, cfx_consumers
):
    consumer = cfx_consumers()
    cfx_queue.publish(fixture_body("units_processed_reflow.json"))
    cfx_queue.publish(fixture_body("units_inspected_aoi.json"))
    cfx_queue.publish(gzip.compress(fixture_body("units_processed_generic.json")), "gzip")
    cfx_queue.publish(fixture_body("multi_envelope.json"))
    cfx_queue.publish(fixture_body("heartbeat.json"))
    cfx_queue.publish(fixture_body("malformed.json"))
    cfx_queue.publish(fixture_body("units_processed_reflow.json"))  # a re-send
    wait_until(lambda: "settled 7," in consumer.stats_line(), what="7 settled deliveries")
    assert DeviceDataRecord.objects.count() == 4 + 2 + 2 + 1
    assert DeviceDataRecord.objects.filter(duplicate_count=1).count() == 4
    line = consumer.stats_line()
    assert "malformed 1" in line and "Heartbeat: 1" not in line  # counted as ignored
    assert "ignored message type: 3" in line
    beyond = DataValue.objects.get(spec=cfx_line.peak, value_number=258.0)
    assert beyond.judge == "FAIL" and beyond.sender_limits["max"] == 260.0
    assert consumer.stop() == 0  # SIGTERM: a clean stop
    assert "CFX consumer stopped: received 7, settled 7," in consumer.output()


@live[0]
@live[1]
@live[2]
@live[3]
def test_the_consumer_refuses_to_start_without_its_gateway_account(cfx_line, cfx_queue, tmp_path):
    consumer = CfxConsumerProcess(cfx_queue, tmp_path, wait_to_start=False)
    try:
        assert consumer.process.wait(timeout=30) == EXIT_CONFIGURATION_REFUSED
    finally:
        consumer.stop(signal.SIGKILL)
    assert "CFX_GATEWAY 'gw-cfx' is not an active gateway" in consumer.output()
    assert "`manage.py create_gateway gw-cfx`" in consumer.output()


def test_systemd_leaves_a_consumer_whose_configuration_is_refused_down():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(Path(settings.BASE_DIR) / "deploy" / "systemd" / "mes-cfx@.service")
    service = unit["Service"]
    assert service["Restart"] == "on-failure"  # a failure (status 1) is started again
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIGURATION_REFUSED)
