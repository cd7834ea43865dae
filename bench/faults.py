"""Fault-injection run: ingestion under the production configuration, with real faults.

One piece past 500 lines: one program; the traffic, the faults and the ledger checked
afterwards share one run.

    .venv/bin/python bench/faults.py [--duration 40] [--clients 6] [--seed 7]

Creates a fresh PostgreSQL database, seeds a line, serves the app as the
README's Production section does (gunicorn, 2 gthread workers × 8 threads) and
sends a seeded mix of new events, re-sends, conflicts, refused events and
batches from several gateways while it:

1. SIGKILLs a gunicorn worker (the arbiter starts another);
2. terminates every database connection of the app (pg_terminate_backend);
3. changes a column's type (`equipment_id`), as a migration does, and later back;
4. holds a row lock on a written record from another session for a few
   seconds, while that record's gateway re-sends it and a load balancer probes
   `/healthz` every 100 ms.

Every answer is kept in a ledger. Afterwards every event without a definite
answer is sent again, as a gateway would, and the database is checked through
the ORM against the ledger: one record per event and none for refused ones
(nothing lost or doubled), each record's values those of its first event
(nothing wrong), duplicate and conflict counts between what was answered and
what was left uncertain, no 5xx but 503, every 503 with Retry-After, and every
health probe answered in under a second. Prints the figures and exits 1 if a
check fails. Only 127.0.0.1 is contacted; every loop is bounded in time.
"""

import argparse
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402  (after the path is set)
    SPEC_NAMES,
    STATION,
    STEP_NO,
    create_database,
    drop_database,
    free_port,
    seed,
    server_arguments,
    server_environment,
    start_server,
    stop_server,
)
from bench.load import Client  # noqa: E402

URL = "/api/integration/device-data"
HEALTH_PROBE_LIMIT = 1.0  # seconds: a load balancer's patience
LOCK_SECONDS = 3.0


# --- the ledger: what each event was sent as and what it was answered -------------------


@dataclass
class Sent:
    """One eventId: its first payload and the answers its sends got."""

    payload: dict
    refused: bool  # sent for a unit that does not exist: 422 and kept, never a record
    created: int = 0  # 200 with isDuplicate false
    duplicates: int = 0  # 200 with isDuplicate true
    conflicts: int = 0  # 409
    kept: int = 0  # 422
    not_written: int = 0  # 503 saying nothing was written
    uncertain: int = 0  # no definite answer: 503 "maybe", a cut connection, a 5xx
    uncertain_conflicts: int = 0
    answers: Counter = field(default_factory=Counter)

    @property
    def settled(self) -> bool:
        return self.kept > 0 if self.refused else self.created + self.duplicates > 0


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.events: dict[str, Sent] = {}
        self.valid: list[dict] = []  # payloads of events that are not refused, as sent
        self.written: list[dict] = []  # and of those answered as created
        self.statuses = Counter()
        self.bad = []  # answers no check allows: 5xx but 503, a 503 without Retry-After, …

    def note(self, event_id: str, answer: str, *, conflict: bool = False) -> None:
        """One event's answer: created, duplicate, conflict, kept, not_written, uncertain."""
        with self.lock:
            sent = self.events[event_id]
            sent.answers[answer] += 1
            if answer == "uncertain" and conflict:
                sent.uncertain_conflicts += 1
            elif answer == "created":
                sent.created += 1
                if sent.created == 1:
                    self.written.append(sent.payload)
            elif answer == "duplicate":
                sent.duplicates += 1
            elif answer == "conflict":
                sent.conflicts += 1
            elif answer == "kept":
                sent.kept += 1
            elif answer == "not_written":
                sent.not_written += 1
            else:
                sent.uncertain += 1


def make_event(event_id: str, unit_sn: str, run_no: str, n: int) -> dict:
    return {
        "eventId": event_id,
        "eventTime": "2026-11-30T08:00:00Z",
        "source": "AUTO",
        "runNo": run_no,
        "unitSn": unit_sn,
        "stationCode": STATION,
        "stepNo": STEP_NO,
        "equipmentId": f"OVEN-{n % 7}",
        "data": [
            {"specName": SPEC_NAMES[0], "valueNumber": 240 + n % 12},
            {"specName": SPEC_NAMES[1], "valueNumber": 78 + n % 5},
            {"specName": SPEC_NAMES[2], "valueNumber": 60 + n % 20},
        ],
    }


# --- HTTP ------------------------------------------------------------------------------


class Gateway(Client):
    """One gateway: its key, a keep-alive connection, and never a silent retry."""

    def __init__(self, port: int, key: str, ledger: Ledger):
        super().__init__(port, key)
        self.ledger = ledger

    def post(self, path: str, body: dict) -> tuple[int, dict, dict]:
        """(status, headers, body); status 0 when the connection broke without an answer."""
        try:
            response, raw = self.exchange(path, json.dumps(body).encode())
        except (OSError, http.client.HTTPException):
            return 0, {}, {}
        headers = {name.lower(): value for name, value in response.getheaders()}
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"unparsable": raw[:200].decode("utf-8", "replace")}
        self.check(response.status, headers, answer)
        return response.status, headers, answer

    def check(self, status: int, headers: dict, answer: dict) -> None:
        with self.ledger.lock:
            self.ledger.statuses[status] += 1
            if status >= 500 and status != 503:
                self.ledger.bad.append(f"{status}: {str(answer)[:300]}")
            if status == 503 and "retry-after" not in headers:
                self.ledger.bad.append(f"503 without Retry-After: {str(answer)[:300]}")

    def send(self, event: dict, *, conflict: bool = False) -> None:
        status, _headers, answer = self.post(URL, event)
        self.ledger.note(event["eventId"], single_answer(status, answer), conflict=conflict)

    def send_batch(self, events: list[dict]) -> None:
        status, _headers, answer = self.post(URL + "/batch", {"events": events})
        if status == 200:
            for event, result in zip(events, answer["data"]["results"], strict=True):
                if result.get("error", {}).get("code") == "INTERNAL_ERROR":
                    with self.ledger.lock:
                        self.ledger.bad.append(f"batch event answered 500: {result}")
                self.ledger.note(event["eventId"], batch_answer(result))
        else:
            for event in events:
                self.ledger.note(event["eventId"], single_answer(status, answer))


def _unavailable(answer: dict) -> str:
    written = answer.get("error", {}).get("details", {}).get("written", "nothing")
    return "uncertain" if written == "unknown" else "not_written"


def single_answer(status: int, answer: dict) -> str:
    if status == 200:
        return "duplicate" if answer["data"]["isDuplicate"] else "created"
    return {409: "conflict", 422: "kept"}.get(status) or (
        _unavailable(answer) if status == 503 else "uncertain"
    )


def batch_answer(result: dict) -> str:
    status = result["status"]
    if status in ("CREATED", "DUPLICATE", "CONFLICT"):
        return {"CREATED": "created", "DUPLICATE": "duplicate", "CONFLICT": "conflict"}[status]
    code = result["error"]["code"]
    if code == "SERVICE_UNAVAILABLE":
        return _unavailable({"error": result["error"]})
    return "uncertain" if code == "INTERNAL_ERROR" else "kept"


# --- the traffic ----------------------------------------------------------------------


class Traffic:
    """Gateways sending a seeded mix until told to stop."""

    def __init__(self, port, keys, units, ledger: Ledger, seed_value: int, clients: int):
        self.port, self.keys, self.units, self.ledger = port, keys, units, ledger
        self.seed, self.clients = seed_value, clients
        self.stop = threading.Event()
        self.threads = []
        self.counter = 0
        self.counter_lock = threading.Lock()

    def new_event(self, client: int, refused: bool = False) -> dict:
        with self.counter_lock:
            self.counter += 1
            n = self.counter
        unit_sn, run_no = self.units[n % len(self.units)]
        event_id = f"fault-{client}-{n}"
        event = make_event(event_id, "SN-NOT-BUILT" if refused else unit_sn, run_no, n)
        with self.ledger.lock:
            self.ledger.events[event_id] = Sent(event, refused)
            if not refused:
                self.ledger.valid.append(event)
        return event

    def earlier(self, rng: random.Random, *, written: bool) -> dict | None:
        """An event sent before (answered as created, if `written`), to send again."""
        with self.ledger.lock:
            candidates = self.ledger.written if written else self.ledger.valid
            return rng.choice(candidates) if candidates else None

    def run_gateway(self, client: int) -> None:
        rng = random.Random(self.seed * 1000 + client)
        gateway = Gateway(self.port, self.keys[client % len(self.keys)], self.ledger)
        while not self.stop.is_set():
            roll = rng.random()
            if roll < 0.50:
                gateway.send(self.new_event(client))
            elif roll < 0.65 and (event := self.earlier(rng, written=False)):
                gateway.send(event)  # a re-send, as after a timeout
            elif roll < 0.72 and (event := self.earlier(rng, written=True)):
                changed = {**event, "data": [{**event["data"][0], "valueNumber": 999}]}
                gateway.send(changed, conflict=True)
            elif roll < 0.82:
                gateway.send(self.new_event(client, refused=True))
            else:
                events = [self.new_event(client) for _ in range(7)]
                events.append(self.new_event(client, refused=True))
                events += [e for e in (self.earlier(rng, written=False) for _ in range(2)) if e]
                gateway.send_batch(events)

    def start(self) -> None:
        for client in range(self.clients):
            thread = threading.Thread(target=self.run_gateway, args=(client,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


# --- the faults -----------------------------------------------------------------------


def workers_of(server) -> list[int]:
    with open(f"/proc/{server.pid}/task/{server.pid}/children") as children:
        return [int(pid) for pid in children.read().split()]


def kill_a_worker(server) -> str:
    victim = workers_of(server)[0]
    os.kill(victim, signal.SIGKILL)
    return f"SIGKILL worker {victim}"


def cut_connections(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as session:
        cut = session.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    return f"terminated {cut} database connections"


def alter_column(database_url: str, length: int) -> str:
    """What a migration does to a live table; it waits for its lock at most 5 s a try."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as session:
        session.execute("SET lock_timeout = '5s'")
        for _ in range(5):
            try:
                session.execute(
                    "ALTER TABLE integration_devicedatarecord "
                    f"ALTER COLUMN equipment_id TYPE varchar({length})"
                )
                return f"equipment_id is now varchar({length})"
            except psycopg.errors.LockNotAvailable:
                continue
    raise RuntimeError("the column's type could not be changed in 5 tries")


def hold_a_row_lock(database_url, port, ledger: Ledger, key: str) -> dict:
    """Lock a written record for LOCK_SECONDS while its gateway re-sends it and a load
    balancer probes /healthz; returns the probes' times and the re-sends' answers."""
    import psycopg

    with ledger.lock:
        target = ledger.written[0]
    probes, resends = [], []
    with psycopg.connect(database_url) as session:
        session.execute(
            "SELECT 1 FROM integration_devicedatarecord WHERE event_id = %s FOR UPDATE",
            [target["eventId"]],
        )
        gateway = Gateway(port, key, ledger)
        locked_at = time.monotonic()
        until = locked_at + LOCK_SECONDS
        next_resend = locked_at
        while time.monotonic() < until:
            if time.monotonic() >= next_resend:
                threading.Thread(
                    target=lambda at=next_resend - locked_at: resends.append(
                        (round(at, 1), *resend(gateway, target))
                    ),
                    daemon=True,
                ).start()
                next_resend += 0.5
            probes.append(probe_health(port))
            time.sleep(0.1)
        session.rollback()
    return {"event_id": target["eventId"], "probes": probes, "resends": resends}


def resend(gateway: Gateway, event: dict) -> tuple[int, str, float]:
    """One re-send on a connection of its own: (status, answer, seconds)."""
    started = time.monotonic()
    status, _headers, answer = Gateway(gateway.port, gateway.key, gateway.ledger).post(URL, event)
    result = single_answer(status, answer)
    gateway.ledger.note(event["eventId"], result)
    return status, result, round(time.monotonic() - started, 2)


def probe_health(port: int) -> tuple[int, float]:
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
    except OSError:
        status = 0
    return status, time.monotonic() - started


# --- afterwards -------------------------------------------------------------------------


def settle(port, keys, ledger: Ledger, deadline: float) -> int:
    """Send every event without a definite answer again, as its gateway would."""
    gateway = Gateway(port, keys[0], ledger)
    rounds = 0
    while time.monotonic() < deadline:
        with ledger.lock:
            open_events = [s.payload for s in ledger.events.values() if not s.settled]
        if not open_events:
            return rounds
        rounds += 1
        for event in open_events:
            gateway.send(event)
        time.sleep(0.5)
    return rounds


def check_database(database_url: str, ledger: Ledger) -> list[str]:
    """Compare what the database holds, read through the ORM, with the ledger."""
    os.environ.update(server_environment(database_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "mes.settings"
    import django

    django.setup()
    from django.db.models import Count, Q

    from execution.models import DataValue
    from integration.models import DeviceDataRecord, IntegrationMessage

    problems = []
    records = {r.event_id: r for r in DeviceDataRecord.objects.all()}
    messages = {
        row["business_key"]: row
        for row in IntegrationMessage.objects.values("business_key").annotate(
            success=Count("pk", filter=Q(status="SUCCESS")),
            duplicate=Count("pk", filter=Q(status="DUPLICATE")),
            conflict=Count("pk", filter=Q(status="CONFLICT")),
            failed=Count("pk", filter=Q(status="FAILED")),
        )
    }
    values = {}
    for value in DataValue.objects.select_related("spec").order_by("pk"):
        values.setdefault(value.source_ref, []).append((value.spec.name, value.value_number))

    extra = set(records) - {eid for eid, s in ledger.events.items() if not s.refused}
    if extra:
        problems.append(f"records for events never sent or refused: {sorted(extra)[:5]}")
    for event_id, sent in ledger.events.items():
        key = f"device-data:{event_id}"
        counts = messages.get(key, {"success": 0, "duplicate": 0, "conflict": 0, "failed": 0})
        record = records.get(event_id)
        if sent.refused:
            if record is not None:
                problems.append(f"{event_id}: refused, yet written")
            if not sent.kept <= counts["failed"] <= sent.kept + sent.uncertain:
                problems.append(f"{event_id}: {counts['failed']} FAILED kept, {sent.kept} answered")
            continue
        if record is None:
            problems.append(f"{event_id}: lost (answered {dict(sent.answers)})")
            continue
        if sent.created > 1 or counts["success"] != 1:
            problems.append(f"{event_id}: written {counts['success']} times")
        expected = [(item["specName"], float(item["valueNumber"])) for item in sent.payload["data"]]
        if values.get(key) != expected:
            problems.append(f"{event_id}: values {values.get(key)}, sent {expected}")
        if record.duplicate_count != counts["duplicate"]:
            problems.append(f"{event_id}: count {record.duplicate_count} ≠ DUPLICATE messages")
        if not sent.duplicates <= record.duplicate_count <= sent.duplicates + sent.uncertain:
            problems.append(
                f"{event_id}: {record.duplicate_count} duplicates, {sent.duplicates} answered, "
                f"{sent.uncertain} uncertain"
            )
        if not sent.conflicts <= counts["conflict"] <= sent.conflicts + sent.uncertain_conflicts:
            problems.append(f"{event_id}: {counts['conflict']} CONFLICT, {sent.conflicts} answered")
    return problems


# --- the run ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The README's production configuration: 2 workers × 8 threads.
    server_arguments(parser, "FAULTS_DATABASE_URL", "mes_faults", workers=2)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of traffic")
    parser.add_argument("--clients", type=int, default=6, help="gateways sending at once")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", help="write the figures as JSON here too")
    args = parser.parse_args()

    name = args.database_url.rsplit("/", 1)[1]
    database_url = create_database(args.database_url, name)
    server = None
    try:
        print(f"Seeding {name} …", flush=True)
        seeded = seed(database_url, runs=2, units_per_run=200, gateways=4)
        port = free_port()
        server = start_server(database_url, args.workers, args.threads, port)
        ledger = Ledger()
        traffic = Traffic(port, seeded["keys"], seeded["units"], ledger, args.seed, args.clients)
        started = time.monotonic()
        traffic.start()
        faults, lock = [], None
        schedule = [
            (0.15, lambda: kill_a_worker(server)),
            (0.30, lambda: cut_connections(database_url)),
            (0.45, lambda: alter_column(database_url, 150)),
            (0.60, "lock"),
            (0.85, lambda: alter_column(database_url, 100)),
        ]
        for at, fault in schedule:
            time.sleep(max(0.0, started + at * args.duration - time.monotonic()))
            offset = round(time.monotonic() - started, 1)
            if fault == "lock":
                lock = hold_a_row_lock(database_url, port, ledger, seeded["keys"][1])
                faults.append((offset, f"row lock on {lock['event_id']} for {LOCK_SECONDS} s"))
            else:
                faults.append((offset, fault()))
            print(f"  {offset:5.1f} s  {faults[-1][1]}", flush=True)
        time.sleep(max(0.0, started + args.duration - time.monotonic()))
        traffic.finish()
        rounds = settle(port, seeded["keys"], ledger, time.monotonic() + 60)
        problems = check_database(database_url, ledger)
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep_database:
            drop_database(args.database_url, name)

    probes = lock["probes"]
    slowest = max(seconds for _, seconds in probes)
    if any(status != 200 or seconds >= HEALTH_PROBE_LIMIT for status, seconds in probes):
        problems.append(f"/healthz during the lock: {probes}")
    problems += ledger.bad
    answers = Counter()
    for sent in ledger.events.values():
        answers.update(sent.answers)
    figures = {
        "events": len(ledger.events),
        "refused_events": sum(s.refused for s in ledger.events.values()),
        "http_statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
        "answers": dict(sorted(answers.items())),
        "faults": faults,
        "lock_resends": sorted(lock["resends"]),  # (seconds into the lock, status, answer, took)
        "health_probes": len(probes),
        "slowest_health_probe_ms": round(slowest * 1000, 1),
        "settle_rounds": rounds,
        "problems": problems,
    }
    print(json.dumps(figures, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(figures, indent=2))
    print("FAULTS: " + ("all checks passed" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
