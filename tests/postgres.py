"""A second PostgreSQL session for tests that need one: to hold a lock, change the
schema or cut a connection while the app's own connections are in use."""

import contextlib
import time

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


def backends_waiting_on_a_lock(timeout: float = 10) -> list[int]:
    """The process ids of this database's sessions waiting for a lock, once there is one.

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
            if pids:
                return pids
            time.sleep(0.02)
    raise AssertionError("no session waited for the lock")
