"""A real RabbitMQ with its AMQP 1.0 plugin for the CFX tests (never a mocked broker).

`.ci/run` enables `rabbitmq_amqp1_0` and starts the server; tests that need it are
skipped, with the reason, where nothing listens on 127.0.0.1:5672. Each test reads
its own queue (`/queue/cfx-test-<random>`, declared by the broker on first use) and
deletes it afterwards (`rabbitmqctl delete_queue`).
"""

import shutil
import socket
import subprocess
import time
import uuid

import pytest
from proton import Message
from proton.utils import BlockingConnection

from tests.consumer_process import ConsumerProcess

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
AMQP_URL = f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}"


def rabbitmq_listens() -> bool:
    try:
        with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=1):
            return True
    except OSError:
        return False


needs_rabbitmq = pytest.mark.skipif(
    not rabbitmq_listens(),
    reason="needs RabbitMQ with rabbitmq_amqp1_0 on 127.0.0.1:5672 (.ci/run starts it)",
)


class CfxQueue:
    """A queue of the test's own, and a publisher of CFX bodies into it."""

    def __init__(self):
        self.name = f"cfx-test-{uuid.uuid4().hex[:10]}"
        self.address = f"/queue/{self.name}"
        self.reconnect()

    def reconnect(self) -> None:
        self._connection = BlockingConnection(AMQP_URL, allowed_mechs="PLAIN", timeout=10)
        self._sender = self._connection.create_sender(self.address)

    def publish(self, body: bytes, encoding: str | None = None) -> None:
        self._sender.send(
            Message(body=body, content_type="application/json", content_encoding=encoding)
        )

    def close(self) -> None:
        self._connection.close()
        if shutil.which("rabbitmqctl"):
            subprocess.run(
                ["rabbitmqctl", "delete_queue", self.name], capture_output=True, timeout=30
            )


class CfxConsumerProcess(ConsumerProcess):
    """`manage.py consume_cfx` against the test database, reading `queue`."""

    def __init__(self, queue: CfxQueue, log_dir, *, wait_to_start: bool = True, **env):
        super().__init__(
            ["consume_cfx"],
            {
                "CFX_AMQP_URL": AMQP_URL,
                "CFX_AMQP_ADDRESS": queue.address,
                "CFX_OUTAGE_PAUSE_S": "0.5",
                **env,
            },
            log_dir / f"consume-cfx-{uuid.uuid4().hex[:6]}.log",
            ready="CFX consumer reads" if wait_to_start else None,
        )


def wait_until(condition, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
