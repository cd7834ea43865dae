"""The database goes away under a running server, for real (docs/api.md: 503 SERVICE_UNAVAILABLE).

A dedicated PostgreSQL database is created and migrated; the app runs as a
separate gunicorn process whose DATABASE_URL points through a small TCP proxy
started here (tests/tcp_proxy.py). Stopping the proxy resets the server's open
database connections and refuses new ones, as a stopped or restarted database
does; "hanging" it accepts connections and never answers, as an unreachable
host does; cutting it off (a proxy in a network namespace whose link goes down)
drops every packet mid-conversation, as a host that vanished does. No mocks: the
real driver, Django's connection handling and the exception handler meet a real
failure.

While the database is down: ingestion answers 503 SERVICE_UNAVAILABLE with
Retry-After, in the JSON envelope, within a bounded time, and /readyz says 503.
When it is back, the same event goes through once.
"""

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from bench.harness import free_port
from tests import network_namespace
from tests.network_namespace import NetworkNamespace
from tests.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL: a separate server process and a database to take away "
        "(SQLite is a file, it has no outage to simulate)",
    ),
]

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT = 2  # the server's DATABASE_CONNECT_TIMEOUT, seconds
TCP_USER_TIMEOUT_MS = 3000  # the server's DATABASE_TCP_USER_TIMEOUT_MS
HTTP_TIMEOUT = 20
URL = "/api/integration/device-data"
SERVER_SECRET_KEY = "outage-test-only-secret-key-" + uuid.uuid4().hex

SEED = """
import django
django.setup()
from execution.models import DataSpec
from integration.gateways.keys import create_gateway
from tests.factories import (
    DataSpecFactory, OperationFactory, RouteStepFactory, RunFactory, StationFactory,
    TrackFactory, UnitFactory,
)
station = StationFactory(code="SMT-01")
operation = OperationFactory(code="OP-REFLOW")
peak = DataSpecFactory(operation=operation, name="Peak Temperature", spec={"min": 240, "max": 250})
step = RouteStepFactory(step_no=10, operation=operation, data_specs=[peak])
run = RunFactory(run_no="RUN-2026-001", route_version=step.route_version)
TrackFactory(unit=UnitFactory(sn="SN-0001", run=run), step_no=10, station=station)
user, key = create_gateway("gw-outage")
# An integration admin signed in, as the back office's people are.
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
admin = User.objects.create_user("admin-outage", password="not-used-x1", is_staff=True)
admin.groups.add(Group.objects.get(name="Integration admins"))
session = SessionStore()
session[SESSION_KEY] = str(admin.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
session.save()
print(session.session_key)
print(key)
"""


def event(event_id: str) -> dict:
    return {
        "eventId": event_id,
        "eventTime": "2026-01-24T10:00:00Z",
        "source": "AUTO",
        "runNo": "RUN-2026-001",
        "unitSn": "SN-0001",
        "stationCode": "SMT-01",
        "stepNo": 10,
        "data": [{"specName": "Peak Temperature", "valueNumber": 245}],
    }


def admin_connection(dbname: str = "postgres"):
    import psycopg

    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"] or LOOPBACK,
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
        connect_timeout=10,
    )


def database_url(host: str, port: int, dbname: str) -> str:
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    return f"postgres://{database['USER']}{password}@{host}:{port}/{dbname}"


@pytest.fixture
def outage_database():
    """A database of its own, migrated and seeded; dropped afterwards whatever happens."""
    database = settings.DATABASES["default"]
    host = database["HOST"] or LOOPBACK
    if host not in (LOOPBACK, "localhost", "::1"):
        pytest.skip(f"the database server must be on loopback to be proxied, not {host}")
    port = int(database["PORT"] or 5432)
    name = f"mes_outage_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        env = server_environment(database_url(LOOPBACK, port, name))
        for command in (
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            [sys.executable, "-c", SEED],
        ):
            result = subprocess.run(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr[-3000:]
        session, key = result.stdout.strip().splitlines()[-2:]
        yield {"name": name, "host": LOOPBACK, "port": port, "key": key, "session": session}
    finally:
        with admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_environment(database: str) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "PYTEST_", "GATEWAY_", "CACHE_", "SECURE_"))
    }
    env.update(
        SECRET_KEY=SERVER_SECRET_KEY,  # one for the seed and the server: sessions are signed
        DATABASE_URL=database,
        DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        DATABASE_TCP_USER_TIMEOUT_MS=str(TCP_USER_TIMEOUT_MS),
        DJANGO_SETTINGS_MODULE="mes.settings",
        DEBUG="",  # production behaviour: no debug pages
        GUNICORN_DRAIN_SECONDS="0",  # no load balancer to wait for when the test stops it
        GATEWAY_KEY_CACHE_MS=str(KEY_KEPT_MS),
        PYTHONUNBUFFERED="1",
    )
    return env


# A key found is taken as found for this long by the worker (integration/gateways/
# key_cache.py): a request that needs nothing else of the database may be answered from
# memory meanwhile.
KEY_KEPT_MS = 1000


@pytest.fixture
def proxy(outage_database, request):
    """The proxy on loopback, or (parametrized indirectly with "cut off") in a network
    namespace of its own, whose `namespace.cut()` drops its packets."""
    with contextlib.ExitStack() as stack:
        namespace = None
        if getattr(request, "param", None) == "cut off":
            if why := network_namespace.missing():
                pytest.skip(why)
            namespace = stack.enter_context(NetworkNamespace())
        proxy = TcpProxy((outage_database["host"], outage_database["port"]), namespace)
        proxy.up()
        stack.callback(proxy.down)
        yield proxy


@pytest.fixture
def server(outage_database, proxy, tmp_path: Path):
    """gunicorn, one worker, its database reached through the proxy."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mes.wsgi:application",
            "--bind",
            f"{LOOPBACK}:{port}",
            "--workers",
            "1",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
        ],
        cwd=settings.BASE_DIR,
        env=server_environment(database_url(proxy.host, proxy.port, outage_database["name"])),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.2)
        yield {
            "port": port,
            "key": outage_database["key"],
            "session": outage_database["session"],
            "log": tmp_path / "gunicorn.log",
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def request(port: int, method: str, path: str, body=None, key=None, session=None):
    """One HTTP request on a new connection: (status, headers, body bytes, seconds)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=HTTP_TIMEOUT)
    headers = {"Accept": "application/json"}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if key:
        headers["Authorization"] = f"Token {key}"
    started = time.monotonic()
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        content = response.read()
        return response.status, dict(response.getheaders()), content, time.monotonic() - started
    finally:
        connection.close()


def assert_unavailable(answer, *, within: float):
    status, headers, content, seconds = answer
    assert status == 503, content[:500]
    assert headers["Content-Type"].startswith("application/json")
    assert b"<html" not in content.lower() and b"Traceback" not in content
    body = json.loads(content)
    assert body["ok"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert int(headers["Retry-After"]) >= 1
    assert seconds < within, f"answered in {seconds:.1f} s"


def records(database: dict, event_id: str) -> tuple[int, list[str]]:
    """The records and message statuses of one eventId, read from the database itself."""
    with admin_connection(database["name"]) as connection:
        count = connection.execute(
            "SELECT count(*) FROM integration_devicedatarecord WHERE event_id = %s", [event_id]
        ).fetchone()[0]
        statuses = [
            row[0]
            for row in connection.execute(
                "SELECT status FROM integration_integrationmessage WHERE business_key = %s "
                "ORDER BY id",
                [f"device-data:{event_id}"],
            )
        ]
    return count, statuses


def test_ingestion_answers_503_while_the_database_is_away_and_writes_the_event_once_after(
    server, proxy, outage_database
):
    port, key, session = server["port"], server["key"], server["session"]

    # Up: a first event goes through and leaves the worker a persistent connection.
    status, _headers, content, _seconds = request(port, "POST", URL, event("evt-before"), key)
    assert status == 200, content
    assert request(port, "GET", "/readyz")[0] == 200
    assert request(port, "GET", URL, session=session)[0] == 200

    # Stopped: open connections are reset, new ones refused.
    proxy.down()
    for _ in range(3):  # the broken persistent connection, then fresh attempts
        assert_unavailable(request(port, "POST", URL, event("evt-outage"), key), within=10)
    assert_unavailable(request(port, "GET", "/readyz"), within=10)
    time.sleep(KEY_KEPT_MS / 1000)  # the key kept since the first event: looked up again
    assert_unavailable(request(port, "GET", "/api/integration/whoami", key=key), within=10)
    # A signed-in person's session is in the database too.
    assert_unavailable(request(port, "GET", URL, session=session), within=10)
    assert_unavailable(
        request(port, "GET", "/api/integration/messages", session=session), within=10
    )
    assert request(port, "GET", "/healthz")[0] == 200  # the process itself is up

    # Back: the same event goes through once; sent again, it is a duplicate.
    proxy.up()
    assert request(port, "GET", "/readyz")[0] == 200
    status, headers, content, _seconds = request(port, "POST", URL, event("evt-outage"), key)
    assert status == 200, content
    assert json.loads(content)["data"]["isDuplicate"] is False
    status, headers, content, _seconds = request(port, "POST", URL, event("evt-outage"), key)
    assert status == 200 and json.loads(content)["data"]["isDuplicate"] is True
    assert headers["Idempotent-Replayed"] == "true"

    assert records(outage_database, "evt-outage") == (1, ["SUCCESS", "DUPLICATE"])
    assert records(outage_database, "evt-before") == (1, ["SUCCESS"])
    log = server["log"].read_text()
    assert "Database unavailable" in log
    assert "Traceback" not in log, log[-3000:]


def test_a_database_that_does_not_answer_is_a_503_within_the_connect_timeout(
    server, proxy, outage_database
):
    """An unreachable host (no refusal, no answer) must not hold requests for ever:
    each is answered 503 once the connect timeout has passed."""
    port, key = server["port"], server["key"]
    assert request(port, "POST", URL, event("evt-before"), key)[0] == 200

    proxy.hang()
    bound = CONNECT_TIMEOUT + 5
    assert_unavailable(request(port, "POST", URL, event("evt-hang"), key), within=bound)
    # A load balancer's probe is answered within a second (docs/operations.md, Readiness).
    assert_unavailable(request(port, "GET", "/readyz"), within=1)

    proxy.up()
    status, _headers, content, _seconds = request(port, "POST", URL, event("evt-hang"), key)
    assert status == 200, content
    assert records(outage_database, "evt-hang") == (1, ["SUCCESS"])


def test_a_batch_whose_database_goes_away_mid_way_answers_503_and_writes_nothing(
    server, proxy, outage_database
):
    """The batch waits on a locked row when the database goes away: its events are
    answered 503 (the rest without trying each), never a 500 per event."""
    port, key = server["port"], server["key"]
    assert request(port, "POST", URL, event("evt-locked"), key)[0] == 200
    batch = {"events": [event("evt-locked"), event("evt-batch-1"), event("evt-batch-2")]}
    answers = []

    with admin_connection(outage_database["name"]) as lock:
        lock.execute("BEGIN")
        lock.execute(
            "SELECT 1 FROM integration_devicedatarecord WHERE event_id = 'evt-locked' FOR UPDATE"
        )
        poster = threading.Thread(
            target=lambda: answers.append(request(port, "POST", URL + "/batch", batch, key))
        )
        poster.start()
        with admin_connection(outage_database["name"]) as watch:
            deadline = time.monotonic() + 10
            while not watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the batch never waited on the lock"
                time.sleep(0.01)
        proxy.down()
        poster.join(timeout=30)
        lock.execute("ROLLBACK")

    assert_unavailable(answers[0], within=10)
    body = json.loads(answers[0][2])
    assert "Nothing of this batch was written" in body["error"]["message"]
    assert body["error"]["details"] == {"cause": "connection lost", "written": "nothing"}
    proxy.up()
    assert records(outage_database, "evt-batch-1") == (0, [])
    assert records(outage_database, "evt-locked") == (1, ["SUCCESS"])


@pytest.mark.parametrize("proxy", ["cut off"], indirect=True)
def test_a_database_host_cut_off_mid_conversation_is_a_503_within_the_tcp_user_timeout(
    server, proxy, outage_database
):
    """A host that vanishes (no reset, no refusal: packets dropped) while the worker's
    connection is open: what the worker sends stays unacknowledged, and without a TCP user
    timeout the kernel retransmits for about fifteen minutes while the request waits
    (keepalives bound only an idle connection). Each request is answered 503 once the
    user timeout, then the connect timeout of a new connection, have passed; the process
    keeps answering, and the event goes through once the host is back."""
    port, key, session = server["port"], server["key"], server["session"]
    assert request(port, "POST", URL, event("evt-before"), key)[0] == 200
    assert request(port, "GET", URL, session=session)[0] == 200

    proxy.namespace.cut()
    bound = TCP_USER_TIMEOUT_MS / 1000 + CONNECT_TIMEOUT + 5
    # A read on the worker's open connection: nothing else to write on.
    assert_unavailable(request(port, "GET", URL, session=session), within=bound)
    assert_unavailable(request(port, "POST", URL, event("evt-cut"), key), within=bound)
    assert request(port, "GET", "/healthz")[0] == 200
    assert_unavailable(request(port, "POST", URL, event("evt-cut"), key), within=bound)

    proxy.namespace.mend()
    status, _headers, content, _seconds = request(port, "POST", URL, event("evt-cut"), key)
    assert status == 200, content
    assert records(outage_database, "evt-cut") == (1, ["SUCCESS"])
