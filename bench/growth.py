"""Growth benchmark: the back office, the read API and ingestion with a plant's worth of data.

One piece past 500 lines: one program; the fill, the pages and the sizes share one
database and one server, in that order.

    .venv/bin/python bench/growth.py [--records 20000] [--repeat 5]

Creates a fresh PostgreSQL database, seeds a line (runs, units, tracks at five
route steps), serves the app with gunicorn (2 workers × 8 threads) and measures
single-post ingestion on the empty database. Then it fills the database with SQL
(not HTTP, so millions take minutes): `--records` device events spread over 30
days and over every unit of the line, two values each (some out of spec or
alarmed), a SUCCESS message each, DUPLICATE messages for 3% of them, CONFLICTs
for 0.1%, and unresolved FAILED messages for 0.5% more eventIds. It measures
ingestion again, then every back-office page and API list of issue 12 as a
signed-in quality staff user over HTTP (median and worst of `--repeat`
requests after one warm-up), and the bytes per event of each table and index.
Prints a table and writes the same as JSON. Only 127.0.0.1 is contacted;
every loop is bounded in time.
"""

import http.client
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402  (after the path is set)
    create_database,
    drop_database,
    free_port,
    seed,
    server_arguments,
    server_environment,
    start_server,
    stop_server,
)
from bench.load import run_load  # noqa: E402

DAYS = 30


def fill_start() -> datetime:
    """The fill ends about now: in production events arrive in time order, so each time
    index grows at its right edge; data older than what is already there would fill
    its pages half (a split in the middle) and make the indexes look bigger than they are."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DAYS)


CHUNK = 200_000  # records per INSERT … SELECT: a few seconds each
TABLES = ["integration_devicedatarecord", "execution_datavalue", "integration_integrationmessage"]

QUALITY_SESSION = """
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
person, _ = User.objects.get_or_create(username="quality-growth", defaults={"is_staff": True})
person.groups.add(Group.objects.get(name="Quality staff"))
session = SessionStore()
session[SESSION_KEY] = str(person.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = person.get_session_auth_hash()
session.save()
print(session.session_key)
"""


# --- filling ----------------------------------------------------------------------------

FILL = [
    # The reflow step's tracks, numbered, so event n lands on track n mod count.
    """CREATE TEMP TABLE g_track AS
       SELECT row_number() OVER (ORDER BY t.id) AS k, t.id AS track_id, u.sn, r.run_no,
              s.code AS station_code, s.id AS station_id, r.id AS run_id
       FROM execution_track t JOIN execution_unit u ON u.id = t.unit_id
       JOIN execution_run r ON r.id = u.run_id JOIN execution_station s ON s.id = t.station_id
       WHERE t.step_no = 40""",
    """CREATE TEMP TABLE g_spec AS
       SELECT (SELECT id FROM execution_dataspec WHERE name = 'Peak Temperature') AS peak,
              (SELECT id FROM execution_dataspec WHERE name = 'Conveyor Speed') AS speed,
              (SELECT id FROM execution_operation WHERE code = 'OP-B-REFLOW') AS operation,
              (SELECT id FROM auth_user WHERE username = 'gw-bench-0') AS gateway,
              (SELECT count(*) FROM g_track) AS tracks""",
]

RECORDS = """
WITH written AS (
INSERT INTO integration_devicedatarecord (event_id, event_time, source, run_no, unit_sn,
  station_code, step_no, track_id, carrier_track_id, operation_id, equipment_id, operator_id,
  data, meta, payload_hash, payload_hash_version, data_values_created, duplicate_count,
  last_duplicate_at, received_at, sent_by_id)
SELECT 'g-' || n, %(start)s::timestamptz + (n * %(span)s / %(total)s) * interval '1 second',
  'AUTO', t.run_no, t.sn, t.station_code, 40, t.track_id, NULL, s.operation, 'OVEN-' || n %% 7,
  '', jsonb_build_array(
    jsonb_build_object('specName', 'Peak Temperature', 'valueNumber', 238 + n %% 19),
    jsonb_build_object('specName', 'Conveyor Speed', 'valueNumber', 70 + n %% 25)),
  jsonb_build_object('line', 'SMT-1', 'gateway', 'gw-bench-0'),
  md5('g-' || n) || md5('h-' || n), 2, 2,
  CASE WHEN n %% 33 = 0 THEN 1 ELSE 0 END,
  CASE WHEN n %% 33 = 0 THEN %(start)s::timestamptz + (n * %(span)s / %(total)s + 60)
       * interval '1 second' END,
  %(start)s::timestamptz + (n * %(span)s / %(total)s + 1) * interval '1 second', s.gateway
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
CROSS JOIN g_spec s JOIN g_track t ON t.k = n %% s.tracks + 1
RETURNING id)
SELECT min(id), max(id) FROM written
"""

VALUES = """
INSERT INTO execution_datavalue (spec_id, track_id, carrier_track_id, station_id, run_id,
  collected_at,
  value_number, value_text, value_boolean, value_json, limits, judge, alarmed, source,
  source_ref, meta, created_at)
SELECT CASE WHEN i = 0 THEN s.peak ELSE s.speed END, r.track_id, NULL, t.station_id, u.run_id,
  r.event_time, v.x, NULL,
  NULL, NULL,
  CASE WHEN i = 0 THEN '{"spec": {"min": 240, "max": 250}}'::jsonb ELSE '{"spec": {"min": 0}}' END,
  CASE WHEN i = 0 AND (v.x < 240 OR v.x > 250) THEN 'FAIL' ELSE 'PASS' END,
  i = 0 AND v.x > 255, 'AUTO', 'device-data:' || r.event_id,
  jsonb_build_object('eventId', r.event_id, 'equipmentId', r.equipment_id, 'operatorId', NULL),
  r.received_at
FROM integration_devicedatarecord r JOIN execution_track t ON t.id = r.track_id
JOIN execution_unit u ON u.id = t.unit_id CROSS JOIN g_spec s CROSS JOIN (VALUES (0), (1)) AS i(i)
CROSS JOIN LATERAL (SELECT (r.data -> i.i ->> 'valueNumber')::float AS x) v
WHERE r.id BETWEEN %(first)s AND %(last)s
ORDER BY r.id, i.i
"""

MESSAGES = """
INSERT INTO integration_integrationmessage (direction, system, entity_type, business_key,
  dedupe_key, status, payload, error_code, error_message, record_id, replay_of_id, resolved_at,
  sent_by_id, created_at, updated_at, record_fields)
SELECT 'IN', 'DEVICE', 'DEVICE_DATA', 'device-data:' || r.event_id, 'device-data:' || r.event_id,
  m.status,
  -- As the ingestion stores them: the fields the record holds are not repeated
  -- (integration/ingestion/stored_payload.py), but a conflict's other data.
  jsonb_build_object('eventTime', r.event_time)
    || CASE WHEN m.status = 'CONFLICT' THEN jsonb_build_object('data', '[]'::jsonb)
       ELSE '{}' END,
  CASE WHEN m.status = 'CONFLICT' THEN 'EVENT_ID_CONFLICT' ELSE '' END,
  CASE WHEN m.status = 'CONFLICT' THEN 'eventId already received with a different payload'
       ELSE '' END,
  r.id, NULL, NULL, r.sent_by_id, r.received_at + m.later, r.received_at + m.later,
  CASE WHEN m.status = 'CONFLICT' THEN 767 ELSE 1023 END
FROM integration_devicedatarecord r
CROSS JOIN LATERAL (
  SELECT 'SUCCESS' AS status, interval '0' AS later
  UNION ALL SELECT 'DUPLICATE', interval '60 seconds' WHERE r.duplicate_count > 0
  UNION ALL SELECT 'CONFLICT', interval '90 seconds' WHERE r.id %% 1000 = 0
) m
WHERE r.id BETWEEN %(first)s AND %(last)s
ORDER BY r.id
"""

FAILED = """
INSERT INTO integration_integrationmessage (direction, system, entity_type, business_key,
  dedupe_key, status, payload, error_code, error_message, record_id, replay_of_id, resolved_at,
  sent_by_id, created_at, updated_at)
SELECT 'IN', 'DEVICE', 'DEVICE_DATA', 'device-data:gf-' || n, 'device-data:gf-' || n, 'FAILED',
  jsonb_build_object('eventId', 'gf-' || n, 'unitSn', 'SN-NOT-BUILT', 'stationCode',
    'BENCH-REFLOW', 'stepNo', 40, 'data', jsonb_build_array(
      jsonb_build_object('specName', 'Peak Temperature', 'valueNumber', 245))),
  'UNIT_NOT_FOUND', 'Unit ''SN-NOT-BUILT'' not found.', NULL, NULL, NULL, s.gateway,
  %(start)s::timestamptz + (n * %(span)s / %(total)s) * interval '1 second',
  %(start)s::timestamptz + (n * %(span)s / %(total)s) * interval '1 second'
FROM generate_series(1, %(total)s::bigint) AS n CROSS JOIN g_spec s
WHERE n %% 200 = 0
"""


def fill(database_url: str, total: int, start: datetime) -> float:
    """Write `total` events from `start` on, with their values and messages; returns the
    seconds taken."""
    import psycopg

    started = time.monotonic()
    span = DAYS * 24 * 3600
    with psycopg.connect(database_url, autocommit=True) as session:
        for statement in FILL:
            session.execute(statement)
        for first in range(1, total + 1, CHUNK):
            last = min(total, first + CHUNK - 1)
            times = {"start": start, "span": span, "total": total}
            low, high = session.execute(RECORDS, {**times, "first": first, "last": last}).fetchone()
            ids = {"first": low, "last": high}
            session.execute(VALUES, ids)
            session.execute(MESSAGES, ids)
            print(f"  {last:,} of {total:,} events", flush=True)
        session.execute(FAILED, {"start": start, "span": span, "total": total})
        for table in TABLES:
            session.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


def bytes_per_event(database_url: str, total: int) -> dict:
    """Each table's heap (with TOAST) and each index, in bytes per event."""
    import psycopg

    sizes = {}
    with psycopg.connect(database_url, autocommit=True) as session:
        for table in TABLES:
            heap = session.execute("SELECT pg_table_size(%s::regclass)", [table]).fetchone()[0]
            sizes[table] = round(heap / total)
            for index, size in session.execute(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) "
                "FROM pg_index WHERE indrelid = %s::regclass ORDER BY 2 DESC",
                [table],
            ):
                sizes[f"  {index}"] = round(size / total)
    sizes["total"] = sum(v for k, v in sizes.items() if not k.startswith("  ")) + sum(
        v for k, v in sizes.items() if k.startswith("  ")
    )
    return sizes


# --- pages ------------------------------------------------------------------------------


def samples(database_url: str, total: int, sample_sn: str) -> dict:
    """Rows the pages open: a record and message half-way, the spec, a unit, deep cursors."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as session:
        record_id, event_time, received_at = session.execute(
            "SELECT id, event_time, received_at FROM integration_devicedatarecord "
            "WHERE event_id = %s",
            [f"g-{total // 2}"],
        ).fetchone()
        message_id, created_at = session.execute(
            "SELECT id, created_at FROM integration_integrationmessage WHERE business_key = %s "
            "AND status = 'SUCCESS'",
            [f"device-data:g-{total // 2}"],
        ).fetchone()
        spec_id = session.execute(
            "SELECT id FROM execution_dataspec WHERE name = 'Peak Temperature'"
        ).fetchone()[0]
        unit_id, run_id = session.execute(
            "SELECT id, run_id FROM execution_unit WHERE sn = %s", [sample_sn]
        ).fetchone()
    return {
        "record": record_id,
        "message": message_id,
        "spec": spec_id,
        "unit": unit_id,
        "run": run_id,
        # Half-way down each list, as a client following nextCursor gets there.
        "record_cursor": cursor_of([event_time, received_at], record_id),
        "message_cursor": cursor_of([created_at], message_id),
    }


def cursor_of(moments: list, pk: int) -> str:
    """A nextCursor as mes/api/pagination.py writes it."""
    import base64

    position = [moment.isoformat() for moment in moments] + [pk]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def pages(total: int, sample_sn: str, sample_run: str, rows: dict) -> list[tuple[str, str]]:
    """Every back-office page, list filter and search of issue 12, as quality staff open them."""
    day = (rows["start"] + timedelta(days=DAYS // 2)).date().isoformat()
    record_pages = max(1, total // 100)
    values = "/admin/execution/datavalue/"
    records = "/admin/integration/devicedatarecord/"
    messages = "/admin/integration/integrationmessage/"
    q = urlencode
    return [
        ("admin index (dashboard)", "/admin/"),
        ("data values list, unfiltered", values),
        ("data values, search a unit serial", values + "?" + q({"q": sample_sn})),
        ("data values, search a run number", values + "?" + q({"q": sample_run})),
        ("data values by station", values + "?station=BENCH-REFLOW"),
        ("data values by a station without values", values + "?station=BENCH-AOI"),
        ("data values, one day", values + "?" + q({"collectedFrom": day, "collectedTo": day})),
        ("data values, FAIL", values + "?judge__exact=FAIL"),
        ("data values, PASS", values + "?judge__exact=PASS"),
        ("data values, NA (none)", values + "?judge__exact=NA"),
        ("data values, alarmed", values + "?alarmed__exact=1"),
        ("data values, by spec", values + f"?spec__id__exact={rows['spec']}"),
        ("data values, source MANUAL (none)", values + "?source__exact=MANUAL"),
        ("data values, unitSn", values + "?" + q({"unitSn": sample_sn})),
        ("data values, runNo", values + "?" + q({"runNo": sample_run})),
        ("data values, sourceRef", values + "?" + q({"sourceRef": f"device-data:g-{total // 3}"})),
        ("data values page 2000", values + f"?p={min(2000, max(1, total * 2 // 100))}"),
        ("records list, unfiltered", records),
        ("records, search an eventId", records + "?" + q({"q": f"g-{total // 2}"})),
        ("records, search a unit serial", records + "?" + q({"q": sample_sn})),
        ("records, eventId", records + "?" + q({"eventId": f"g-{total // 2}"})),
        ("records, runNo", records + "?" + q({"runNo": sample_run})),
        ("records, unitSn", records + "?" + q({"unitSn": sample_sn})),
        ("records, stationCode", records + "?stationCode=BENCH-REFLOW"),
        ("records, stepNo 40", records + "?stepNo=40"),
        ("records, stepNo 10 (none)", records + "?stepNo=10"),
        ("records, source MANUAL (none)", records + "?source__exact=MANUAL"),
        ("records, one day", records + "?" + q({"eventFrom": day, "eventTo": day})),
        ("records, duplicated", records + "?duplicated=yes"),
        (f"records list page {min(2000, record_pages)}", records + f"?p={min(2000, record_pages)}"),
        ("record page", records + f"{rows['record']}/change/"),
        ("messages list, unfiltered", messages),
        ("messages, search an eventId", messages + "?" + q({"q": f"g-{total // 2}"})),
        ("messages, FAILED", messages + "?status__exact=FAILED"),
        ("messages, SUCCESS", messages + "?status__exact=SUCCESS"),
        ("messages, DUPLICATE", messages + "?status__exact=DUPLICATE"),
        ("messages, CONFLICT", messages + "?status__exact=CONFLICT"),
        ("messages, unresolved", messages + "?resolved=no"),
        ("messages, resolved", messages + "?resolved=yes"),
        ("messages, error code", messages + "?error_code__exact=UNIT_NOT_FOUND"),
        ("messages, system", messages + "?system__exact=DEVICE"),
        ("messages, one day", messages + "?" + q({"createdFrom": day, "createdTo": day})),
        (
            "messages, businessKey",
            messages + "?" + q({"businessKey": f"device-data:g-{total // 3}"}),
        ),
        ("message page", messages + f"{rows['message']}/change/"),
        ("spec page with its SPC chart", f"/admin/execution/dataspec/{rows['spec']}/change/"),
        ("unit page with its history", f"/admin/execution/unit/{rows['unit']}/page/"),
        ("run page with its values", f"/admin/execution/run/{rows['run']}/change/"),
    ]


def api_lists(total: int, sample_run: str, rows: dict) -> list[tuple[str, str]]:
    records, messages = "/api/integration/device-data", "/api/integration/messages"
    deep = min(2000, max(1, total // 30))
    return [
        ("API device-data (no filter)", records),
        (f"API device-data?page={deep}", f"{records}?page={deep}"),
        ("API device-data, cursor half-way", f"{records}?cursor={rows['record_cursor']}"),
        ("API device-data?runNo", f"{records}?" + urlencode({"runNo": sample_run})),
        ("API device-data?eventId", f"{records}?eventId=g-{total // 2}"),
        ("API messages (no filter)", messages),
        ("API messages?status=FAILED", f"{messages}?status=FAILED"),
        ("API messages, cursor half-way", f"{messages}?cursor={rows['message_cursor']}"),
    ]


def time_export(port: int, session_key: str, total: int, start: datetime, server_pid: int) -> dict:
    """The CSV export of about a million values (fewer on a small fill): rows per second,
    and how much the serving processes grew while streaming it."""
    days = max(1, round(1_000_000 / (total * 2 / DAYS)))
    first = start + timedelta(days=1)
    last = first + timedelta(days=days - 1)
    path = "/admin/execution/datavalue/export.csv?" + urlencode(
        {"collectedFrom": first.date().isoformat(), "collectedTo": last.date().isoformat()}
    )
    memory = [resident_kib(server_pid)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.monotonic()
    connection.request("GET", path, headers={"Cookie": f"sessionid={session_key}"})
    response = connection.getresponse()
    lines, received = 0, 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
        received += len(chunk)
        memory.append(resident_kib(server_pid))
    seconds = time.monotonic() - started
    connection.close()
    rows = lines - 1  # the header
    return {
        "path": path,
        "status": response.status,
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds) if seconds else None,
        "megabytes": round(received / 1e6, 1),
        "server_memory_growth_mib": round((max(memory) - memory[0]) / 1024, 1),
    }


def resident_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn's master and workers)."""
    total = 0
    for task in [pid, *children_of(pid)]:
        try:
            for line in Path(f"/proc/{task}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def children_of(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(child) for child in found]


def time_page(port: int, session_key: str, path: str, repeat: int) -> dict:
    """Median, 95th percentile and worst of `repeat` requests after one warm-up."""
    seconds, status = [], None
    for attempt in range(repeat + 1):  # the first warms caches and is not counted
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.monotonic()
        connection.request("GET", path, headers={"Cookie": f"sessionid={session_key}"})
        response = connection.getresponse()
        response.read()
        status = response.status
        connection.close()
        if attempt:
            seconds.append(time.monotonic() - started)
    ordered = sorted(seconds)
    return {
        "status": status,
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
        "worst_ms": round(max(seconds) * 1000, 1),
    }


def ingestion_rate(port, seeded, phase: str, seconds: float) -> float:
    result = run_load(
        port, seeded["keys"], seeded["units"], phase=phase, concurrency=8, duration=seconds
    )
    return result["events_per_second"]


# --- the run ----------------------------------------------------------------------------


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser, "GROWTH_DATABASE_URL", "mes_growth", workers=2)
    parser.add_argument("--records", type=int, default=20_000, help="device events to fill")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    parser.add_argument("--api-repeat", type=int, default=20, help="timed requests per API list")
    parser.add_argument("--ingest-seconds", type=float, default=6.0)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "growth.json"))
    parser.add_argument(
        "--phase",
        choices=["all", "fill", "measure"],
        default="all",
        help="fill: seed, time ingestion on the empty database, fill, keep the database and "
        "write --state; measure: time ingestion and the pages on that database (for runs of "
        "millions, so the filled database serves several measurements)",
    )
    parser.add_argument("--state", default=str(ROOT / "bench" / "results" / "growth-state.json"))
    options = parser.parse_args()

    name = options.database_url.rsplit("/", 1)[1]
    if options.phase == "measure":
        state = json.loads(Path(options.state).read_text())
    else:
        state = fill_phase(options, name)
        if options.phase == "fill":
            Path(options.state).parent.mkdir(parents=True, exist_ok=True)
            Path(options.state).write_text(json.dumps(state, indent=2))
            print(f"Filled; measure with --phase measure --state {options.state}")
            return
    try:
        results = measure_phase(options, state)
    finally:
        if options.phase == "all" and not options.keep_database:
            drop_database(options.database_url, name)
    print(report(results))
    Path(options.output).parent.mkdir(parents=True, exist_ok=True)
    Path(options.output).write_text(json.dumps(results, indent=2))
    print(f"JSON: {options.output}")


def fill_phase(options, name: str) -> dict:
    """Seed a new database, time ingestion on it while empty, then fill it."""
    database_url = create_database(options.database_url, name)
    units_per_run = 1000
    runs = max(5, min(200, options.records // 20_000))
    print(f"Seeding {runs} runs × {units_per_run} units into {name} …", flush=True)
    seeded = seed(database_url, runs, units_per_run, 4)
    port = free_port()
    server = start_server(database_url, options.workers, options.threads, port)
    try:
        print("ingestion on the empty database …", flush=True)
        empty_rate = ingestion_rate(port, seeded, "empty", options.ingest_seconds)
    finally:
        stop_server(server)
    forget_traffic(database_url)
    start = fill_start()
    print(f"Filling {options.records:,} events from {start:%Y-%m-%d} …", flush=True)
    fill_seconds = fill(database_url, options.records, start)
    return {
        "start": start.isoformat(),
        "database_url": database_url,
        "records": options.records,
        "seeded": seeded,
        "empty_rate": empty_rate,
        "fill_seconds": round(fill_seconds, 1),
    }


def forget_traffic(database_url: str) -> None:
    """Remove what the empty-database measurement wrote (now-dated), so the fill is the
    history that came before anything measured later."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as session:
        session.execute(
            "TRUNCATE integration_integrationmessage, execution_datavalue, "
            "integration_devicedatarecord, "
            # SPC decisions point at values (none are made by the measurement).
            "execution_spcexclusion, execution_spcsignalacknowledgement"
        )


def measure_phase(options, state: dict) -> dict:
    """Ingestion and every page on the filled database, as quality staff over HTTP."""
    database_url, seeded, records = state["database_url"], state["seeded"], state["records"]
    session_key = subprocess.run(
        [sys.executable, "-c", QUALITY_SESSION],
        env={**server_environment(database_url), "DJANGO_SETTINGS_MODULE": "mes.settings"},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    port = free_port()
    server = start_server(database_url, options.workers, options.threads, port)
    try:
        print("ingestion with the data …", flush=True)
        # run_load's eventIds are new in each measurement (bench/ids.py): a second one on the
        # same database must not re-send the first one's (answered as conflicts, not written).
        full_rate = ingestion_rate(port, seeded, "full", options.ingest_seconds)
        sample_sn, sample_run = seeded["units"][len(seeded["units"]) // 2]
        rows = {
            **samples(database_url, records, sample_sn),
            "start": datetime.fromisoformat(state["start"]),
        }
        timings, api = {}, {}
        for label, path in pages(records, sample_sn, sample_run, rows):
            timings[label] = {"path": path, **time_page(port, session_key, path, options.repeat)}
            print(f"  {label}: {timings[label]['median_ms']} ms", flush=True)
        for label, path in api_lists(records, sample_run, rows):
            api[label] = {"path": path, **time_page(port, session_key, path, options.api_repeat)}
            print(f"  {label}: p95 {api[label]['p95_ms']} ms", flush=True)
        print("CSV export …", flush=True)
        export = time_export(port, session_key, records, rows["start"], server.pid)
        sizes = bytes_per_event(database_url, records)
    finally:
        stop_server(server)
    empty_rate = state["empty_rate"]
    return {
        "records": records,
        "fill_seconds": state["fill_seconds"],
        "ingestion": {
            "empty_events_per_second": empty_rate,
            "full_events_per_second": full_rate,
            "ratio": round(full_rate / empty_rate, 3) if empty_rate else None,
        },
        "pages": timings,
        "api": api,
        "export": export,
        "bytes_per_event": sizes,
    }


PAGE_TARGET_MEDIAN_MS, PAGE_TARGET_WORST_MS, API_TARGET_P95_MS = 300, 1000, 50


def report(results: dict) -> str:
    """The table the README shows, each figure against issue 12's target."""

    def mark(ok: bool) -> str:
        return "" if ok else "  ← over target"

    lines = [
        f"{results['records']:,} events (filled in {results['fill_seconds']} s)",
        "",
        f"{'back-office page':52} {'median ms':>10} {'worst ms':>10} {'status':>7}",
    ]
    for label, timing in results["pages"].items():
        ok = (
            timing["median_ms"] < PAGE_TARGET_MEDIAN_MS
            and timing["worst_ms"] < PAGE_TARGET_WORST_MS
        )
        lines.append(
            f"{label:52} {timing['median_ms']:>10} {timing['worst_ms']:>10} "
            f"{timing['status']:>7}{mark(ok)}"
        )
    lines += ["", f"{'API list':52} {'median ms':>10} {'p95 ms':>10} {'status':>7}"]
    for label, timing in results["api"].items():
        lines.append(
            f"{label:52} {timing['median_ms']:>10} {timing['p95_ms']:>10} {timing['status']:>7}"
            f"{mark(timing['p95_ms'] < API_TARGET_P95_MS)}"
        )
    ingestion, export = results["ingestion"], results["export"]
    sizes = results["bytes_per_event"]
    lines += [
        "",
        f"single posts (concurrency 8): {ingestion['empty_events_per_second']} events/s empty, "
        f"{ingestion['full_events_per_second']} with the data = {ingestion['ratio']:.0%}"
        f"{mark(ingestion['ratio'] >= 0.9)}",
        f"CSV export: {export['rows']:,} values in {export['seconds']} s = "
        f"{export['rows_per_second']:,} rows/s ({export['megabytes']} MB), server memory "
        f"+{export['server_memory_growth_mib']} MiB{mark(export['rows_per_second'] >= 20_000)}",
        f"bytes per event: {sizes['total']:,}{mark(sizes['total'] <= 2048)}",
        "",
        "bytes per event (heap with TOAST, then each index):",
    ]
    for name, size in sizes.items():
        lines.append(f"  {name:60} {size:>8,}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
