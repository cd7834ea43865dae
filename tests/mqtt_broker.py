"""A real Mosquitto 2 broker for tests: started on a free port with a temporary
configuration, optionally with the dynamic-security plugin (anonymous access off).

    with start_mosquitto(tmp_path) as broker:
        ... broker.port, broker.url, broker.stop(), broker.start() ...

or the `mosquitto_broker` / `mosquitto_dynsec_broker` fixtures. Tests are skipped,
with the reason, when /usr/sbin/mosquitto is not installed (.ci/run installs it)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO = os.environ.get("MES_TEST_MOSQUITTO") or "/usr/sbin/mosquitto"
MOSQUITTO_CTRL = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"
DYNAMIC_SECURITY_PLUGIN = (
    os.environ.get("MES_TEST_MOSQUITTO_DYNSEC")
    or "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
)
ADMIN_USER = "mes-admin"
ADMIN_PASSWORD = "mes-admin-test-password"


def mosquitto_missing_reason() -> str | None:
    """Why the broker cannot run here, or None when it can."""
    if not os.access(MOSQUITTO, os.X_OK):
        return f"needs Mosquitto 2 at {MOSQUITTO} (apt-get install mosquitto)"
    return None


def mosquitto_version() -> tuple[int, ...]:
    """The broker's version, e.g. (2, 0, 11), from the first line of `mosquitto -h`."""
    shown = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=10)
    found = re.search(r"mosquitto version (\d+)\.(\d+)\.(\d+)", shown.stdout + shown.stderr)
    assert found, f"no version in `{MOSQUITTO} -h`: {shown.stdout}{shown.stderr}"
    return tuple(int(part) for part in found.groups())


def skip_without_mosquitto(dynamic_security: bool = False) -> None:
    """Skip the calling test, saying why, when the broker (or its plugin) is missing."""
    reason = mosquitto_missing_reason()
    if reason is None and dynamic_security:
        if not os.path.exists(DYNAMIC_SECURITY_PLUGIN):
            reason = f"needs the dynamic-security plugin at {DYNAMIC_SECURITY_PLUGIN}"
        elif not os.access(MOSQUITTO_CTRL, os.X_OK):
            reason = "needs mosquitto_ctrl (package mosquitto-clients or mosquitto)"
    if reason:
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@dataclass
class Mosquitto:
    """One broker process; `start()` after `stop()` restarts it on the same port with
    the same persistence file (and the same dynamic-security accounts)."""

    directory: Path
    port: int
    dynamic_security: bool
    persistence: bool
    admin_user: str | None = None
    admin_password: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The MQTT_URL of this broker (with the admin's credentials under dynamic security)."""
        if self.admin_user:
            return f"mqtt://{self.admin_user}:{self.admin_password}@{self.host}:{self.port}"
        return f"mqtt://{self.host}:{self.port}"

    def url_for(self, username: str, password: str) -> str:
        """The MQTT_URL of this broker for another account."""
        return f"mqtt://{username}:{password}@{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "mosquitto.log"

    def write_config(self) -> None:
        lines = [
            # Run as whoever runs the tests: as root, Mosquitto would otherwise switch to the
            # `mosquitto` user, which cannot read the private temporary directory.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {self.port} 127.0.0.1",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            # Room for a burst of unacknowledged QoS 1 messages per session.
            "max_inflight_messages 1000",
            "max_queued_messages 100000",
            "persistent_client_expiration 1h",
        ]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.directory}/"]
        else:
            lines += ["persistence false"]
        if self.dynamic_security:
            dynsec = self.directory / "dynamic-security.json"
            if not dynsec.exists():
                subprocess.run(
                    [MOSQUITTO_CTRL, "dynsec", "init", str(dynsec)]
                    + [self.admin_user, self.admin_password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            lines += [
                "allow_anonymous false",
                f"plugin {DYNAMIC_SECURITY_PLUGIN}",
                f"plugin_opt_config_file {dynsec}",
            ]
        else:
            lines += ["allow_anonymous true"]
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        """Start (or restart) the broker and wait until its port accepts connections."""
        if self.process and self.process.poll() is None:
            return self
        self.write_config()
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while not _accepts_connections(self.port):
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode()
                raise RuntimeError(f"mosquitto exited: {error}\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not listen on {self.port}\n{self.log()}")
            time.sleep(0.05)
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file; `kill=True`: SIGKILL)."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        # The port is free again only once the listening socket is closed.
        deadline = time.monotonic() + 5
        while _accepts_connections(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> Mosquitto:
        """Stop and start again on the same port with the same persistence file."""
        self.stop()
        return self.start()

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        return self.log_file.read_text() if self.log_file.exists() else ""

    def ctrl(self, *arguments: str) -> subprocess.CompletedProcess:
        """`mosquitto_ctrl … dynsec …` as the admin (dynamic security only)."""
        return subprocess.run(
            [MOSQUITTO_CTRL, "-h", self.host, "-p", str(self.port)]
            + ["-u", self.admin_user, "-P", self.admin_password, *arguments],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_mosquitto(
    tmp_path: Path, *, dynamic_security: bool = False, persistence: bool = True
) -> Mosquitto:
    """Start a Mosquitto 2 on a free port, configured in `tmp_path` (skips the test when
    the broker is missing). Use as a context manager, or call `.stop()`."""
    skip_without_mosquitto(dynamic_security)
    directory = Path(tmp_path) / f"mosquitto-{os.getpid()}-{time.monotonic_ns()}"
    directory.mkdir(parents=True)
    broker = Mosquitto(
        directory=directory,
        port=free_port(),
        dynamic_security=dynamic_security,
        persistence=persistence,
        admin_user=ADMIN_USER if dynamic_security else None,
        admin_password=ADMIN_PASSWORD if dynamic_security else None,
    )
    for attempt in range(3):
        try:
            return broker.start()
        except RuntimeError:
            # Another process may have taken the free port in between: try another.
            if attempt == 2:
                raise
            broker.port = free_port()
    return broker


@pytest.fixture
def mosquitto_broker(tmp_path):
    """A broker with anonymous access, persistence on; stopped after the test."""
    with start_mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture
def mosquitto_dynsec_broker(tmp_path):
    """A broker with the dynamic-security plugin (anonymous access off) and an admin."""
    with start_mosquitto(tmp_path, dynamic_security=True) as broker:
        yield broker
