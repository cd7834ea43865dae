"""A gateway's side of MQTT, for the simulator and the benchmark: publish an event and
wait for its answer (MQTT 5 request/response on a topic below its results topic)."""

import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from integration.transports.mqtt.config import MqttConfig
from integration.transports.mqtt.packed_properties import PackedPublishProperties
from integration.transports.mqtt.topics import events_topic, results_topic


class GatewayConnection:
    """One gateway's MQTT connection: `request(event)` publishes it (QoS 1) and returns
    (status, answer, seconds from publish to answer)."""

    def __init__(
        self,
        config: MqttConfig,
        name: str,
        key: str | None,
        timeout: float = 30,
        client_id: str | None = None,
    ):
        self.name, self.timeout = name, timeout
        self.reply_topic = f"{results_topic(name)}/{uuid.uuid4().hex[:12]}"
        self._waiting: dict[bytes, list] = {}
        self._lock = threading.Lock()
        # At a broker whose accounts the MES manages, a gateway's one client id is its
        # name (docs/mqtt-broker.md); another is for brokers without accounts (the bench).
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or name,
            protocol=mqtt.MQTTv5,
        )
        # The broker knows a gateway by its name and its key (docs/mqtt.md).
        self.client.username_pw_set(name, key)
        if config.tls:
            self.client.tls_set(ca_certs=config.ca_file)
        self.client.max_inflight_messages_set(0)
        self.client.on_message = self._on_message
        connected, subscribed, refusal = threading.Event(), threading.Event(), []

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                refusal.append(str(reason_code))
            connected.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(config.host, config.port)
        self.client.loop_start()
        if not connected.wait(10) or refusal:
            self.close()
            why = f"refused {name!r}: {refusal[0]}" if refusal else "did not answer in 10 s"
            raise ConnectionError(f"the broker {why}")
        self.client.subscribe(self.reply_topic, options=SubscribeOptions(qos=1))
        if not subscribed.wait(10):
            self.close()
            raise ConnectionError(f"could not subscribe to {self.reply_topic}")

    def _on_message(self, client, userdata, message):
        correlation = getattr(message.properties, "CorrelationData", None)
        with self._lock:
            waiter = self._waiting.get(correlation)
        if waiter is not None:
            waiter[1] = (orjson.loads(message.payload), time.perf_counter())
            waiter[0].set()

    def send(self, event) -> tuple[bytes, list]:
        """Publish one event (or {"events": [...]}) without waiting; see `answer_of`."""
        correlation = uuid.uuid4().bytes
        waiter = [threading.Event(), None, time.perf_counter()]
        with self._lock:
            self._waiting[correlation] = waiter
        properties = PackedPublishProperties(
            response_topic=self.reply_topic, correlation_data=correlation
        )
        self.client.publish(
            events_topic(self.name), orjson.dumps(event), qos=1, properties=properties
        )
        return correlation, waiter

    def answer_of(self, sent) -> tuple[int, dict, float]:
        """Wait for a sent event's answer: (status, body, seconds from publish to answer)."""
        correlation, waiter = sent
        if not waiter[0].wait(self.timeout):
            raise TimeoutError(f"no answer within {self.timeout}s")
        with self._lock:
            del self._waiting[correlation]
        body, answered_at = waiter[1]
        return body["status"], body, answered_at - waiter[2]

    def request(self, event) -> tuple[int, dict, float]:
        """Publish one event and wait for its answer."""
        return self.answer_of(self.send(event))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
