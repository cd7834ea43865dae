"""Fixtures of the MQTT tests: a real Mosquitto, consumers as subprocesses, gateways' clients."""

import signal

import pytest

from tests.integration.transports.mqtt_line import GATEWAY, ConsumerProcess, Gateway
from tests.mqtt_broker import start_mosquitto


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto for the test (anonymous access; the accounts are tested apart)."""
    with start_mosquitto(tmp_path) as running:
        yield running


@pytest.fixture
def consumers(broker, tmp_path):
    started = []

    def start(consumer_id: str = "mes-test-1", **env) -> ConsumerProcess:
        consumer = ConsumerProcess(broker, consumer_id, tmp_path, **env)
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.stop(signal.SIGKILL)


@pytest.fixture
def gateway_client_of(broker):
    opened = []

    def open_for(name: str = GATEWAY) -> Gateway:
        client = Gateway(broker, name)
        opened.append(client)
        return client

    yield open_for
    for client in opened:
        client.close()
