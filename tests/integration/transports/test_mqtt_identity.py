"""One identity per MQTT client (docs/mqtt-broker.md): a broker with dynamic security whose
accounts the MES manages; a gateway cannot take a consumer's client id, and a takeover
the broker does allow is logged, counted and ridden out.
"""

import re
import signal
import threading
import time
import urllib.request
from io import StringIO

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client.parser import text_string_to_metric_families

from integration.gateways.broker_accounts import update_broker_after_issue
from integration.gateways.keys import issue_gateway_key
from mes.metrics import MQTT_DISCONNECT_REASONS
from tests.conftest import make_event
from tests.factories import gateway_with_key
from tests.integration.transports.mqtt_line import (
    GATEWAY,
    ConsumerProcess,
    Gateway,
    _every_event_written_once,
    _publish_many,
    _records,
    live,
)
from tests.mqtt_broker import mosquitto_version, start_mosquitto

# One identity per client: a broker with dynamic security whose accounts the MES manages.

CONSUMER_PASSWORD = "consumer-password"


@pytest.fixture
def accounts_broker(tmp_path, settings):
    """A broker with dynamic security, its accounts set up by sync_broker_accounts: the
    consumers' account of MQTT_URL, and each gateway keyed through `broker_key`."""
    with start_mosquitto(tmp_path, dynamic_security=True) as running:
        settings.MQTT_ADMIN_URL = running.url
        settings.MQTT_URL = running.url_for("mes-ingest", CONSUMER_PASSWORD)
        call_command("sync_broker_accounts", stdout=StringIO())
        yield running


def broker_key(user) -> str:
    """A new key for the gateway, given to its broker account (as rekey_gateway does)."""
    key = issue_gateway_key(user)
    assert update_broker_after_issue(user.username, key).done
    return key


@pytest.fixture
def account_consumer(accounts_broker, tmp_path):
    """`consume_mqtt --consumer-id mes-ingest-1` with the consumers' account, serving its
    metrics on a port of its own."""
    started = []

    def start() -> tuple[ConsumerProcess, int]:
        consumer = ConsumerProcess(
            accounts_broker,
            "mes-ingest-1",
            tmp_path,
            MQTT_URL=accounts_broker.url_for("mes-ingest", CONSUMER_PASSWORD),
            MQTT_METRICS_ADDRESS="127.0.0.1:0",  # a free port, which it logs
        )
        started.append(consumer)
        served = re.search(r"serves its metrics on 127\.0\.0\.1:(\d+)", consumer.output())
        assert served, consumer.output()
        return consumer, int(served.group(1))

    yield start
    for consumer in started:
        consumer.stop(signal.SIGKILL)


def connect_once(broker, username: str, password: str, client_id: str) -> ReasonCode:
    """One MQTT 5 login; the CONNACK's reason code (the connection is closed after)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    answers = []
    answered = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        answers.append(reason_code)
        answered.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert answered.wait(5), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return answers[0]


def disconnects_counted(port: int) -> dict[str, float]:
    """mes_mqtt_disconnects_total by reason, as the consumer serves it to Prometheus."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mes_mqtt_disconnects"
        for sample in family.samples
        if sample.name == "mes_mqtt_disconnects_total"
    }


@pytest.mark.slow
@live[0]
@live[1]
def test_a_gateway_taking_the_consumers_client_id_ten_times_during_3000_events_is_refused(
    line, gateway, accounts_broker, account_consumer
):
    consumer, metrics_port = account_consumer()
    sender = Gateway(accounts_broker, GATEWAY, broker_key(gateway))
    intruder, _ = gateway_with_key("gw-intruder")
    intruder_key = broker_key(intruder)
    published: set[str] = set()
    publishing = threading.Thread(
        target=lambda: published.update(_publish_many(sender, "evt-stream", 3000))
    )

    publishing.start()
    attempts, answered_before = [], []
    for _attempt in range(10):
        answered_before.append(len(sender.answered_event_ids()))
        attempts.append(connect_once(accounts_broker, "gw-intruder", intruder_key, "mes-ingest-1"))
        time.sleep(0.2)
    publishing.join(60)
    sender.wait_until_answered(published, timeout=120)
    sender.close()

    assert [str(code) for code in attempts] == ["Not authorized"] * 10
    assert answered_before[0] < 3000, "the attempts came after the stream was written"
    assert len(published) == 3000
    _every_event_written_once(published)
    output = consumer.output()
    assert output.count("connected to") == 1, output  # never kicked, never reconnected
    assert "lost its" not in output and "disconnected by the broker" not in output
    assert disconnects_counted(metrics_port) == dict.fromkeys(MQTT_DISCONNECT_REASONS, 0)


@pytest.mark.slow
@live[0]
@live[1]
def test_a_takeover_by_the_consumers_own_identity_is_logged_counted_and_ridden_out(
    line, gateway, accounts_broker, account_consumer
):
    consumer, metrics_port = account_consumer()
    sender = Gateway(accounts_broker, GATEWAY, broker_key(gateway))

    # The consumers' account may connect with any id of the MES's: a second consumer
    # started with the same id, as an operator might by mistake.
    code = connect_once(accounts_broker, "mes-ingest", CONSUMER_PASSWORD, "mes-ingest-1")

    assert not code.is_failure
    output = consumer.wait_for_log("connected to", 2)  # it reconnects on its own
    counted = disconnects_counted(metrics_port)
    # Mosquitto says why from 2.0.15 on; before, it closes the connection without a word.
    if mosquitto_version() >= (2, 0, 15):
        assert "lost its session to another connection with the same client id" in output
        assert "Session taken over" in output
        assert counted["session_taken_over"] == 1
    else:
        assert "lost its connection" in output and "already connected" in output
        assert counted["connection_lost"] == 1
        assert "Client mes-ingest-1 already connected" in accounts_broker.log()
    assert sum(counted.values()) == 1
    assert "disconnects {" in consumer.stats_line()
    sender.publish(make_event(eventId="evt-after-takeover"))
    sender.wait_until_answered({"evt-after-takeover"})
    assert _records(["evt-after-takeover"]) == {"evt-after-takeover": 1}
    sender.close()
