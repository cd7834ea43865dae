"""The CFX consumer's configuration, read from the environment (docs/cfx.md).

`CFX_AMQP_URL` names the broker (`amqp://` or `amqps://`, with the consumer's user
and password in it) and `CFX_AMQP_ADDRESS` the queue it reads; the other variables
have defaults that suit one plant.
"""

import os
from dataclasses import dataclass

from integration.transports.broker import BrokerConfig, broker_from_environment, env_number

DEFAULT_URL = "amqp://127.0.0.1:5672"
DEFAULT_ADDRESS = "/queue/cfx"
DEFAULT_GATEWAY = "gw-cfx"


class CfxConfigError(ValueError):
    """The environment does not describe a usable broker connection."""


def _number(env, name: str, default, kind=int):
    return env_number(env, name, default, kind, CfxConfigError)


@dataclass(frozen=True)
class CfxConfig(BrokerConfig):
    """Where the broker is, what to read there, and how the consumer groups its work."""

    address: str = DEFAULT_ADDRESS
    # The gateway account CFX events are sent by (docs/DECISIONS.md).
    gateway: str = DEFAULT_GATEWAY
    # Deliveries the consumer holds unsettled at most (link credit).
    prefetch: int = 1000

    @classmethod
    def from_environment(cls, env=None) -> "CfxConfig":
        """The configuration from `env` (default: os.environ)."""
        env = os.environ if env is None else env
        broker = broker_from_environment(
            env, "CFX_", "CFX_AMQP_URL", DEFAULT_URL, "amqp", (5672, 5671), CfxConfigError
        )
        return cls(
            **broker,
            address=env.get("CFX_AMQP_ADDRESS", "").strip() or DEFAULT_ADDRESS,
            gateway=env.get("CFX_GATEWAY", "").strip() or DEFAULT_GATEWAY,
            prefetch=max(1, _number(env, "CFX_PREFETCH", 1000)),
            group_size=max(1, _number(env, "CFX_GROUP_SIZE", 500)),
            group_wait_ms=_number(env, "CFX_GROUP_WAIT_MS", 5.0, float),
            outage_pause_s=_number(env, "CFX_OUTAGE_PAUSE_S", 5.0, float),
            stats_interval_s=_number(env, "CFX_STATS_INTERVAL_S", 60.0, float),
        )

    @property
    def url(self) -> str:
        """The broker's URL without credentials (proton takes them apart)."""
        return f"{'amqps' if self.tls else 'amqp'}://{self.host}:{self.port}"

    @property
    def shown_url(self) -> str:
        """The broker's URL and address without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'amqps' if self.tls else 'amqp'}://{user}{self.host}:{self.port}{self.address}"
