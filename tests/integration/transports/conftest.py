"""Fixtures of the transports' tests: for MQTT a real Mosquitto, consumers as subprocesses,
gateways' clients; for CFX tracking a line tracked by its machines and a CFX gateway
allowed to track."""

import signal

import pytest

from integration.gateways.tracking_permission import allow_tracking
from tests.cfx_route import CfxRouteLine, build_cfx_route_line
from tests.factories import gateway_with_key
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


@pytest.fixture
def cfx_route_line(db) -> CfxRouteLine:
    """Three stations tracked by their machines, a route through them, four units."""
    return build_cfx_route_line()


@pytest.fixture
def cfx_tracking_gateway(db):
    """The CFX gateway account, allowed to track units (`manage.py allow_tracking`)."""
    user, _key = gateway_with_key("gw-cfx")
    allow_tracking(user)
    return user
