"""Every database session of a running server ended between two requests, with no health
check before each request (DATABASE_HEALTH_CHECKS off, the default): the first answer
after it is written (on a new connection) or a 503 saying nothing was written, never a
500, and the one after it is written.

`gunicorn -c gunicorn.conf.py` (2 workers × 4 threads) on a database of its own; three
gateways post single events and one a batch on keep-alive connections, so each request
meets a worker thread whose connection the server ended (`pg_terminate_backend`, waited
for, as a restart does) while it sat idle.
"""

import psycopg
import pytest

from bench.harness import free_port, make_event, seed
from tests.app_server import AppServer, KeepAliveClient
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("a gunicorn server and sessions ended by the server"),
]

BATCH_URL = "/api/integration/device-data/batch"
ROUNDS = 5


def end_every_session_of_the_app(url: str) -> int:
    """End every other session of the database and wait until each is gone."""
    with psycopg.connect(url, autocommit=True) as session:
        (ended,) = session.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
    return ended


def nothing_written(error: dict) -> bool:
    return error.get("code") == "SERVICE_UNAVAILABLE" and error["details"]["written"] == "nothing"


def outcomes(events: list[dict], status: int, answer: dict) -> list[tuple[str, str]]:
    """(eventId, "written" or "not written") of each event sent; an answer that is
    neither (a 500, a 503 that may have written) fails the test."""
    if status == 503:
        assert nothing_written(answer["error"]), answer
        return [(event["eventId"], "not written") for event in events]
    assert status == 200, (status, answer)
    if "results" not in answer["data"]:
        return [(events[0]["eventId"], "written")]
    each = []
    for event, result in zip(events, answer["data"]["results"], strict=True):
        assert result["status"] == "CREATED" or nothing_written(result["error"]), result
        each.append((event["eventId"], "written" if result["status"] == "CREATED" else "not"))
    return each


def test_the_first_request_after_the_sessions_ended_is_written_or_a_503_and_the_next_is_written(
    tmp_path,
):
    with database_of_its_own("mes_lost_between") as (_name, url):
        line = seed(url, 1, 200, 4)
        units = line["units"]
        server = AppServer(url, free_port(), tmp_path / "app.log").start()
        singles = [KeepAliveClient(server.port, key) for key in line["keys"][:3]]
        batcher = KeepAliveClient(server.port, line["keys"][3])
        sent, firsts, seconds, ended = [], [], [], []
        n = 0

        def post(client, kind: str):
            nonlocal n
            if kind == "batch":
                events = [make_event(f"evt-{n}-{i}", *units[n + i], n + i) for i in range(3)]
                n += 3
                status, _headers, answer = client.post({"events": events}, BATCH_URL)
            else:
                events = [make_event(f"evt-{n}", *units[n], n)]
                n += 1
                status, _headers, answer = client.post(events[0])
            sent.append((events, status, answer))
            return events, status, answer

        clients = [(client, "single") for client in singles] + [(batcher, "batch")]
        try:
            for client, kind in clients:  # each connection's worker thread has its own
                assert post(client, kind)[1] == 200
            for _ in range(ROUNDS):
                ended.append(end_every_session_of_the_app(url))
                firsts += [post(client, kind) for client, kind in clients]
                seconds += [post(client, kind) for client, kind in clients]
        finally:
            server.stop()

        with psycopg.connect(url, autocommit=True) as session:
            written = dict(
                session.execute(
                    "SELECT event_id, count(*) FROM integration_devicedatarecord GROUP BY 1"
                ).fetchall()
            )

    assert all(count >= 1 for count in ended), ended  # the server's sessions were there
    assert len(firsts) == len(seconds) == ROUNDS * len(clients)
    answered = {event_id: outcome for answer in sent for event_id, outcome in outcomes(*answer)}
    # The first request after the sessions ended: written, or a 503 that wrote nothing.
    for events, status, answer in firsts:
        outcomes(events, status, answer)
    # The next one: written.
    for events, status, answer in seconds:
        assert {outcome for _id, outcome in outcomes(events, status, answer)} == {"written"}
    # What was answered written is written once; what was not, not at all.
    assert len(answered) == n
    for event_id, outcome in answered.items():
        assert written.get(event_id, 0) == (1 if outcome == "written" else 0), event_id
