"""A second PostgreSQL session for tests that need one: to hold a lock, change the
schema or cut a connection while the app's own connections are in use."""

import contextlib
import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connection


def needs_postgresql(why: str):
    """Skip on SQLite, saying why the test needs PostgreSQL."""
    return pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason=f"needs PostgreSQL: {why}",
    )


def second_session(dbname: str | None = None) -> psycopg.Connection:
    """A new autocommit session on the test database (or `dbname`), not Django's."""
    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname=dbname or connection.settings_dict["NAME"],
        autocommit=True,
        connect_timeout=10,
    )


def url_of_database(name: str) -> str:
    """A URL to database `name` on the test server, for a process of its own (a
    benchmark that creates and drops that database)."""
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return f"postgres://{database['USER']}{password}@{host}:{port}/{name}"


def run_bench(script: str, *arguments: str) -> subprocess.CompletedProcess:
    """Run a bench/ script as `make` would, outside pytest's environment."""
    return subprocess.run(
        [sys.executable, script, *arguments],
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextlib.contextmanager
def database_of_its_own(prefix: str = "mes_own"):
    """A new, empty database on the test server (name, URL), dropped afterwards: for a
    test that migrates back and forth, which the shared test database must not see."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with second_session("postgres") as session:
        session.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, url_of_database(name)
    finally:
        with second_session("postgres") as session:
            session.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(database_url: str, *arguments: str) -> subprocess.CompletedProcess:
    """`manage.py …` against another database, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY="a-test-key-for-manage-commands")
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@contextlib.contextmanager
def row_locked(table: str, pk: int):
    """Hold a row lock from another session (as an admin edit or a maintenance
    UPDATE does) until the block ends."""
    with second_session() as session:
        session.execute("BEGIN")
        session.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])
        try:
            yield session
        finally:
            session.execute("ROLLBACK")


def backends_waiting_on_a_lock(timeout: float = 10, at_least: int = 1) -> list[int]:
    """The process ids of this database's sessions waiting for a lock, once there are
    `at_least` of them.

    Asked from a session of its own, in autocommit: within a transaction,
    pg_stat_activity answers the same snapshot every time."""
    deadline = time.monotonic() + timeout
    with second_session() as session:
        while time.monotonic() < deadline:
            pids = [
                pid
                for (pid,) in session.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ]
            if len(pids) >= at_least:
                return pids
            time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} sessions waited for the lock")


@contextlib.contextmanager
def database_cut():
    """A real fault for a consumer process: while the block runs, nobody may connect to the
    test database, and every session of it but this test's own is cut."""
    name = connection.settings_dict["NAME"]
    with second_session("postgres") as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND application_name NOT LIKE 'pytest%%' AND pid <> pg_backend_pid() "
                "AND pid <> %s",
                [name, connection.connection.info.backend_pid if connection.connection else 0],
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
