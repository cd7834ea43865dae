"""MQTT 5 PUBLISH properties packed once, by hand, for the messages sent at full speed.

paho's `Properties` builds tables of every MQTT 5 property on each instance and walks
them again to pack: a quarter of the consumer's transport time per answer at full speed
(py-spy on `consume_mqtt` under `make bench`; the answer path went from about 580 to 430
µs of CPU a message). The answers and the simulated gateways' events carry at most three
properties, so they are packed here directly in the MQTT 5 encoding (§2.2.2.2: the
properties' length as a Variable Byte Integer, then each property's identifier and value;
UTF-8 strings and binary data with a two-byte length). paho takes any `Properties` and
only calls `pack()` on a PUBLISH's. Guarded by
tests/integration/transports/test_mqtt_properties.py, which compares the bytes with
paho's own packing, and by the consumer tests that read the Content Type, Response Topic
and Correlation Data back through paho.
"""

import struct

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CONTENT_TYPE = 3
RESPONSE_TOPIC = 8
CORRELATION_DATA = 9


def _variable_byte_integer(number: int) -> bytes:
    encoded = bytearray()
    while True:
        number, byte = divmod(number, 128)
        encoded.append(byte | (128 if number else 0))
        if not number:
            return bytes(encoded)


def _field(identifier: int, value: bytes) -> bytes:
    return bytes([identifier]) + struct.pack("!H", len(value)) + value


class PackedPublishProperties(Properties):
    """A PUBLISH's Content Type, Response Topic and Correlation Data (each optional),
    packed at construction. Read-only: it is only ever handed to `publish`."""

    def __init__(
        self,
        *,
        content_type: str | None = None,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
    ):
        # Properties.__setattr__ validates names against its tables; set directly.
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        body = b""
        if content_type is not None:
            body += _field(CONTENT_TYPE, content_type.encode())
        if response_topic is not None:
            body += _field(RESPONSE_TOPIC, response_topic.encode())
        if correlation_data is not None:
            body += _field(CORRELATION_DATA, bytes(correlation_data))
        object.__setattr__(self, "_packed", _variable_byte_integer(len(body)) + body)

    def pack(self) -> bytes:
        return self._packed

    def __str__(self) -> str:  # paho's walks its tables, which this instance lacks
        return f"PackedPublishProperties({self._packed!r})"
