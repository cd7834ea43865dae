"""A real RabbitMQ with its AMQP 1.0 plugin for the CFX tests (never a mocked broker).

`.ci/run` enables `rabbitmq_amqp1_0` and starts the server; tests that need it are
skipped, with the reason, where nothing listens on 127.0.0.1:5672. Each test reads
its own queue (`/queue/cfx-test-<random>`, declared by the broker on first use) and
deletes it afterwards (`rabbitmqctl delete_queue`).

`rabbitmq_without_amqp_1_0` starts a second RabbitMQ node of the same installation,
on free loopback ports, with no plugin at all: a broker that speaks only AMQP 0-9-1,
as a RabbitMQ 3.x whose AMQP 1.0 plugin was never enabled (about 12 s to start here).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from proton import Message
from proton.utils import BlockingConnection

from tests.consumer_process import ConsumerProcess
from tests.mqtt_broker import free_port

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


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@contextlib.contextmanager
def rabbitmq_without_amqp_1_0(directory: Path, timeout: float = 60):
    """A RabbitMQ node of its own in `directory`, no plugin enabled, listening on a free
    loopback port (yielded) until the block ends. Skips the test where RabbitMQ is not
    installed."""
    if not os.access(RABBITMQ_SERVER, os.X_OK):
        pytest.skip(f"needs RabbitMQ's {RABBITMQ_SERVER} (apt-get install rabbitmq-server)")
    port, distribution_port = free_port(), free_port()
    (directory / "enabled_plugins").write_text("[].\n")
    (directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (directory / "rabbitmq-env.conf").write_text("")  # not the system node's
    environment = {
        **os.environ,
        "HOME": str(directory),  # its own Erlang cookie
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_NODENAME": f"cfx-test-{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(distribution_port),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with open(directory / "rabbitmq-server.log", "w") as log:
        node = subprocess.Popen(
            [RABBITMQ_SERVER],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the script, erl and beam: stopped together
        )
    try:
        deadline = time.monotonic() + timeout
        while not _listens(port):
            assert node.poll() is None, (directory / "rabbitmq-server.log").read_text()
            assert time.monotonic() < deadline, f"RabbitMQ did not listen on {port}"
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=10)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection((AMQP_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False
