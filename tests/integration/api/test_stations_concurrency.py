"""Track-in and track-out the way production takes them: `gunicorn -c gunicorn.conf.py`
(gthread workers) on a PostgreSQL database of its own, calls from several keep-alive
connections at once (docs/execution.md, "Exactly once").

Two stations racing for one unit, one eventId sent twice at once, a device event beside a
track-out, a unit row locked by another session, a worker SIGKILLed mid-stream: each
leaves exactly the tracks and values it should, and no answer is a 500. A migration
between calls: tests/deploy/test_tracking_across_migrations.py.
"""

import os
import signal
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest

from bench.harness import free_port, seed_tracking
from tests.app_server import AppServer, KeepAliveClient, Refused, Reset
from tests.postgres import database_of_its_own, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("real concurrency: gunicorn's workers on connections of their own"),
]

ROUNDS = 20
UNITS = 600  # queued at step 10; each test takes a range of its own
PRINTERS = ("TRK-PRINT-1", "TRK-PRINT-2")  # both may do step 10
OVEN = "TRK-OVEN-1"
LOCK_TIMEOUT_S = 1.0  # INGEST_LOCK_TIMEOUT_MS, the default


def path(station: str, action: str) -> str:
    return f"/api/stations/{station}/{action}"


def paste(n: int) -> list[dict]:
    return [{"specName": "Paste Height", "valueNumber": 110 + n % 30}]


class Line:
    def __init__(self, url: str, seeded: dict):
        self.url = url
        self.run_no = seeded["run_no"]
        self.units = seeded["units"]
        self.keys = seeded["keys"]

    def rows(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as session:
            return session.execute(sql, params).fetchall()

    def tracks_of(self, sns: list[str]) -> dict[str, list[tuple]]:
        """Each unit's tracks: (id, step, station, result, open), in step order."""
        tracks = defaultdict(list)
        for sn, *track in self.rows(
            "SELECT u.sn, t.id, t.step_no, s.code, t.result, t.out_at IS NULL "
            "FROM execution_track t JOIN execution_unit u ON u.id = t.unit_id "
            "JOIN execution_station s ON s.id = t.station_id WHERE u.sn = ANY(%s) "
            "ORDER BY t.step_no, t.id",
            sns,
        ):
            tracks[sn].append(tuple(track))
        return tracks

    def values_of(self, track_ids: list[int]) -> dict[int, list[tuple]]:
        """Each track's values: (spec name, number), in spec name order."""
        values = defaultdict(list)
        for track_id, name, number in self.rows(
            "SELECT v.track_id, s.name, v.value_number FROM execution_datavalue v "
            "JOIN execution_dataspec s ON s.id = v.spec_id WHERE v.track_id = ANY(%s) "
            "ORDER BY s.name, v.id",
            track_ids,
        ):
            values[track_id].append((name, number))
        return values


@pytest.fixture(scope="module")
def line():
    with database_of_its_own("mes_track_race") as (_name, url):
        yield Line(url, seed_tracking(url, UNITS, 2))


@pytest.fixture(scope="module")
def server(line, tmp_path_factory):
    app = AppServer(line.url, free_port(), tmp_path_factory.mktemp("stations") / "app.log")
    try:
        yield app.start()
    finally:
        app.stop()


class Pair:
    """Two keep-alive connections that send one call each at the same moment."""

    def __init__(self, port: int, key: str):
        self.clients = [KeepAliveClient(port, key), KeepAliveClient(port, key)]
        self.pool = ThreadPoolExecutor(2)

    def at_once(self, first: tuple, second: tuple) -> list[tuple[int, dict, dict]]:
        """Send (path, body) on each connection behind a barrier: [(status, headers, body)]."""
        barrier = threading.Barrier(2)

        def send(client, call):
            where, body = call
            barrier.wait(timeout=30)
            status, headers, answer = client.post(body, where)
            return status, headers, answer

        sent = [
            self.pool.submit(send, client, call)
            for client, call in zip(self.clients, (first, second), strict=True)
        ]
        return [future.result(timeout=60) for future in sent]

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients:
            client.close()


@pytest.fixture
def pair(line, server):
    both = Pair(server.port, line.keys[0])
    yield both
    both.close()


def test_two_stations_tracking_one_unit_in_at_once_give_it_one_track_and_the_other_a_409(
    line, pair
):
    queued = line.units[:ROUNDS]
    unknown = [f"SN-NEW-{n:03d}" for n in range(ROUNDS)]  # created by the winner
    answers = {}
    for sn in queued + unknown:
        body = {"sn": sn, "runNo": line.run_no}
        answers[sn] = pair.at_once(
            (path(PRINTERS[0], "track-in"), body), (path(PRINTERS[1], "track-in"), body)
        )

    tracks = line.tracks_of(queued + unknown)
    assert len(answers) == 2 * ROUNDS
    for sn, results in answers.items():
        assert sorted(status for status, _, _ in results) == [200, 409], (sn, results)
        (won,) = [answer["data"] for status, _, answer in results if status == 200]
        (lost,) = [answer["error"] for status, _, answer in results if status == 409]
        assert lost["code"] == "UNIT_ALREADY_IN_STATION", lost
        assert won["stationCode"] in PRINTERS and won["stepNo"] == 10
        # One open pass, the winner's.
        assert tracks[sn] == [(int(won["trackId"]), 10, won["stationCode"], None, True)]
    created = line.rows(
        "SELECT count(*) FROM execution_unit u JOIN execution_run r ON r.id = u.run_id "
        "WHERE u.sn = ANY(%s) AND r.run_no = %s AND u.status = 'IN_STATION'",
        unknown,
        line.run_no,
    )
    assert created == [(ROUNDS,)]


def test_one_call_sent_twice_at_once_by_its_event_id_is_written_once_and_answered_alike(line, pair):
    # Odd rounds: a unit the track-in creates, so the two calls race on its creation.
    units = [
        f"SN-TWICE-{n:03d}" if n % 2 else sn for n, sn in enumerate(line.units[100 : 100 + ROUNDS])
    ]
    answers = []
    for n, sn in enumerate(units):
        track_in = {"sn": sn, "runNo": line.run_no, "eventId": f"ti-twice-{n}"}
        track_out = {
            "sn": sn, "runNo": line.run_no, "result": "PASS", "eventId": f"to-twice-{n}",
            "data": paste(n),
        }  # fmt: skip
        for where, body in ((path(PRINTERS[0], "track-in"), track_in),
                            (path(PRINTERS[0], "track-out"), track_out)):  # fmt: skip
            answers.append(pair.at_once((where, body), (where, body)))

    assert len(answers) == 2 * ROUNDS
    for results in answers:
        assert [status for status, _, _ in results] == [200, 200], results
        first, again = sorted(
            (answer["data"] for _, _, answer in results), key=lambda a: a["isDuplicate"]
        )
        assert (first["isDuplicate"], again["isDuplicate"]) == (False, True)
        assert again == {**first, "isDuplicate": True}
        replayed = sorted(headers.get("idempotent-replayed", "") for _, headers, _ in results)
        assert replayed == ["", "true"]
    tracks = line.tracks_of(units)
    values = line.values_of([track[0] for sn in units for track in tracks[sn]])
    for n, sn in enumerate(units):
        ((track_id, step_no, station, result, is_open),) = tracks[sn]
        assert (step_no, station, result, is_open) == (10, PRINTERS[0], "PASS", False)
        assert values[track_id] == [("Paste Height", 110 + n % 30)]
    records = line.rows(
        "SELECT kind, duplicate_count, count(*) OVER () FROM integration_trackingrecord "
        "WHERE event_id LIKE 't_-twice-%%'"
    )
    assert {(kind, duplicates) for kind, duplicates, _ in records} == {
        ("TRACK_IN", 1),
        ("TRACK_OUT", 1),
    }
    assert records[0][2] == 2 * ROUNDS
    messages = line.rows(
        "SELECT status, count(*) FROM integration_integrationmessage "
        "WHERE business_key LIKE 'track-%%:t_-twice-%%' GROUP BY status"
    )
    assert dict(messages) == {"SUCCESS": 2 * ROUNDS, "DUPLICATE": 2 * ROUNDS}


def test_a_device_event_and_a_track_out_of_one_unit_at_once_are_both_written_on_its_pass(
    line, pair, server
):
    units = line.units[200 : 200 + ROUNDS]
    answers = []
    for n, sn in enumerate(units):
        status, _, _ = pair.clients[0].post(
            {"sn": sn, "runNo": line.run_no}, path(PRINTERS[0], "track-in")
        )
        assert status == 200
        # Odd rounds: a squeegee pressure past its HOLD alarm puts the unit on hold.
        event = {
            "eventId": f"dev-{n}",
            "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "source": "AUTO",
            "unitSn": sn,
            "stationCode": PRINTERS[0],
            "data": [{"specName": "Squeegee Pressure", "valueNumber": 11 if n % 2 else 6}],
        }
        track_out = {
            "sn": sn, "runNo": line.run_no, "result": "PASS", "eventId": f"to-dev-{n}",
            "data": paste(n),
        }  # fmt: skip
        answers.append(
            pair.at_once(
                ("/api/integration/device-data", event),
                (path(PRINTERS[0], "track-out"), track_out),
            )
        )

    assert len(answers) == ROUNDS
    for results in answers:
        assert [status for status, _, _ in results] == [200, 200], results
    tracks = line.tracks_of(units)
    track_ids = [track[0] for sn in units for track in tracks[sn]]
    values = line.values_of(track_ids)
    devices = dict(
        line.rows(
            "SELECT event_id, track_id FROM integration_devicedatarecord "
            "WHERE event_id LIKE 'dev-%%'"
        )
    )
    states = dict(line.rows("SELECT sn, status FROM execution_unit WHERE sn = ANY(%s)", units))
    for n, sn in enumerate(units):
        ((track_id, step_no, _station, result, is_open),) = tracks[sn]
        assert (step_no, result, is_open) == (10, "PASS", False)
        assert int(answers[n][1][2]["data"]["trackId"]) == track_id
        assert devices[f"dev-{n}"] == track_id
        assert values[track_id] == [
            ("Paste Height", 110 + n % 30),
            ("Squeegee Pressure", 11 if n % 2 else 6),
        ]
        assert states[sn] == ("ON_HOLD" if n % 2 else "QUEUED")
    held = line.rows(
        "SELECT u.sn FROM execution_hold h JOIN execution_unit u ON u.id = h.unit_id "
        "WHERE u.sn = ANY(%s) AND h.closed_at IS NULL ORDER BY u.sn",
        units,
    )
    assert held == [(sn,) for n, sn in enumerate(units) if n % 2]


@pytest.mark.parametrize("action", ["track-in", "track-out"])
def test_a_unit_row_locked_by_another_session_answers_503_in_the_lock_timeout_and_writes_nothing(
    line, server, action
):
    sn = line.units[300 + (action == "track-out")]
    client = KeepAliveClient(server.port, line.keys[0])
    if action == "track-out":
        opened, _, _ = client.post({"sn": sn, "runNo": line.run_no}, path(PRINTERS[0], "track-in"))
        assert opened == 200
    body = {"sn": sn, "runNo": line.run_no, "eventId": f"locked-{action}", "result": "PASS"}
    if action == "track-in":
        del body["result"]
    else:
        body["data"] = paste(1)
    tracks_before = line.tracks_of([sn])[sn]

    with psycopg.connect(line.url) as holder:  # a transaction until the rollback
        holder.execute("SELECT 1 FROM execution_unit WHERE sn = %s FOR UPDATE", [sn])
        started = time.monotonic()
        status, headers, answer = client.post(body, path(PRINTERS[0], action))
        waited = time.monotonic() - started
        written = line.rows(
            "SELECT (SELECT count(*) FROM integration_trackingrecord WHERE event_id = %s), "
            "(SELECT count(*) FROM integration_integrationmessage WHERE business_key LIKE %s)",
            body["eventId"],
            f"%:{body['eventId']}",
        )
        tracks_while_locked = line.tracks_of([sn])[sn]
        holder.rollback()

    assert status == 503, answer
    assert answer["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert answer["error"]["details"] == {"cause": "lock timeout", "written": "nothing"}
    assert headers["retry-after"]
    assert LOCK_TIMEOUT_S * 0.9 <= waited < LOCK_TIMEOUT_S + 3, waited
    assert written == [(0, 0)]
    assert tracks_while_locked == tracks_before

    status, _, answer = client.post(body, path(PRINTERS[0], action))
    assert status == 200, answer
    assert answer["data"]["isDuplicate"] is False
    ((track_id, step_no, station, result, _open),) = line.tracks_of([sn])[sn]
    assert (int(answer["data"]["trackId"]), step_no, station) == (track_id, 10, PRINTERS[0])
    assert result == (None if action == "track-in" else "PASS")
    client.close()


class TrackingStream:
    """Client threads taking their units through both steps by eventId: track-in and
    track-out with a value at a printer, then at the oven. A call that met a broken
    connection or a 503 is sent again with the same eventId until it is answered."""

    CLIENTS = 6
    TRIES = 40

    def __init__(self, port: int, key: str, run_no: str, units: list[str]):
        self.port, self.key, self.run_no = port, key, run_no
        self.shares = [units[n :: self.CLIENTS] for n in range(self.CLIENTS)]
        self.lock = threading.Lock()
        self.sent = 0
        self.resets = 0
        self.unavailable = 0
        self.failures: list[str] = []
        # (sn, action, step) → (status, body, tries)
        self.answers: dict[tuple[str, str, int], tuple[int, dict, int]] = {}
        self.threads = [
            threading.Thread(target=self.run, args=(share,), daemon=True) for share in self.shares
        ]

    def calls(self, n: int, sn: str):
        printer = PRINTERS[n % 2]
        yield "track-in", 10, printer, {"sn": sn, "runNo": self.run_no, "eventId": f"k-i10-{sn}"}
        yield "track-out", 10, printer, {
            "sn": sn, "runNo": self.run_no, "result": "PASS", "eventId": f"k-o10-{sn}",
            "data": paste(n),
        }  # fmt: skip
        yield "track-in", 20, OVEN, {"sn": sn, "runNo": self.run_no, "eventId": f"k-i20-{sn}"}
        yield "track-out", 20, OVEN, {
            "sn": sn, "runNo": self.run_no, "result": "PASS", "eventId": f"k-o20-{sn}",
            "data": [{"specName": "Peak Temperature", "valueNumber": 240 + n % 10}],
        }  # fmt: skip

    def run(self, share: list[str]) -> None:
        client = KeepAliveClient(self.port, self.key)
        for sn in share:
            n = int(sn.rsplit("-", 1)[1])
            for action, step_no, station, body in self.calls(n, sn):
                answered = self.send(client, path(station, action), body)
                if answered is None:
                    return
                with self.lock:
                    self.answers[sn, action, step_no] = answered
        client.close()

    def send(self, client, where: str, body: dict):
        for tries in range(1, self.TRIES + 1):
            with self.lock:
                self.sent += 1
            try:
                status, _headers, answer = client.post(body, where)
            except (Refused, Reset):
                with self.lock:
                    self.resets += 1
                time.sleep(0.2)
                continue
            if status == 503:
                with self.lock:
                    self.unavailable += 1
                time.sleep(0.2)
                continue
            return status, answer, tries
        with self.lock:
            self.failures.append(f"{body['eventId']}: no answer in {self.TRIES} tries")
        return None

    def start(self) -> "TrackingStream":
        for thread in self.threads:
            thread.start()
        return self

    def wait_until_sent(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert time.monotonic() < deadline, f"only {self.sent} calls sent"
            time.sleep(0.02)

    def finish(self, timeout: float = 300) -> None:
        for thread in self.threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self.threads)


def test_a_worker_sigkilled_mid_stream_loses_and_doubles_no_track_and_every_answer_is_true(
    line, server
):
    units = line.units[400:580]
    stream = TrackingStream(server.port, line.keys[1], line.run_no, units).start()
    calls = len(units) * 4
    killed = []
    # A worker SIGKILLed three times along the stream, once more at the end if no kill met
    # a call in flight.
    for share in (15, 45, 75):
        stream.wait_until_sent(calls * share // 100)
        killed.append(server.workers()[0])
        os.kill(killed[-1], signal.SIGKILL)
        time.sleep(1)
    if stream.resets == 0 and len(stream.answers) < calls:
        killed.append(server.workers()[0])
        os.kill(killed[-1], signal.SIGKILL)
    stream.finish()
    workers_after = server.workers()

    print(
        f"{len(stream.answers)} calls answered; {stream.resets} broken connections and "
        f"{stream.unavailable} 503s sent again; {len(killed)} workers killed"
    )
    assert stream.failures == []
    assert stream.resets > 0, f"{len(killed)} worker kills met no call in flight"
    assert not set(killed) & set(workers_after) and len(workers_after) == 2  # replaced
    assert len(stream.answers) == calls
    assert {status for status, _, _ in stream.answers.values()} == {200}
    # Nothing lost or doubled: each unit went through both steps once, each value once.
    tracks = line.tracks_of(units)
    values = line.values_of([track[0] for sn in units for track in tracks[sn]])
    states = dict(line.rows("SELECT sn, status FROM execution_unit WHERE sn = ANY(%s)", units))
    records = Counter(
        sn
        for (sn,) in line.rows(
            "SELECT unit_sn FROM integration_trackingrecord WHERE event_id LIKE 'k-%%'"
        )
    )
    for sn in units:
        n = int(sn.rsplit("-", 1)[1])
        (printed, baked) = tracks[sn]
        assert printed[1:] == (10, PRINTERS[n % 2], "PASS", False), tracks[sn]
        assert baked[1:] == (20, OVEN, "PASS", False), tracks[sn]
        assert values[printed[0]] == [("Paste Height", 110 + n % 30)]
        assert values[baked[0]] == [("Peak Temperature", 240 + n % 10)]
        assert states[sn] == "DONE"
        assert records[sn] == 4
        # Every answer was true: its track is the unit's pass at that step.
        for step_no, track in ((10, printed), (20, baked)):
            for action in ("track-in", "track-out"):
                _status, answer, tries = stream.answers[sn, action, step_no]
                assert int(answer["data"]["trackId"]) == track[0]
                assert answer["data"]["stepNo"] == step_no
                # A duplicate only where the call was sent more than once.
                assert not answer["data"]["isDuplicate"] or tries > 1
