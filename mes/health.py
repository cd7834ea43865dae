"""Health checks for load balancers: /healthz (the process is up), /readyz (it can ingest).

/healthz never touches the database: a liveness probe must not have a server restarted
because its database is away. /readyz is 200 only while this process can take events
(docs/operations.md, "Readiness"):

- its server has not been told to stop (mes/shutdown.py: from SIGTERM to gunicorn's master
  on, while the workers drain; a reload, which replaces workers, is not a stop);
- a new connection to the database answers;
- every migration of the code is applied (Django's migration executor against the
  database's table of applied migrations);
- on PostgreSQL with prepared statements on (`DATABASE_PREPARED_STATEMENTS`), a statement
  prepared on one connection runs again there after another session's transaction began,
  as the ingestion's repeated statements do; a pooler in transaction mode that does not
  keep prepared statements (PgBouncer before 1.21, or `max_prepared_statements = 0`)
  hands the second run to another server connection, where it does not exist.

A passed migration or prepared-statement check holds for RECHECK_SECONDS in this process,
so a probe usually costs one connection and one `SELECT 1`; a failed one is checked again
on every probe. On PostgreSQL the checks run in a thread of their own, one at a time, on a
connection opened and closed for them, and the probe waits at most ANSWER_WITHIN_SECONDS:
a database that hangs gives a 503 in time instead of holding a request thread.
"""

import secrets
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import psycopg
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from mes import shutdown
from mes.api.exceptions import error_body

ANSWER_WITHIN_SECONDS = 0.8  # load balancers give a probe 1 s or more
RECHECK_SECONDS = 30.0
# The checks' own statements give up after this (the probe has answered by then): a
# migration holding the table of applied migrations must not keep the thread for ever.
STATEMENT_TIMEOUT_MS = 1000
RETRY_AFTER_SECONDS = 5


class NotReady(Exception):
    """Why this process cannot take events now: a cause (short, for details.cause) and a
    message saying what to do."""

    def __init__(self, cause: str, message: str, **details):
        super().__init__(message)
        self.cause, self.message, self.details = cause, message, details


def require_get(view):
    """Other methods get a 405 in the JSON envelope, like the rest of the API."""

    def checked(request):
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body("METHOD_NOT_ALLOWED", f"Method {request.method} not allowed."),
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    checked.__doc__ = view.__doc__
    return checked


@never_cache
@require_get
def healthz(request):
    """The process is up."""
    return JsonResponse({"ok": True, "data": {"status": "up"}})


@never_cache
@require_get
def readyz(request):
    """This process can take events now; 503 otherwise, so traffic goes elsewhere."""
    try:
        checked = readiness.probe()
    except NotReady as not_ready:
        response = JsonResponse(
            error_body(
                "SERVICE_UNAVAILABLE",
                not_ready.message,
                {"cause": not_ready.cause, **not_ready.details},
            ),
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"ok": True, "data": {"status": "ready", **checked}})


class Readiness:
    """The checks of one process: at most one running, passed checks remembered a while."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: Future | None = None
        self._passed_at: dict[str, float] = {}  # check → when it last passed (monotonic)

    def probe(self) -> dict:
        """What was checked, or NotReady; within ANSWER_WITHIN_SECONDS whatever happens."""
        if shutdown.not_ready():
            raise NotReady("stopping", "This server is stopping: send requests to another one.")
        if connection.vendor == "sqlite":
            # A local file in WAL mode: reading it neither hangs nor waits for writers, so
            # the request's own connection serves.
            return self._check()
        with self._lock:
            if self._running is None or self._running.done():
                self._running = Future()
                threading.Thread(
                    target=self._run, args=(self._running,), name="readiness", daemon=True
                ).start()
            running = self._running
        try:
            return running.result(timeout=ANSWER_WITHIN_SECONDS)
        except FutureTimeout:
            raise NotReady(
                "database timeout",
                f"The database did not answer the readiness check within "
                f"{ANSWER_WITHIN_SECONDS:g} s.",
            ) from None

    def _run(self, future: Future) -> None:
        try:
            future.set_result(self._check())
        except BaseException as error:  # the probe raises it: NotReady, or a 500 for a bug
            future.set_exception(error)
        finally:
            connection.close()  # this thread's own connection: one per check

    def _check(self) -> dict:
        try:
            if self._due("migrations"):
                self._check_migrations()  # a round trip too
            else:
                self._round_trip()
        except DatabaseError as error:
            raise NotReady("database unavailable", "The database is unavailable.") from error
        checked = {"database": "up", "migrations": "applied", "preparedStatements": "off"}
        if prepares_statements():
            if self._due("prepared statements"):
                check_prepared_statements()
                self._passed("prepared statements")
            checked["preparedStatements"] = "work"
        return checked

    def _due(self, check: str) -> bool:
        passed_at = self._passed_at.get(check)
        return passed_at is None or time.monotonic() - passed_at > RECHECK_SECONDS

    def _passed(self, check: str) -> None:
        self._passed_at[check] = time.monotonic()

    def _round_trip(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def _check_migrations(self) -> None:
        self._passed_at.pop("migrations", None)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # Not parameters: SET takes none with server-side binding.
                    cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                    cursor.execute(f"SET LOCAL lock_timeout = {STATEMENT_TIMEOUT_MS}")
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        missing = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        if missing:
            raise NotReady(
                "migrations not applied",
                f"The database lacks {len(missing)} of this code's migrations: run "
                "`manage.py migrate` (docs/operations.md, deploying a new version).",
                missing=missing[:20],
            )
        self._passed("migrations")


def prepares_statements() -> bool:
    """Whether the ingestion's connections prepare their repeated statements."""
    return connection.vendor == "postgresql" and bool(
        connection.settings_dict["OPTIONS"].get("server_side_binding")
    )


def check_prepared_statements() -> None:
    """Prepare a statement on this thread's connection, begin a transaction on a second
    connection, then run the statement again on the first. A pooler in transaction mode
    gives the second connection the server connection the first just used (PgBouncer
    reuses the most recent one), so the second run goes to another server connection;
    without prepared-statement support the statement is missing there, or is another
    client's statement of the same name."""
    other = None
    try:
        connection.ensure_connection()
        first = connection.connection
        other = connection.get_new_connection(connection.get_connection_params())
        for attempt in range(2):
            if attempt == 1:
                other.execute("SELECT 1")  # not autocommit: its transaction stays open
            token = f"{secrets.token_hex(8)}-{attempt}"
            answer = first.execute("SELECT %s::text", [token], prepare=True).fetchone()[0]
            if answer != token:
                raise NotReady(
                    "prepared statements refused",
                    "A prepared statement answered another statement's result: the "
                    "database (a pooler?) does not keep prepared statements. "
                    + PREPARED_STATEMENTS_HINT,
                )
    except (DatabaseError, psycopg.OperationalError) as error:
        raise NotReady("database unavailable", "The database is unavailable.") from error
    except psycopg.Error as error:
        raise NotReady(
            "prepared statements refused",
            f"The database refused a prepared statement ({error.sqlstate}: "
            f"{str(error).strip()}). " + PREPARED_STATEMENTS_HINT,
        ) from error
    finally:
        if other is not None:
            other.close()


PREPARED_STATEMENTS_HINT = (
    "Behind PgBouncer in transaction mode use 1.22 or newer with max_prepared_statements "
    "above 0, or set DATABASE_PREPARED_STATEMENTS=0 (docs/operations.md, PgBouncer)."
)

readiness = Readiness()
