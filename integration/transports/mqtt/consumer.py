"""The MQTT consumer: receives gateways' events, writes them, answers, then acknowledges.

paho-mqtt 2.x, MQTT 5, QoS 1 with manual acknowledgements, a stable client id and
a persistent session, so a consumer started again with the same id gets every
message it had not acknowledged. The network thread only queues what arrives;
the main thread takes what arrived together (up to MQTT_GROUP_SIZE messages
within MQTT_GROUP_WAIT_MS) and writes it in one call of the ingestion service
(integration/transports/mqtt/ingest.py); an answering thread then publishes each message's
answer, waits until the broker has the answers, and only then acknowledges the
messages, in arrival order, while the main thread writes the next group. When
the database cannot take a group, nothing of it is acknowledged: the consumer
disconnects, waits until the database answers again, and reconnects; the broker
delivers the messages again (docs/mqtt.md). A connection the broker or the network
ends is logged and counted with its reason (integration/transports/mqtt/disconnects.py): above
all a session taken over by another connection with the consumer's client id.
"""

import logging
import queue
import signal
import threading
import time

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from structlog.contextvars import bind_contextvars, clear_contextvars

from integration.transports.broker import DatabaseUnavailable, database_reachable
from integration.transports.mqtt.config import MqttConfig
from integration.transports.mqtt.disconnects import disconnect_reason, disconnect_warning
from integration.transports.mqtt.ingest import Inbound, write_group
from integration.transports.mqtt.packed_properties import PackedPublishProperties
from integration.transports.mqtt.topics import (
    may_answer_on,
    results_topic,
    shared_events_subscription,
)
from integration.transports.stats import ConsumerStats
from mes.metrics import count_mqtt_disconnect

logger = logging.getLogger("integration.mqtt")

# How long the broker may take to confirm a group's answers before the group is left
# unacknowledged (the connection is then gone; the broker delivers the group again).
ANSWER_CONFIRM_TIMEOUT_S = 10.0
LONGEST_OUTAGE_PAUSE_S = 60.0


class Consumer:
    """One consumer process's connection to the broker and its write loop."""

    def __init__(self, consumer_id: str, config: MqttConfig):
        self.consumer_id = consumer_id
        self.config = config
        self.stats = ConsumerStats()
        self.stopping = threading.Event()
        self.stats_wanted = threading.Event()
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()  # written groups, to answer and acknowledge
        self._lock = threading.Lock()
        self._generation = 0  # +1 on each (dis)connection: older deliveries are stale
        self._connected = threading.Event()
        self.client = self._new_client()

    # The network thread's side.

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.consumer_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        if self.config.tls:
            client.tls_set(
                ca_certs=self.config.ca_file,
                certfile=self.config.cert_file,
                keyfile=self.config.key_file,
            )
        client.max_inflight_messages_set(self.config.receive_maximum)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            logger.error(
                "MQTT broker %s refused the consumer: %s", self.config.shown_url, reason_code
            )
            return
        with self._lock:
            self._generation += 1
        # Subscribed on every connection: a broker that lost its sessions has none.
        client.subscribe(
            shared_events_subscription(self.config.share_group), options=SubscribeOptions(qos=1)
        )
        self._connected.set()
        logger.info(
            "MQTT consumer %s connected to %s (session present: %s)",
            self.consumer_id,
            self.config.shown_url,
            flags.session_present,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            self._generation += 1
        was_connected = self._connected.is_set()  # not after a refused login (logged above)
        self._connected.clear()
        reason = disconnect_reason(reason_code, flags.is_disconnect_packet_from_server)
        if reason is None or not was_connected or self.stopping.is_set():
            return
        self.stats.note_disconnect(reason)
        count_mqtt_disconnect(reason)
        logger.warning(
            disconnect_warning(reason, reason_code, self.consumer_id, self.config.shown_url)
        )

    def _on_message(self, client, userdata, message):
        properties = message.properties
        inbound = Inbound(
            mid=message.mid,
            qos=message.qos,
            topic=message.topic,
            payload=message.payload,
            response_topic=getattr(properties, "ResponseTopic", None),
            correlation_data=getattr(properties, "CorrelationData", None),
            generation=self._generation,
        )
        self.stats.note_received(inbound)
        self._inbox.put(inbound)

    # The main thread's side.

    def run(self) -> None:
        """Consume until SIGTERM (or SIGINT); the messages already received are written
        and acknowledged before the consumer disconnects."""
        self._install_signal_handlers()
        threading.Thread(target=self._answer_and_acknowledge, daemon=True).start()
        self._connect()
        next_line = time.monotonic() + self.config.stats_interval_s
        try:
            while not self.stopping.is_set():
                group = self._take_group(timeout=0.2)
                if group:
                    self._handle(group)
                if self.stats_wanted.is_set() or time.monotonic() >= next_line:
                    self.stats_wanted.clear()
                    next_line = time.monotonic() + self.config.stats_interval_s
                    logger.info("MQTT consumer %s: %s", self.consumer_id, self.stats.line())
            while group := self._take_group(timeout=0):  # what arrived before the stop
                self._handle(group)
        except DatabaseUnavailable:
            pass  # stopping during an outage: the broker keeps what was not acknowledged
        finally:
            self._outbox.join()  # the written groups answered and acknowledged
            self.client.disconnect()
            self.client.loop_stop()
            logger.info("MQTT consumer %s stopped: %s", self.consumer_id, self.stats.line())

    def _install_signal_handlers(self) -> None:
        def stop(signum, frame):
            self.stopping.set()

        def show(signum, frame):
            self.stats_wanted.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGUSR1, show)

    def _connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.config.session_expiry_s
        properties.ReceiveMaximum = self.config.receive_maximum
        # The network thread connects, and reconnects whenever the connection drops.
        self.client.connect_async(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self.client.loop_start()

    def _take_group(self, timeout: float) -> list[Inbound]:
        """The messages that arrived together: the first, then whatever follows within
        the group wait, up to the group size; stale deliveries are left out."""
        try:
            first = self._inbox.get(timeout=timeout) if timeout else self._inbox.get_nowait()
        except queue.Empty:
            return []
        group = [first]
        deadline = time.monotonic() + self.config.group_wait_ms / 1000
        while len(group) < self.config.group_size:
            remaining = deadline - time.monotonic()
            try:
                group.append(
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        return self._current(group)

    def _discard_inbox(self) -> None:
        """Forget what was received and not written: the broker delivers it again."""
        while True:
            try:
                self.stats.note_dropped([self._inbox.get_nowait()])
            except queue.Empty:
                return

    def _current(self, messages: list[Inbound]) -> list[Inbound]:
        """Messages of the present connection; the others the broker delivers again."""
        current = [m for m in messages if m.generation == self._generation]
        if len(current) < len(messages):
            self.stats.note_dropped([m for m in messages if m.generation != self._generation])
        return current

    def _handle(self, group: list[Inbound]) -> None:
        # The service names a group's results in the log context (mes/request_log.py):
        # one group's, never the previous one's.
        clear_contextvars()
        bind_contextvars(consumer=self.consumer_id, messages=len(group))
        try:
            self.stats.note_group()
            answers = write_group(group)
        except DatabaseUnavailable as error:
            self._ride_out_outage(group, error)
            return
        finally:
            clear_contextvars()
        self._outbox.put((group, answers))

    def _answer_and_acknowledge(self) -> None:
        """The answering thread: each written group's answers published, confirmed by the
        broker, then its messages acknowledged in arrival order, group after group, while
        the main thread writes the next group."""
        while True:
            group, answers = self._outbox.get()
            try:
                confirmations = [
                    self._publish_answer(message, answer)
                    for message, answer in zip(group, answers, strict=True)
                    if message.generation == self._generation
                ]
                if self._confirmed(confirmations):
                    for message in self._current(group):  # in arrival order
                        if message.qos > 0:
                            self.client.ack(message.mid, message.qos)
                        self.stats.note_acknowledged(message)
                else:
                    self.stats.note_dropped(group)
            except Exception:
                logger.exception("Answering a group failed; its messages are left unacknowledged")
                self.stats.note_dropped(group)
            finally:
                self._outbox.task_done()

    def _publish_answer(self, message: Inbound, answer):
        gateway = message.gateway
        if gateway is None:
            return None
        topic = results_topic(gateway)
        if message.response_topic:
            if may_answer_on(message.response_topic, gateway):
                topic = message.response_topic
            else:
                logger.warning(
                    "Gateway %r asked for answers on %r, outside its own topics; answered on %s",
                    gateway,
                    message.response_topic,
                    topic,
                )
        properties = PackedPublishProperties(
            content_type="application/json", correlation_data=message.correlation_data
        )
        self.stats.note_answered(answer.status)
        return self.client.publish(topic, orjson.dumps(answer.body), qos=1, properties=properties)

    def _confirmed(self, confirmations) -> bool:
        """Whether the broker has taken every answer (so no message is acknowledged
        whose answer could still be lost with this process)."""
        deadline = time.monotonic() + ANSWER_CONFIRM_TIMEOUT_S
        for info in confirmations:
            if info is None:
                continue
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                return False
            if not info.is_published():
                return False
        return True

    def _ride_out_outage(self, group: list[Inbound], error: DatabaseUnavailable) -> None:
        """The database cannot take events: acknowledge nothing, leave the broker, wait
        until the database answers, and come back for the messages again."""
        self.stats.outages += 1
        pause = self.config.outage_pause_s
        logger.warning(
            "Database unavailable (%s): %d messages left unacknowledged; "
            "reconnecting to the broker once the database answers",
            error,
            len(group),
        )
        self._outbox.join()  # the groups written before are acknowledged first
        self.client.disconnect()
        self.client.loop_stop()
        self.stats.note_dropped(group)
        self._discard_inbox()
        while not self.stopping.wait(pause):
            if database_reachable():
                break
            pause = min(pause * 2, LONGEST_OUTAGE_PAUSE_S)
        if self.stopping.is_set():
            raise error
        logger.info("Database answers again: MQTT consumer %s reconnects", self.consumer_id)
        self._connect()
