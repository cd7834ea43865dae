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

import json
import threading
import time

import pytest

from tests.outage_server import (
    CONNECT_TIMEOUT,
    KEY_KEPT_MS,
    TCP_USER_TIMEOUT_MS,
    URL,
    admin_connection,
    assert_unavailable,
    event,
    needs_a_postgresql_server,
    records,
    request,
)

pytestmark = needs_a_postgresql_server("a database to take away")


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
