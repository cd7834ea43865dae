"""The hand-packed PUBLISH properties (integration/transports/mqtt/packed_properties.py) are the
bytes paho's own Properties packs, and read back through paho as sent."""

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from integration.transports.mqtt.packed_properties import PackedPublishProperties


def _paho(**values) -> bytes:
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties.pack()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        ({}, {}),
        ({"content_type": "application/json"}, {"ContentType": "application/json"}),
        (
            {"content_type": "application/json", "correlation_data": b"req-17"},
            {"ContentType": "application/json", "CorrelationData": b"req-17"},
        ),
        (
            {"response_topic": "mes/v1/gateways/gw-1/results/ab", "correlation_data": b"\0\xff"},
            {"ResponseTopic": "mes/v1/gateways/gw-1/results/ab", "CorrelationData": b"\0\xff"},
        ),
        ({"response_topic": "été/ü"}, {"ResponseTopic": "été/ü"}),
    ],
)
def test_packed_properties_are_the_bytes_paho_packs(ours, theirs):
    assert PackedPublishProperties(**ours).pack() == _paho(**theirs)


def test_a_long_correlation_takes_a_two_byte_property_length():
    correlation = bytes(range(256)) * 2  # 512 bytes: the length needs two bytes
    ours = PackedPublishProperties(content_type="application/json", correlation_data=correlation)
    assert ours.pack() == _paho(ContentType="application/json", CorrelationData=correlation)


def test_packed_properties_read_back_through_paho():
    packed = PackedPublishProperties(
        content_type="application/json", response_topic="a/b", correlation_data=b"c-1"
    ).pack()
    decoded = Properties(PacketTypes.PUBLISH)
    decoded.unpack(packed)
    assert (decoded.ContentType, decoded.ResponseTopic, decoded.CorrelationData) == (
        "application/json",
        "a/b",
        b"c-1",
    )
