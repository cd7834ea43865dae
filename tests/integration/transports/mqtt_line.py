"""What the MQTT tests share: a gateway's MQTT client, the consumer as a subprocess, and
checks that every event was written exactly once."""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from execution.models import DataSpec
from integration.models import DeviceDataRecord, IntegrationMessage
from integration.transports.mqtt.topics import (
    events_topic,
    results_topic,
)
from tests import consumer_process
from tests.conftest import make_event
from tests.postgres import needs_postgresql

GATEWAY = "gw-reflow-1"


# The real consumer against a real broker (PostgreSQL: a second process writes).


class Gateway:
    """A gateway's MQTT client: publishes events (QoS 1) and collects the answers. With a
    key, it logs in as the gateway, with its name as client id (a broker with accounts)."""

    def __init__(self, broker, name: str = GATEWAY, key: str | None = None):
        self.name = name
        self.answers: list[tuple[str, dict, bytes | None]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=name if key else f"test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if key:
            self.client.username_pw_set(name, key)
        self.client.max_inflight_messages_set(0)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300  # answers wait for it across a broker restart
        self.client.connect(broker.host, broker.port, clean_start=False, properties=properties)
        self.client.loop_start()
        self.client.subscribe(
            [
                (f"{results_topic(name)}/#", SubscribeOptions(qos=1)),  # with results itself
            ]
        )
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, message):
        correlation = getattr(message.properties, "CorrelationData", None)
        with self._lock:
            self.answers.append((message.topic, json.loads(message.payload), correlation))

    def publish(self, payload, *, response_topic=None, correlation=None, wait=True):
        properties = None
        if response_topic:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = response_topic
            properties.CorrelationData = correlation
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(events_topic(self.name), raw, qos=1, properties=properties)
        if wait:
            info.wait_for_publish(10)
        return info

    def answered_event_ids(self) -> set[str]:
        """The eventIds answered 200 (single events and batches alike)."""
        with self._lock:
            answers = [body for _topic, body, _correlation in self.answers]
        answered = set()
        for body in answers:
            if body.get("status") == 200 and "results" in body["data"]:
                answered.update(r["eventId"] for r in body["data"]["results"])
            elif body.get("status") == 200:
                answered.add(body["eventId"])
        return answered

    def wait_until_answered(self, event_ids: set[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if event_ids <= self.answered_event_ids():
                return
            time.sleep(0.05)
        missing = event_ids - self.answered_event_ids()
        raise AssertionError(f"{len(missing)} events unanswered, e.g. {sorted(missing)[:3]}")

    def wait_for_answers(self, count: int, timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.answers) >= count:
                    return list(self.answers)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.answers)} answers of {count} after {timeout}s")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class ConsumerProcess(consumer_process.ConsumerProcess):
    """`manage.py consume_mqtt --consumer-id …` against the test database."""

    def __init__(self, broker, consumer_id: str, log_dir, **env):
        super().__init__(
            ["consume_mqtt", "--consumer-id", consumer_id],
            {"MQTT_URL": broker.url, "MQTT_OUTAGE_PAUSE_S": "0.5", **env},
            log_dir / f"{consumer_id}-{uuid.uuid4().hex[:6]}.log",
            ready="connected to",
        )


live = [
    needs_postgresql("the consumer, a second process, writes to the test database"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _records(event_ids) -> dict[str, int]:
    """How many records each eventId has (exactly once: 1 each)."""
    found = dict.fromkeys(event_ids, 0)
    for event_id in DeviceDataRecord.objects.filter(event_id__in=event_ids).values_list(
        "event_id", flat=True
    ):
        found[event_id] += 1
    return found


def _publish_many(gw: Gateway, prefix: str, count: int) -> set[str]:
    event_ids = {f"{prefix}-{n:05d}" for n in range(count)}
    infos = [gw.publish(make_event(eventId=e), wait=False) for e in sorted(event_ids)]
    for info in infos:
        info.wait_for_publish(30)
    return event_ids


def _every_event_written_once(event_ids: set[str]) -> None:
    counts = _records(event_ids)
    assert set(counts.values()) == {1}, {e: n for e, n in counts.items() if n != 1}
    assert IntegrationMessage.objects.filter(
        business_key__in=[f"device-data:{e}" for e in event_ids], status="SUCCESS"
    ).count() == len(event_ids)


def _poison_conveyor_speed(line) -> dict:
    """Limits stored as text, past the model's checks (a data fix in SQL): judging a
    Conveyor Speed value then raises TypeError in the service. Returns such an event."""
    DataSpec.objects.filter(pk=line.conveyor.pk).update(spec={"min": "70"})
    return make_event(
        eventId="evt-poison", data=[{"specName": "Conveyor Speed", "valueNumber": 80}]
    )
