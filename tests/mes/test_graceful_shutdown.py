"""Stopping and reloading a real gunicorn under keep-alive load resets no request.

`gunicorn -c gunicorn.conf.py` (2 gthread workers, mes/draining_worker.py) serves a
database of its own while several threads post events back to back, each on a keep-alive
connection as a gateway keeps one. The master gets SIGTERM (a stop) or HUP (a reload):
every request sent is answered, the server says not-ready before it stops listening and
keeps serving meanwhile, and every event answered is in the database once.
"""

import signal
import threading
import time
from collections import Counter

import pytest

from bench.harness import free_port, make_event, seed
from tests.app_server import AppServer, KeepAliveClient, Refused, Reset, get
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("a gunicorn server with a database of its own"),
]

CLIENTS = 6
DRAIN_SECONDS = 2.0


@pytest.fixture(scope="module")
def database():
    with database_of_its_own("mes_shutdown") as (_name, url):
        yield url, seed(url, 1, 200, 1)


class Load:
    """Threads posting new events back to back until told to stop or refused."""

    def __init__(self, port: int, key: str, units: list, prefix: str):
        self.port, self.key, self.units, self.prefix = port, key, units, prefix
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.outcomes = Counter()
        self.resets: list[str] = []
        self.answered: list[str] = []  # eventIds answered 200
        self.answered_at: list[float] = []
        self.threads = [
            threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def run(self, client_no: int) -> None:
        client = KeepAliveClient(self.port, self.key)
        n = 0
        while not self.stop.is_set():
            n += 1
            sn, run_no = self.units[(client_no * 997 + n) % len(self.units)]
            event = make_event(f"{self.prefix}-{client_no}-{n}", sn, run_no, n)
            try:
                status, _headers, body = client.post(event)
            except Refused:
                with self.lock:
                    self.outcomes["refused"] += 1
                return  # the server has stopped listening: nothing was sent
            except Reset as reset:
                with self.lock:
                    self.outcomes[
                        "reset on a kept-alive connection" if reset.reused else "reset"
                    ] += 1
                    self.resets.append(f"{event['eventId']}: {reset}")
                continue
            with self.lock:
                self.outcomes[status] += 1
                if status == 200:
                    self.answered.append(event["eventId"])
                    self.answered_at.append(time.monotonic())

    def start(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def finish(self, timeout: float = 60) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self.threads)


class ReadinessWatch:
    """/readyz on a new connection every 50 ms: (time, status) of each answer."""

    def __init__(self, port: int):
        self.port = port
        self.answers: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status = get(self.port, "/readyz")[0]
            except OSError:
                status = 0  # not listening
            self.answers.append((time.monotonic(), status))
            time.sleep(0.05)

    def first(self, status: int, after: float) -> float | None:
        return next((at for at, seen in self.answers if seen == status and at >= after), None)


def records_of(database_url: str, prefix: str) -> Counter:
    import psycopg

    with psycopg.connect(database_url) as session:
        rows = session.execute(
            "SELECT event_id, count(*) FROM integration_devicedatarecord "
            "WHERE event_id LIKE %s GROUP BY event_id",
            [f"{prefix}-%"],
        ).fetchall()
    return Counter(dict(rows))


def test_sigterm_under_keep_alive_load_drains_and_resets_no_request(database, tmp_path):
    url, seeded = database
    server = AppServer(
        url, free_port(), tmp_path / "server.log", GUNICORN_DRAIN_SECONDS=str(DRAIN_SECONDS)
    ).start()
    watch = ReadinessWatch(server.port)
    try:
        load = Load(server.port, seeded["keys"][0], seeded["units"], "term").start()
        watch.thread.start()
        time.sleep(2)
        told_at = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.log()[-3000:]
        stopped_at = time.monotonic()
        load.finish()
        watch.stop.set()
        watch.thread.join(5)
    finally:
        server.stop()

    print(dict(load.outcomes), f"stopped {stopped_at - told_at:.2f} s after SIGTERM")
    assert load.resets == []
    assert set(load.outcomes) <= {200, "refused"}, load.outcomes
    assert load.outcomes[200] > 100  # the load ran
    # Not ready within a probe of the signal, and still serving while it drains.
    not_ready_at = watch.first(503, told_at)
    assert not_ready_at is not None and not_ready_at - told_at < 0.5, watch.answers[-40:]
    served_while_draining = [at for at in load.answered_at if at > not_ready_at]
    assert served_while_draining and served_while_draining[-1] - told_at >= DRAIN_SECONDS - 0.2
    assert stopped_at - told_at < DRAIN_SECONDS + 5
    # Every event answered is written once.
    records = records_of(url, "term")
    assert set(records.values()) == {1}
    assert set(load.answered) == set(records)


def test_a_reload_under_keep_alive_load_resets_no_request_and_stays_ready(database, tmp_path):
    url, seeded = database
    # A long drain, which a reload must not wait for.
    server = AppServer(
        url, free_port(), tmp_path / "server.log", GUNICORN_DRAIN_SECONDS="15"
    ).start()
    watch = ReadinessWatch(server.port)
    try:
        old_workers = set(server.workers())
        load = Load(server.port, seeded["keys"][0], seeded["units"], "hup").start()
        watch.thread.start()
        time.sleep(2)
        told_at = time.monotonic()
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while set(server.workers()) & old_workers:
            assert time.monotonic() < deadline, "the old workers did not exit"
            time.sleep(0.1)
        replaced_at = time.monotonic()
        time.sleep(1)
        load.finish()
        watch.stop.set()
        watch.thread.join(5)
        assert len(server.workers()) == 2
    finally:
        server.stop()

    print(dict(load.outcomes), f"old workers gone {replaced_at - told_at:.2f} s after HUP")
    assert load.resets == []
    assert set(load.outcomes) == {200}, load.outcomes
    # A reload replaces workers without a drain, and the server never says not-ready.
    assert replaced_at - told_at < 6
    assert {status for _at, status in watch.answers} == {200}
    records = records_of(url, "hup")
    assert set(records.values()) == {1}
    assert set(load.answered) == set(records)


def test_workers_recycled_after_max_requests_under_keep_alive_load_reset_no_request(
    database, tmp_path
):
    """GUNICORN_MAX_REQUESTS: a worker that reaches it hands over as on a reload."""
    url, seeded = database
    server = AppServer(
        url, free_port(), tmp_path / "server.log", GUNICORN_MAX_REQUESTS="60"
    ).start()
    watch = ReadinessWatch(server.port)
    try:
        first_workers = set(server.workers())
        load = Load(server.port, seeded["keys"][0], seeded["units"], "recycled").start()
        watch.thread.start()
        time.sleep(4)
        load.finish()
        watch.stop.set()
        watch.thread.join(5)
        recycled = first_workers - set(server.workers())
    finally:
        server.stop()

    print(dict(load.outcomes), f"{len(recycled)} workers recycled")
    assert recycled  # max_requests was reached
    assert load.resets == []
    assert set(load.outcomes) == {200}, load.outcomes
    assert {status for _at, status in watch.answers} == {200}
    records = records_of(url, "recycled")
    assert set(records.values()) == {1}
    assert set(load.answered) == set(records)
