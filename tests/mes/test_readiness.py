"""/readyz is 200 only when the server can ingest; /healthz never touches the database.

Real parts, no mocks: a gunicorn server (tests/app_server.py) on a database that lacks
migrations; a real PgBouncer in transaction mode, which keeps no prepared statements
(tests/pgbouncer.py); a second PostgreSQL session holding the lock the readiness check
waits on. Not ready from SIGTERM on: tests/mes/test_graceful_shutdown.py.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

import mes.health
from bench.harness import free_port, make_event, seed
from tests.app_server import AppServer, KeepAliveClient, get
from tests.pgbouncer import pgbouncer
from tests.postgres import (
    backends_waiting_on_a_lock,
    database_of_its_own,
    manage,
    needs_postgresql,
    second_session,
)

# --- in the test process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_runs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "data": {"status": "up"}}


@pytest.mark.django_db
def test_readyz_says_what_it_checked(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    prepared = "work" if connection.vendor == "postgresql" else "off"
    assert response.json()["data"] == {
        "status": "ready",
        "database": "up",
        "migrations": "applied",
        "preparedStatements": prepared,
    }


@pytest.fixture
def fresh_readiness(monkeypatch):
    """This process's readiness as a server just started has it: nothing checked yet."""
    readiness = mes.health.Readiness()
    monkeypatch.setattr(mes.health, "readiness", readiness)
    return readiness


@pytest.mark.postgres_only
@needs_postgresql("a second session holding a lock, and a check in a thread of its own")
@pytest.mark.django_db
def test_readyz_answers_within_a_second_while_its_query_waits_on_a_lock(
    client, fresh_readiness, monkeypatch
):
    assert client.get("/readyz").status_code == 200

    with second_session() as session:
        # As a migration in progress can: the table of applied migrations, locked.
        session.execute("BEGIN")
        session.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")

        # A passed migration check holds a while: the probe does not read the table.
        started = time.monotonic()
        assert client.get("/readyz").status_code == 200
        assert time.monotonic() - started < 1

        monkeypatch.setattr(mes.health, "RECHECK_SECONDS", 0.0)
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started
        assert backends_waiting_on_a_lock(timeout=2)  # the check really waits
        assert response.status_code == 503, response.content
        assert took < 1, f"answered in {took:.2f} s"
        assert response["Retry-After"] == "5"
        error = response.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["details"]["cause"] == "database timeout"
        # While the check still waits, probes answer in time too.
        started = time.monotonic()
        assert client.get("/readyz").status_code == 503
        assert time.monotonic() - started < 1
        session.execute("ROLLBACK")

    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the lock went"
        time.sleep(0.1)


# --- a real server -----------------------------------------------------------------------------


@pytest.fixture
def empty_database(tmp_path):
    """A database with no tables (PostgreSQL or SQLite, as the tests run): its URL."""
    if connection.vendor == "postgresql":
        with database_of_its_own("mes_ready") as (_name, url):
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def latest_migration(app_label: str) -> tuple[str, str]:
    """(the app's latest migration, the one before it), from the code."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = [node for node in graph.leaf_nodes() if node[0] == app_label]
    (parent,) = [node for node in graph.node_map[leaf].parents if node[0] == app_label]
    return leaf[1], parent[1]


@pytest.mark.slow
def test_readyz_answers_503_until_every_migration_is_applied(empty_database, tmp_path):
    server = AppServer(empty_database, free_port(), tmp_path / "server.log")
    server.start(ready=False)
    try:
        status, body, _seconds = get(server.port, "/readyz")
        assert status == 503, body
        assert body["error"]["details"]["cause"] == "migrations not applied"
        # Every migration of the code is missing; the first 20 are named (third-party apps'
        # come first, so which ones depends on INSTALLED_APPS), the message has the count.
        code = MigrationLoader(None, ignore_no_migrations=True).graph.nodes
        assert f"lacks {len(code)} of this code's migrations" in body["error"]["message"]
        missing = body["error"]["details"]["missing"]
        assert len(missing) == 20 and set(missing) <= {f"{app}.{name}" for app, name in code}
        assert "manage.py migrate" in body["error"]["message"]

        manage(empty_database, "migrate", "--noinput", "-v", "0")
        assert get(server.port, "/readyz")[0] == 200  # a failed check is made again at once

        # The code is a migration ahead of the database (recorded as not applied).
        latest, before = latest_migration("integration")
        manage(empty_database, "migrate", "integration", before, "--fake", "-v", "0")
    finally:
        server.stop()
    # A new server (the passed check of the old one held for a while).
    server = AppServer(empty_database, free_port(), tmp_path / "server-2.log")
    server.start(ready=False)
    try:
        status, body, _seconds = get(server.port, "/readyz")
        assert status == 503, body
        assert body["error"]["details"]["missing"] == [f"integration.{latest}"]
        assert get(server.port, "/healthz")[0] == 200  # alive, only not ready
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.postgres_only
@needs_postgresql("PgBouncer in front of PostgreSQL")
def test_readyz_answers_503_behind_a_pooler_that_keeps_no_prepared_statements(tmp_path):
    with database_of_its_own("mes_pooled") as (name, direct_url):
        seeded = seed(direct_url, 1, 20, 1)
        with pgbouncer("transaction") as port:
            pooled_url = f"postgres://postgres@127.0.0.1:{port}/{name}"
            server = AppServer(pooled_url, free_port(), tmp_path / "server.log")
            server.start(ready=False)
            try:
                status, body, _seconds = get(server.port, "/readyz")
                # Sent there all the same, no event is refused for another's statement:
                # each prepared-statement name is this connection's own
                # (mes/prepared_statements.py). psycopg's names were alike on every
                # connection, and a statement sent to another client's server connection
                # ran that one's statement of the same name: 500s, and events refused as
                # TRACK_NOT_FOUND.
                statuses = post_concurrently(server.port, seeded, "pooled", 240)
            finally:
                server.stop()
            assert status == 503, body
            assert body["error"]["details"]["cause"] == "prepared statements refused"
            assert "DATABASE_PREPARED_STATEMENTS=0" in body["error"]["message"]
            assert set(statuses) <= {200, 503}, statuses
            with psycopg.connect(direct_url) as session:
                written = session.execute(
                    "SELECT count(*) FROM integration_devicedatarecord "
                    "WHERE event_id LIKE 'pooled-%%'"
                ).fetchone()[0]
            assert written == statuses.get(200, 0), (written, statuses)

            # With prepared statements off, the same pooler serves.
            server = AppServer(
                pooled_url,
                free_port(),
                tmp_path / "server-off.log",
                DATABASE_PREPARED_STATEMENTS="0",
            )
            try:
                status, body, _seconds = get(server.start().port, "/readyz")
                statuses = post_concurrently(server.port, seeded, "unprepared", 120)
            finally:
                server.stop()
            assert body["data"]["preparedStatements"] == "off"
            assert set(statuses) == {200}, statuses

        # A pooler that keeps sessions keeps their prepared statements.
        with pgbouncer("session") as port:
            server = AppServer(
                f"postgres://postgres@127.0.0.1:{port}/{name}",
                free_port(),
                tmp_path / "server-session.log",
            )
            try:
                status, body, _seconds = get(server.start().port, "/readyz")
            finally:
                server.stop()
            assert body["data"]["preparedStatements"] == "work"


def post_concurrently(port: int, seeded: dict, prefix: str, count: int) -> dict:
    """`count` new events from 8 keep-alive clients: how many got each status."""
    units = seeded["units"]

    def send(client_no: int) -> list[int]:
        client = KeepAliveClient(port, seeded["keys"][0])
        statuses = []
        for n in range(count // 8):
            sn, run_no = units[(client_no + n) % len(units)]
            event = make_event(f"{prefix}-{client_no}-{n}", sn, run_no, n)
            statuses.append(client.post(event)[0])
        return statuses

    with ThreadPoolExecutor(8) as pool:
        answers = [status for result in pool.map(send, range(8)) for status in result]
    return {status: answers.count(status) for status in set(answers)}
