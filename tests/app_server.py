"""A real app server for tests: `gunicorn -c gunicorn.conf.py` as production starts it
(docs/operations.md), on a free loopback port, against a database of the test's own;
signalled, stopped and started again on the same port. And a keep-alive HTTP client that
tells a refused connection (nothing sent) from a reset one (a request lost in flight)."""

import errno
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
URL = "/api/integration/device-data"


def server_environment(database_url: str, port: int, metrics_directory: Path, **environment):
    """The environment of a test's gunicorn: production's configuration on a loopback port,
    JSON logs, metrics files of its own (two servers must not add up each other's
    figures), no drain (no load balancer to wait for, unless a test says) and a throttle
    no test reaches unless it sets its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="a-secret-key-for-the-app-server-tests",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="0",
        LOG_FORMAT="json",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
        GATEWAY_THROTTLE_RATE="100000000/min",
        GUNICORN_DRAIN_SECONDS="0",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_directory),
    )
    env.update(environment)
    return env


class AppServer:
    """One gunicorn server of the app; its log (JSON lines) in `log_path`."""

    def __init__(self, database_url: str, port: int, log_path: Path, **environment: str):
        self.port, self.log_path = port, log_path
        self.environment = server_environment(
            database_url, port, log_path.parent / f"metrics-{port}", **environment
        )
        self.process = None
        self._log = None

    def start(self, ready: bool = True, timeout: float = 60) -> "AppServer":
        """Start gunicorn and wait until /readyz answers 200 (`ready=False`: until /healthz
        does, for a server that is up but not ready)."""
        self._log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log()[-3000:]
            try:
                if get(self.port, "/readyz" if ready else "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, f"not ready in {timeout} s:\n{self.log()[-3000:]}"
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def workers(self) -> list[int]:
        with open(f"/proc/{self.pid}/task/{self.pid}/children") as children:
            return [int(pid) for pid in children.read().split()]

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the master to exit; its return code."""
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def get(port: int, path: str, timeout: float = 5) -> tuple[int, dict, float]:
    """GET on a new connection: (status, JSON body, seconds)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body), time.monotonic() - started
    finally:
        connection.close()


class Refused(Exception):
    """The connection was refused: the request was never sent."""


class Reset(Exception):
    """The request was sent and the connection broke before its answer."""

    def __init__(self, error: Exception, reused: bool):
        super().__init__(f"{type(error).__name__}: {error}")
        self.reused = reused  # on a kept-alive connection (else a new one)


class KeepAliveClient:
    """One keep-alive connection, as a gateway keeps it; a new one when the server said
    `Connection: close`. Never re-sends: every failure is raised for the test to count."""

    def __init__(self, port: int, key: str, timeout: float = 30):
        self.port, self.key, self.timeout = port, key, timeout
        self.connection = None
        self.answered = 0  # answers on the current connection

    def post(self, body: dict, path: str = URL) -> tuple[int, dict, dict]:
        """(status, headers, body); raises Refused or Reset."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout
            )
            self.answered = 0
            try:
                self.connection.connect()
            except ConnectionRefusedError as error:
                self.connection = None
                raise Refused() from error
        reused = self.answered > 0
        try:
            self.connection.request(
                "POST",
                path,
                body=json.dumps(body).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Token {self.key}",
                },
            )
            response = self.connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
                raise Refused() from error
            raise Reset(error, reused) from error
        self.answered += 1
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.will_close:
            self.close()
        return response.status, headers, json.loads(raw)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
