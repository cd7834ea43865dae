"""Two app servers behind the shipped HAProxy configuration: a worker SIGKILLed and a server
stopped and started mid-stream lose, double and break nothing.

deploy/haproxy/haproxy.cfg runs as it is (its addresses from the environment) in front of
two `gunicorn -c gunicorn.conf.py` servers sharing one PostgreSQL database. Client threads
post EVENTS new events on keep-alive connections to the proxy, never sending one twice,
while a worker of one server is SIGKILLed and the other server is stopped (SIGTERM: it
drains) and started again. Every answer is a 200 in the envelope, none a 502 or 504, and
the database holds each event once.
"""

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from bench.harness import free_port, make_event, seed
from tests.app_server import AppServer, KeepAliveClient, Refused, Reset
from tests.postgres import database_of_its_own, needs_postgresql

URL = "/api/integration/device-data"
CONFIG = Path(settings.BASE_DIR) / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
EVENTS = int(os.environ.get("LOAD_BALANCER_TEST_EVENTS", "10000"))  # fewer for a quick run
CLIENTS = 8
DRAIN_SECONDS = 3  # > the configuration's checks: 1 s apart, two to take a server out


def skip_without_haproxy() -> None:
    if not os.access(HAPROXY, os.X_OK):
        pytest.skip(f"needs HAProxy at {HAPROXY} (apt-get install haproxy)")


class HAProxy:
    """The shipped configuration, run in the foreground with loopback addresses."""

    def __init__(self, directory: Path, app_ports: list[int]):
        self.port = free_port()
        self.socket = directory / "haproxy.sock"
        self.log_path = directory / "haproxy.log"
        self.environment = {
            **os.environ,
            "MES_LISTEN": f"127.0.0.1:{self.port}",
            "MES_APP_1": f"127.0.0.1:{app_ports[0]}",
            "MES_APP_2": f"127.0.0.1:{app_ports[1]}",
            "MES_HOST": "127.0.0.1",
            "MES_HAPROXY_LOG": "stdout",
            "MES_HAPROXY_SOCKET": str(self.socket),
        }
        self.process = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [HAPROXY, "-c", "-f", str(CONFIG)],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def start(self, servers: str = "UP") -> "HAProxy":
        """Start, and wait until the proxy sees both servers in state `servers`."""
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(CONFIG)],
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while self.states() != {"app1": servers, "app2": servers}:
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"servers not {servers}: {self.log()[-2000:]}"
            time.sleep(0.2)
        return self

    def states(self) -> dict[str, str]:
        """Each server's state as the proxy sees it: UP or DOWN."""
        with socket.socket(socket.AF_UNIX) as admin:
            try:
                admin.connect(str(self.socket))
            except (FileNotFoundError, ConnectionRefusedError):
                return {}  # not listening yet
            admin.sendall(b"show servers state mes_app\n")
            answer = b""
            while chunk := admin.recv(65536):
                answer += chunk
        states = {}
        for line in answer.decode().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "mes_app":
                states[fields[3]] = "UP" if fields[5] == "2" else "DOWN"
        return states

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def test_the_shipped_configuration_is_valid(tmp_path):
    skip_without_haproxy()
    result = HAProxy(tmp_path, [free_port(), free_port()]).check()
    assert result.returncode == 0, result.stdout + result.stderr


class Stream:
    """Client threads posting EVENTS new events through the proxy, each sent once."""

    def __init__(self, port: int, key: str, units: list):
        self.port, self.key, self.units = port, key, units
        self.lock = threading.Lock()
        self.next_n = 0
        self.answers: dict[str, tuple[int, dict]] = {}
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self.run, args=(c,), daemon=True) for c in range(CLIENTS)
        ]

    def take(self) -> int | None:
        with self.lock:
            if self.next_n >= EVENTS:
                return None
            self.next_n += 1
            return self.next_n

    @property
    def sent(self) -> int:
        return self.next_n

    def run(self, client_no: int) -> None:
        client = KeepAliveClient(self.port, self.key)
        while (n := self.take()) is not None:
            sn, run_no = self.units[n % len(self.units)]
            event = make_event(f"lb-{n}", sn, run_no, n)
            try:
                status, headers, body = client.post(event)
            except (Refused, Reset) as error:  # from the proxy, which is never stopped
                with self.lock:
                    self.failures.append(f"{event['eventId']}: {error!r}")
                continue
            with self.lock:
                self.answers[event["eventId"]] = (status, body)

    def start(self) -> "Stream":
        for thread in self.threads:
            thread.start()
        return self

    def wait_until_sent(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert time.monotonic() < deadline, f"only {self.sent} events sent"
            time.sleep(0.05)

    def finish(self, timeout: float = 180) -> None:
        for thread in self.threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self.threads)


def sent_again(haproxy_log: str) -> list[str]:
    """The proxy's log lines of requests it sent to another server after a failure (the
    retries field of its HTTP log format, `+1`: redispatched)."""
    return [line for line in haproxy_log.splitlines() if " mes_app/" in line and "/+1 " in line]


def requests_logged(server: AppServer, since: int = 0) -> int:
    """Ingestion requests in the server's log from byte `since` on."""
    with server.log_path.open() as log:
        log.seek(since)
        return sum('"path": "/api/integration/device-data"' in line for line in log)


@pytest.mark.slow
@pytest.mark.postgres_only
@needs_postgresql("two app servers sharing one database")
def test_two_servers_behind_the_proxy_lose_and_double_nothing_through_a_kill_and_a_restart(
    tmp_path,
):
    skip_without_haproxy()
    with database_of_its_own("mes_balanced") as (_name, url):
        seeded = seed(url, 1, 300, 1)
        servers = [
            AppServer(
                url,
                free_port(),
                tmp_path / f"app{n}.log",
                GUNICORN_DRAIN_SECONDS=str(DRAIN_SECONDS),
                LOG_LEVEL="INFO",  # each request's line: requests_logged
            )
            for n in (1, 2)
        ]
        proxy = HAProxy(tmp_path, [server.port for server in servers])
        try:
            for server in servers:
                server.start()
            proxy.start()
            started = time.monotonic()
            stream = Stream(proxy.port, seeded["keys"][0], seeded["units"]).start()

            stream.wait_until_sent(EVENTS * 15 // 100)
            # A worker SIGKILLed, again if it happened to have no request in flight (the
            # proxy logs a request it sent again within a second).
            killed = []
            while len(killed) < 5 and not sent_again(proxy.log()):
                killed.append(servers[0].workers()[0])
                os.kill(killed[-1], signal.SIGKILL)
                time.sleep(2)

            stream.wait_until_sent(EVENTS * 30 // 100)
            servers[1].signal(signal.SIGTERM)
            assert servers[1].wait(timeout=30) == 0
            taken_out = proxy.states()["app2"]
            log_size = servers[1].log_path.stat().st_size
            servers[1].start()
            restarted_at_event = stream.sent
            deadline = time.monotonic() + 30
            while proxy.states()["app2"] != "UP":
                assert time.monotonic() < deadline, "app2 not UP again"
                time.sleep(0.2)

            stream.finish()
            seconds = time.monotonic() - started
            served_after_restart = requests_logged(servers[1], since=log_size)
            workers_after = servers[0].workers()
        finally:
            proxy.stop()
            for server in servers:
                server.stop()

        with psycopg.connect(url) as session:
            records = Counter(
                dict(
                    session.execute(
                        "SELECT event_id, count(*) FROM integration_devicedatarecord "
                        "GROUP BY event_id"
                    ).fetchall()
                )
            )

    haproxy_log = proxy.log()
    statuses = Counter(status for status, _body in stream.answers.values())
    duplicates = sum(
        body.get("data", {}).get("isDuplicate") is True for _s, body in stream.answers.values()
    )
    retried = sent_again(haproxy_log)
    print(
        f"{EVENTS} events in {seconds:.1f} s ({EVENTS / seconds:.0f}/s); statuses "
        f"{dict(statuses)}; answered as duplicates after a proxy retry: {duplicates}; "
        f"requests the proxy sent again: {len(retried)} ({len(killed)} workers killed for "
        f"it); app2 restarted at event {restarted_at_event}, then served "
        f"{served_after_restart} requests"
    )

    assert stream.failures == []
    assert len(stream.answers) == EVENTS
    assert statuses == {200: EVENTS}, statuses  # none a 502, 503 or 504
    for event_id, (_status, body) in stream.answers.items():
        assert body["ok"] is True and body["data"]["eventId"] == event_id, body
    # Nothing lost, nothing doubled.
    assert set(records) == {f"lb-{n}" for n in range(1, EVENTS + 1)}
    assert set(records.values()) == {1}
    # The faults happened under the stream, and the proxy did what the configuration says.
    assert not set(killed) & set(workers_after) and len(workers_after) == 2  # replaced
    assert taken_out == "DOWN"
    # Taken out by its readiness (503) while it drained, not by a refused connection.
    assert "app2 is DOWN, reason: Layer7 wrong status, code: 503" in haproxy_log
    assert restarted_at_event < EVENTS and served_after_restart > 0
    assert retried, "no request was sent again: 5 worker kills met no request in flight"


class FailingServer:
    """A server the proxy sees as ready that fails every POST mid-request (it reads the
    request and closes the connection without an answer, as a killed worker does), and
    answers GET /echo with the request headers it received."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/echo":
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    body = json.dumps(headers).encode()
                else:
                    body = b'{"ok": true, "data": {"status": "ready"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.posts += 1
                self.close_connection = True  # no answer

            def log_message(self, *args):
                pass

        server = self
        self.posts = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # The proxy's health checks close their connections with a reset: expected here.
        default_error = self.httpd.handle_error
        self.httpd.handle_error = lambda request, address: (
            None
            if isinstance(sys.exc_info()[1], ConnectionResetError)
            else default_error(request, address)
        )
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FailingServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def proxy_request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    """(status, headers, JSON body) of one request through the proxy."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def assert_unavailable(answer, cause: str) -> None:
    status, headers, body = answer
    assert headers["Content-Type"] == "application/json", (status, body)
    assert headers["Retry-After"] == "5"
    assert body["ok"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE", body
    assert body["error"]["details"] == {"cause": cause, "written": "unknown"}
    assert "same eventId" in body["error"]["message"]


@pytest.mark.slow
def test_the_proxy_answers_its_own_errors_in_the_envelope(tmp_path):
    skip_without_haproxy()
    event = json.dumps({"eventId": "evt-through-the-proxy"}).encode()
    json_type = {"Content-Type": "application/json"}

    # No app server listening: 503.
    proxy = HAProxy(tmp_path, [free_port(), free_port()])
    try:
        proxy.start(servers="DOWN")
        assert_unavailable(
            proxy_request(proxy.port, "POST", URL, event, json_type), "no server available"
        )
    finally:
        proxy.stop()

    # Both fail mid-request: the proxy sends the request again once, to the other, then 502.
    with FailingServer() as one, FailingServer() as other:
        proxy = HAProxy(tmp_path, [one.port, other.port])
        try:
            proxy.start()
            answer = proxy_request(proxy.port, "POST", URL, event, json_type)
            # A body that never arrives whole: 408, nothing sent to an app server.
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
                raw.sendall(
                    b"POST /api/integration/device-data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
                )
                late = raw.makefile("rb").read().decode()
        finally:
            proxy.stop()
        posts = one.posts + other.posts
    assert_unavailable(answer, "bad gateway")
    assert answer[0] == 502
    assert posts == 2  # the request, and its one retry on the other server
    head, _, payload = late.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 408"), late
    assert "content-type: application/json" in head.lower()
    assert json.loads(payload)["error"]["code"] == "REQUEST_TIMEOUT"


@pytest.mark.slow
def test_only_the_proxy_says_where_a_request_came_from(tmp_path):
    """Whatever a client claims in X-Forwarded-For or X-Forwarded-Proto is replaced; each
    request gets an X-Request-ID unless the gateway sent one."""
    skip_without_haproxy()
    with FailingServer() as one, FailingServer() as other:
        proxy = HAProxy(tmp_path, [one.port, other.port])
        try:
            proxy.start()
            claimed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
            _status, _headers, seen = proxy_request(proxy.port, "GET", "/echo", headers=claimed)
            _status, _headers, kept = proxy_request(
                proxy.port, "GET", "/echo", headers={"X-Request-ID": "gw-7:000123"}
            )
        finally:
            proxy.stop()
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert len(seen["x-request-id"]) == 36  # a UUID
    assert kept["x-request-id"] == "gw-7:000123"
