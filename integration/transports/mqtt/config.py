"""The MQTT consumer's configuration, read from the environment (docs/mqtt.md).

`MQTT_URL` names the broker (`mqtt://` or `mqtts://`, with the consumer's user and
password in it); the other variables have defaults that suit one plant.
"""

import os
from dataclasses import dataclass

from integration.transports.broker import BrokerConfig, broker_from_environment, env_number

DEFAULT_URL = "mqtt://127.0.0.1:1883"


class MqttConfigError(ValueError):
    """The environment does not describe a usable broker connection."""


def _number(env, name: str, default, kind=int):
    return env_number(env, name, default, kind, MqttConfigError)


def _address(value: str) -> tuple[str, int] | None:
    """`host:port` (or `:port`, the loopback) as (host, port); "" as None. Port 0 is any
    free port (the log says which)."""
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise MqttConfigError(
            f"MQTT_METRICS_ADDRESS={value!r} must be host:port, e.g. 127.0.0.1:9411 "
            "(one port per consumer)."
        )
    return (host.strip("[]") or "127.0.0.1", int(port))


@dataclass(frozen=True)
class MqttConfig(BrokerConfig):
    """Where the broker is, how to reach it, and how the consumer groups its work."""

    share_group: str = "mes-ingest"
    session_expiry_s: int = 24 * 3600
    # Messages the broker may send before the consumer acknowledges any (MQTT 5 Receive
    # Maximum): room for a few groups in flight, bounded memory.
    receive_maximum: int = 1000
    keepalive_s: int = 30
    # Where this consumer serves its Prometheus metrics ((host, port)); None: nowhere.
    metrics_address: tuple[str, int] | None = None

    @classmethod
    def from_environment(cls, env=None) -> "MqttConfig":
        """The configuration from `env` (default: os.environ)."""
        env = os.environ if env is None else env
        broker = broker_from_environment(
            env, "MQTT_", "MQTT_URL", DEFAULT_URL, "mqtt", (1883, 8883), MqttConfigError
        )
        return cls(
            **broker,
            share_group=env.get("MQTT_SHARE_GROUP", "").strip() or "mes-ingest",
            session_expiry_s=_number(env, "MQTT_SESSION_EXPIRY_S", 24 * 3600),
            receive_maximum=max(1, _number(env, "MQTT_RECEIVE_MAXIMUM", 1000)),
            group_size=max(1, _number(env, "MQTT_GROUP_SIZE", 500)),
            group_wait_ms=_number(env, "MQTT_GROUP_WAIT_MS", 5.0, float),
            outage_pause_s=_number(env, "MQTT_OUTAGE_PAUSE_S", 5.0, float),
            stats_interval_s=_number(env, "MQTT_STATS_INTERVAL_S", 60.0, float),
            metrics_address=_address(env.get("MQTT_METRICS_ADDRESS", "").strip()),
        )

    @property
    def shown_url(self) -> str:
        """The broker's URL without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"
