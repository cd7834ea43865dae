"""What a database error means for the request that met it: worth a second try, or an answer.

The ingestion writes each event in a transaction with a lock timeout and a
statement timeout (`bounded_transaction`). When one fails, the error's cause
decides what follows (docs/ingestion.md, "When the database fails"): a lost
race, a refused cached plan or a deadlock succeed when tried again; a lock or
statement timeout would only wait again, so it is answered (503) at once; a
lost connection is dropped, so the next try opens a new one.
"""

import enum
from contextlib import contextmanager

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction


class Cause(enum.StrEnum):
    LOCK_TIMEOUT = "lock timeout"
    STATEMENT_TIMEOUT = "statement timeout"
    CANCELED = "statement canceled"
    TRANSACTION_CONFLICT = "deadlock or serialization failure"
    STALE_STATEMENT = "prepared statement made before a schema change"
    CONNECTION_LOST = "connection lost"
    OUT_OF_TIME = "time limit of the request"
    SCHEMA_BEHIND = "a table or column the code needs is missing (migrations not applied)"
    OUT_OF_RESOURCES = "database out of resources"
    OTHER = "database error"


# Worth a second try: the cause is gone once the transaction has rolled back
# (psycopg deallocates its prepared statements on rollback) or the connection
# is new.
WORTH_RETRYING = {Cause.TRANSACTION_CONFLICT, Cause.STALE_STATEMENT, Cause.CONNECTION_LOST}
# Passing: the database is there, but busy or blocked; answered 503 with Retry-After.
PASSING = WORTH_RETRYING | {
    Cause.LOCK_TIMEOUT,
    Cause.STATEMENT_TIMEOUT,
    Cause.CANCELED,
    Cause.OUT_OF_TIME,
    # A migration being applied or undone under this code: nothing was written, and the
    # call succeeds once the schema matches again (readiness says which are missing).
    Cause.SCHEMA_BEHIND,
    # The server's disk, memory or connections ran out (SQLSTATE class 53): the event is
    # not at fault, and a 500 would tell its sender not to send it again
    # (tests/integration/ingestion/test_database_disk_full.py).
    Cause.OUT_OF_RESOURCES,
}
# The server ends or refuses the session: admin_shutdown, crash_shutdown, cannot_connect_now,
# idle_session_timeout, idle_in_transaction_session_timeout, and read_only_sql_transaction
# (a standby after a failover: a new connection finds the new primary).
SESSION_ENDED = {"57P01", "57P02", "57P03", "57P05", "25P03", "25006"}


class GaveUp(OperationalError):
    """Stands for an earlier failure of the same list: the events left are not tried."""

    def __init__(self, cause: Cause):
        super().__init__(cause.value)
        self.cause = cause


class BinaryCopyRefused(DatabaseError):
    """The server refused a binary COPY's data: a column's type was changed by a
    migration under this running process (mes/db.py copies that table as text from
    then on). Worth another try, as a stale prepared statement is."""


def _sqlstate(error: BaseException) -> str | None:
    return getattr(error.__cause__, "sqlstate", None) or getattr(error, "sqlstate", None)


def cause_of(error: DatabaseError) -> Cause:
    """Why a statement failed, from PostgreSQL's SQLSTATE or SQLite's error name."""
    if isinstance(error, GaveUp):
        return error.cause
    if isinstance(error, CommitUncertain):
        return cause_of(error.error)
    if isinstance(error, BinaryCopyRefused):
        return Cause.STALE_STATEMENT
    sqlite_name = getattr(error.__cause__, "sqlite_errorname", None)
    if sqlite_name:
        if sqlite_name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return Cause.LOCK_TIMEOUT  # the busy timeout ran out
        if str(error).startswith(("no such table", "no such column")):
            return Cause.SCHEMA_BEHIND
        if sqlite_name.startswith(("SQLITE_FULL", "SQLITE_NOMEM")):
            return Cause.OUT_OF_RESOURCES
        return Cause.OTHER
    state = _sqlstate(error) or ""
    text = str(error).lower()
    if state == "55P03":
        return Cause.LOCK_TIMEOUT
    if state == "57014":
        return Cause.STATEMENT_TIMEOUT if "statement timeout" in text else Cause.CANCELED
    if state in ("40P01", "40001"):
        return Cause.TRANSACTION_CONFLICT
    if state in ("42703", "42P01"):  # undefined_column, undefined_table
        return Cause.SCHEMA_BEHIND
    # 0A000 "cached plan must not change result type" after an ALTER … TYPE elsewhere
    # (told by the server function that raises it, whatever the server's language);
    # 26000 a prepared statement the server no longer has (DISCARD ALL by a pooler).
    if (state == "0A000" and _raised_by(error) == "RevalidateCachedQuery") or state == "26000":
        return Cause.STALE_STATEMENT
    if state.startswith("08") or state in SESSION_ENDED:
        return Cause.CONNECTION_LOST
    if state.startswith("53"):  # disk_full, out_of_memory, too_many_connections, …
        return Cause.OUT_OF_RESOURCES
    if isinstance(error, InterfaceError) or (isinstance(error, OperationalError) and not state):
        return Cause.CONNECTION_LOST  # the driver's own: closed, reset or unreachable
    return Cause.OTHER


def _raised_by(error: BaseException) -> str | None:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "source_function", None)


def make_ready_for_retry(cause: Cause) -> None:
    """After a failed transaction, outside any other: drop a lost connection, so the
    next statement opens a new one (Django reconnects only between requests)."""
    if cause is Cause.CONNECTION_LOST and not connection.in_atomic_block:
        connection.close()


class CommitUncertain(DatabaseError):
    """The connection was lost during the COMMIT: the transaction may or may not have
    been written. (An error the server reports for the commit, such as a deferred
    foreign key, means it was rolled back, and is raised as it is.)"""

    def __init__(self, error: DatabaseError):
        super().__init__(str(error))
        self.error = error


@contextmanager
def bounded_transaction(*, lock_timeout_ms: int, statement_timeout_ms: int):
    """`transaction.atomic()` in which no lock is waited for longer than
    `lock_timeout_ms` and no statement runs longer than `statement_timeout_ms`
    (PostgreSQL; `SET LOCAL`, so they end with the transaction).

    Inside a caller's transaction it is a savepoint and leaves the caller's
    timeouts alone. A failed COMMIT raises CommitUncertain: every error before
    it means nothing was written.
    """
    outermost = not connection.in_atomic_block and connection.get_autocommit()
    committing = False
    try:
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true), "
                        "set_config('statement_timeout', %s, true)",
                        [f"{lock_timeout_ms}ms", f"{statement_timeout_ms}ms"],
                    )
            yield
            committing = outermost
    except DatabaseError as error:
        if committing and cause_of(error) is Cause.CONNECTION_LOST:
            raise CommitUncertain(error) from error
        raise
