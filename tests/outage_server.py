"""A real app server against a database of its own that a test takes away (docs/api.md:
503 SERVICE_UNAVAILABLE): the database created, migrated and seeded
(`outage_database`), reached through a TCP proxy (`proxy`, tests/tcp_proxy.py), served
by gunicorn with one worker (`server`); plain HTTP requests, and the rows an eventId
left, read from the database itself. The fixtures are the ingestion tests' (their
conftest.py)."""

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from bench.harness import free_port
from tests import network_namespace
from tests.network_namespace import NetworkNamespace
from tests.tcp_proxy import TcpProxy


def needs_a_postgresql_server(what: str) -> list:
    """The marks of a test of a real server against PostgreSQL (`what` it takes away):
    slow, and skipped with the reason on SQLite, a file of the test's own process."""
    return [
        pytest.mark.slow,
        pytest.mark.skipif(
            settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
            reason=f"needs PostgreSQL: a separate server process and {what} (SQLite is a "
            "file of this process)",
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
