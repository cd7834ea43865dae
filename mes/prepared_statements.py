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
"""

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


connection_created.connect(watch_for_stale_statements)
