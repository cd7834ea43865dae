"""A real RabbitMQ with its AMQP 1.0 plugin for the CFX tests (never a mocked broker).

`.ci/run` enables `rabbitmq_amqp1_0` and starts the server; tests that need it are
skipped, with the reason, where nothing listens on 127.0.0.1:5672. Each test reads
its own queue (`/queue/cfx-test-<random>`, declared by the broker on first use) and
deletes it afterwards (`rabbitmqctl delete_queue`).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from proton import Message
from proton.utils import BlockingConnection

from tests.postgres import url_of_database

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


class CfxConsumerProcess:
    """`manage.py consume_cfx` against the test database, reading `queue`."""

    def __init__(self, queue: CfxQueue, log_dir, *, wait_to_start: bool = True, **env):
        self.log_path = log_dir / f"consume-cfx-{uuid.uuid4().hex[:6]}.log"
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))
        }
        environment.update(
            DATABASE_URL=url_of_database(connection.settings_dict["NAME"]),
            SECRET_KEY="a-test-key-for-manage-commands",
            CFX_AMQP_URL=AMQP_URL,
            CFX_AMQP_ADDRESS=queue.address,
            LOG_FORMAT="console",
            CFX_OUTAGE_PAUSE_S="0.5",
            **env,
        )
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "consume_cfx"],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if wait_to_start:
            self.wait_for_log("CFX consumer reads", 1)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if output.count(text) >= count:
                return output
            assert self.process.poll() is None, output
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in the consumer's log:\n{self.output()}")

    def stats_line(self) -> str:
        """The counts line the consumer logs on SIGUSR1."""
        before = self.output().count("received ")
        self.process.send_signal(signal.SIGUSR1)
        output = self.wait_for_log("received ", before + 1)
        return [line for line in output.splitlines() if "received " in line][-1]

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.log.close()
        return self.process.returncode


def wait_until(condition, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
