"""Track-in and track-out across a deployment's migrations, with gunicorn serving them.

The stations' line is served by `gunicorn -c gunicorn.conf.py` on a database of its own.
Units are tracked in and out by eventId on keep-alive connections (the workers' statements
prepared by then); the database is migrated back to execution 0010 (dropping the
tracking records and the open-pass indexes) and forward to the latest while a station
keeps tracking units without ids; then the same connections track in and out again. No
call answers a 500, a 503 is only ever a "send it again" that then succeeds, and each unit
has exactly the passes it was given.
"""

import threading
import time
from collections import Counter

import psycopg
import pytest

from bench.harness import free_port, seed_tracking
from tests.app_server import AppServer, KeepAliveClient, get
from tests.postgres import database_of_its_own, manage, needs_postgresql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    needs_postgresql("a gunicorn server and migrations on a database of its own"),
]

PRINTER, OVEN = "TRK-PRINT-1", "TRK-OVEN-1"


def path(station: str, action: str) -> str:
    return f"/api/stations/{station}/{action}"


def track_in(run_no: str, sn: str, event_id: str | None = None) -> dict:
    body = {"sn": sn, "runNo": run_no}
    return {**body, "eventId": event_id} if event_id else body


def track_out(run_no: str, sn: str, spec: str, value: float, event_id: str | None = None):
    body = {**track_in(run_no, sn, event_id), "result": "PASS"}
    return {**body, "data": [{"specName": spec, "valueNumber": value}]}


class Station:
    """A station tracking its units in and out at the printer without eventIds while the
    migrations run; a 503 (nothing written) is sent again."""

    def __init__(self, port: int, key: str, run_no: str, units: list[str]):
        self.client = KeepAliveClient(port, key)
        self.run_no, self.units = run_no, units
        self.statuses = Counter()
        self.answered_at: list[float] = []
        self.done: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for sn in self.units:
            for action, body in (
                ("track-in", track_in(self.run_no, sn)),
                ("track-out", track_out(self.run_no, sn, "Paste Height", 120)),
            ):
                if not self.send(path(PRINTER, action), body):
                    return
            self.done.append(sn)
            if self.stop.is_set():
                return
            time.sleep(0.05)  # a station's pace: its units last the migrations out

    def send(self, where: str, body: dict) -> bool:
        for _ in range(50):
            status, _headers, answer = self.client.post(body, where)
            self.statuses[status] += 1
            self.answered_at.append(time.monotonic())
            if status == 200:
                return True
            if status != 503 or answer["error"]["details"]["written"] != "nothing":
                return False
            time.sleep(0.1)
        return False


def test_units_are_tracked_before_during_and_after_a_migration_back_and_forth(tmp_path):
    with database_of_its_own("mes_track_migrate") as (_name, url):
        line = seed_tracking(url, 200, 2)
        run_no, units = line["run_no"], line["units"]
        server = AppServer(url, free_port(), tmp_path / "app.log").start()
        try:
            clients = [KeepAliveClient(server.port, key) for key in line["keys"]]
            before, after = [], []
            # Before: ten units through the printer, ten more left in station there.
            for n, sn in enumerate(units[:20]):
                client = clients[n % 2]
                before.append(
                    client.post(track_in(run_no, sn, f"ti-{sn}"), path(PRINTER, "track-in"))
                )
                if n < 10:
                    body = track_out(run_no, sn, "Paste Height", 110 + n, f"to-{sn}")
                    before.append(client.post(body, path(PRINTER, "track-out")))

            station = Station(server.port, line["keys"][0], run_no, units[20:])
            station.thread.start()
            time.sleep(0.5)
            migrating = time.monotonic()
            manage(url, "migrate", "-v", "0", "execution", "0010")
            manage(url, "migrate", "-v", "0")
            migrated = time.monotonic()
            station.stop.set()
            station.thread.join(60)

            # After, on the same connections: the passes opened before are closed, the
            # units through the printer go through the oven.
            for n, sn in enumerate(units[:20]):
                client = clients[n % 2]
                if n >= 10:
                    body = track_out(run_no, sn, "Paste Height", 110 + n, f"to-{sn}")
                    after.append(client.post(body, path(PRINTER, "track-out")))
                    continue
                after.append(client.post(track_in(run_no, sn, f"ti2-{sn}"), path(OVEN, "track-in")))
                body = track_out(run_no, sn, "Peak Temperature", 245, f"to2-{sn}")
                after.append(client.post(body, path(OVEN, "track-out")))
            again = clients[1].post(body, path(PRINTER, "track-out"))  # the last, sent again
            ready = get(server.port, "/readyz")[0]
        finally:
            server.stop()

        with psycopg.connect(url, autocommit=True) as session:
            tracks = Counter(
                dict(
                    session.execute(
                        "SELECT u.sn, count(*) FILTER (WHERE t.result = 'PASS') FROM "
                        "execution_track t JOIN execution_unit u ON u.id = t.unit_id "
                        "GROUP BY u.sn"
                    ).fetchall()
                )
            )
            open_passes = session.execute(
                "SELECT count(*) FROM execution_track WHERE out_at IS NULL"
            ).fetchone()[0]
            records = session.execute("SELECT count(*) FROM integration_trackingrecord").fetchone()[
                0
            ]
            valid = session.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid WHERE c.relname LIKE 'track_%%open%%' ORDER BY 1"
            ).fetchall()

    during = [moment for moment in station.answered_at if migrating < moment < migrated]
    print(
        f"station during the migrations: {len(station.done)} units, answers "
        f"{dict(station.statuses)}, {len(during)} of them while migrating"
    )
    assert len(before) == 30 and len(after) == 30
    assert [status for status, _, _ in before + after] == [200] * 60, before + after
    assert not any(answer["data"]["isDuplicate"] for _, _, answer in before + after)
    assert again[0] == 200 and again[2]["data"] == {**after[-1][2]["data"], "isDuplicate": True}
    # The station tracked units while the migrations ran: never a 500, a 503 only as a
    # re-send, and every unit it took through the printer once.
    assert len(during) > 10, "the station was hardly answered during the migrations"
    assert len(station.done) < len(units) - 20, "the station ran out of units first"
    assert set(station.statuses) <= {200, 503}, station.statuses
    assert station.statuses[200] == 2 * len(station.done)
    assert all(tracks[sn] == 1 for sn in station.done)
    assert all(tracks[sn] == 2 for sn in units[:10])
    assert all(tracks[sn] == 1 for sn in units[10:20])
    assert open_passes == 0
    # The records written since the migration forward (the ones before went with it).
    assert records == 30
    assert valid == [("track_one_open_per_unit", True), ("track_open_at_station", True)]
    assert ready == 200
