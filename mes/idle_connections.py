"""Before each request, drop a PostgreSQL connection the server closed while it sat idle,
without a round trip.

Django's health check (CONN_HEALTH_CHECKS, `DATABASE_HEALTH_CHECKS`) sends `SELECT 1`
before the first query of every request on a reused connection: a round trip per request,
for an event that happens once per database restart. It is off by default now. But a
server that ends a session (a restart, `pg_terminate_backend`, `idle_session_timeout`,
PgBouncer closing a client) sends its error message and closes the socket, so the socket
of an idle connection becomes readable: a zero-timeout poll of it, a system call, tells
that without asking the server. Such a connection is closed here, and the request opens a
new one. An idle connection has nothing else to read (this application LISTENs to
nothing), so a readable socket means the session is over; were it anything else, closing
costs one new connection, never a wrong answer.

What this cannot see (a connection cut in the network without a word, or a session ended
between this poll and the request's first query) fails that query: Django marks the
connection and checks it after the request (closing it if unusable), the API answers 503
(mes/api/exceptions.py) and ingestion writes its events again on a new connection
(docs/ingestion.md). `tests/mes/test_idle_connections.py` kills sessions between requests.
"""

import select

from django.core.signals import request_started
from django.db import connections


def drop_connections_closed_by_the_server(**_) -> None:
    for connection in connections.all(initialized_only=True):
        if (
            connection.vendor != "postgresql"
            or connection.connection is None
            or connection.in_atomic_block
        ):
            continue
        if connection.connection.closed or _readable(connection.connection.fileno()):
            connection.close()


def _readable(descriptor: int) -> bool:
    poll = select.poll()  # not select(): a descriptor above 1023 is allowed here
    poll.register(descriptor, select.POLLIN)
    return bool(poll.poll(0))


request_started.connect(drop_connections_closed_by_the_server, dispatch_uid="mes-idle-connections")
