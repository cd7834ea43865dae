"""The MQTT topic layout (docs/mqtt.md): where gateways publish and where answers go.

    mes/v1/gateways/{gateway}/events    a gateway publishes its events (QoS 1)
    mes/v1/gateways/{gateway}/results   the MES answers (QoS 1); an MQTT 5 Response
                                        Topic may name a topic below it
    $share/{group}/mes/v1/gateways/+/events   what consumers subscribe to, sharing the load

`{gateway}` is the gateway's name in the MES: the broker's ACL lets a gateway
publish only under its own name, so the name in the topic is who sent it.
"""

PREFIX = "mes/v1/gateways"
EVENTS = "events"
RESULTS = "results"


def events_topic(gateway: str) -> str:
    """Where gateway `gateway` publishes its events."""
    return f"{PREFIX}/{gateway}/{EVENTS}"


def results_topic(gateway: str) -> str:
    """Where the MES answers gateway `gateway`."""
    return f"{PREFIX}/{gateway}/{RESULTS}"


def shared_events_subscription(share_group: str) -> str:
    """The consumers' shared subscription to every gateway's events."""
    return f"$share/{share_group}/{PREFIX}/+/{EVENTS}"


def gateway_of(topic: str) -> str | None:
    """The gateway named by an events topic, or None if `topic` is not one."""
    head, _, rest = topic.partition(f"{PREFIX}/")
    if head or not rest.endswith(f"/{EVENTS}"):
        return None
    gateway = rest[: -len(EVENTS) - 1]
    return gateway if gateway and "/" not in gateway else None


def may_answer_on(topic: str, gateway: str) -> bool:
    """Whether an MQTT 5 Response Topic may carry gateway `gateway`'s answers: only its
    results topic or a topic below it (the only topics its broker role lets it read),
    so no gateway can make the MES publish into another gateway's topics."""
    results = results_topic(gateway)
    return (topic == results or topic.startswith(f"{results}/")) and not (
        "+" in topic or "#" in topic
    )
