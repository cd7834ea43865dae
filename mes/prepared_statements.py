"""Prepared statements that survive a schema change (PostgreSQL).

Server-side binding prepares the statements that repeat (settings,
`DATABASE_PREPARED_STATEMENTS`): planning was a third of the ingestion's
statement time. The cost: after a migration changes a column's type in
another session, PostgreSQL refuses a statement prepared before it ("cached
plan must not change result type") until it is prepared again.

- Inside a transaction (the ingestion's), the failed transaction rolls back,
  psycopg deallocates its prepared statements on rollback, and the ingestion
  tries the event again (mes/database_errors.py).
- Outside one (autocommit: the read API, the admin's lists), this wrapper
  deallocates them and runs the statement again, once.

tests/mes/test_schema_change.py changes a column's type between requests on a
pooled connection and checks that neither path answers an error.

Names apart: psycopg names a connection's prepared statements `_pg3_0`, `_pg3_1`, … in
the order it prepares them, the same on every connection. Behind a pooler that does not
keep prepared statements (PgBouncer in transaction mode before 1.21), a statement sent by
name to another client's server connection then ran that client's statement of the same
name with this one's parameters: track lookups found nothing and events were refused as
TRACK_NOT_FOUND (seen in tests/mes/test_readiness.py). Each connection's names start at a
random number instead, so a statement that lands elsewhere is missing there (an error,
tried again) and never another one. /readyz refuses such a pooler all the same.
"""

import secrets

from django.db import DatabaseError
from django.db.backends.signals import connection_created

from mes.database_errors import Cause, cause_of


def run_again_if_stale(execute, sql, params, many, context):
    """Django execute wrapper: a statement refused for a stale plan outside a
    transaction is run again after DEALLOCATE ALL."""
    try:
        return execute(sql, params, many, context)
    except DatabaseError as error:
        db = context["connection"]
        if (
            cause_of(error) is not Cause.STALE_STATEMENT
            or db.in_atomic_block
            or not db.get_autocommit()
        ):
            raise
        with db.cursor() as cursor:
            # psycopg forgets its own prepared statements when it sees this command.
            cursor.execute("DEALLOCATE ALL")
        return execute(sql, params, many, context)


def watch_for_stale_statements(sender, connection, **kwargs):
    if connection.vendor == "postgresql" and run_again_if_stale not in connection.execute_wrappers:
        connection.execute_wrappers.append(run_again_if_stale)


def name_statements_apart(sender, connection, **kwargs):
    """Start this connection's prepared-statement names at a random number (see above).
    psycopg keeps the counter in a private attribute: tests/mes/test_prepared_statement_names.py
    fails if a new psycopg moves it."""
    if connection.vendor != "postgresql":
        return
    manager = getattr(connection.connection, "_prepared", None)
    if manager is not None and hasattr(manager, "_prepared_idx"):
        manager._prepared_idx = secrets.randbits(48)


connection_created.connect(watch_for_stale_statements)
connection_created.connect(name_statements_apart)
