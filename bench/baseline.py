"""The baseline `make bench` compares ours with: the same rows (record, values, message)
written by psycopg with no web stack, one transaction per event from as many processes as
gunicorn has workers, and COPY in batches. Only 127.0.0.1 is contacted; every loop is
bounded in time. Each baseline run writes eventIds of its own (bench/ids.py): the runs
before and after a figure share one database.
"""

import hashlib
import json
import multiprocessing
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from bench import ids
from bench.cpu import mean_cpu
from bench.harness import (
    SPEC_NAMES,
    STATION,
    STEP_NO,
    VALUES_PER_EVENT,
    make_event,
    percentile,
)
from integration.ingestion.stored_payload import split_payload


def _baseline_rows(database_url):
    import psycopg

    with psycopg.connect(database_url) as connection:
        tracks = connection.execute(
            """SELECT t.id, u.sn, r.run_no, t.station_id, r.id FROM execution_track t
               JOIN execution_unit u ON u.id = t.unit_id JOIN execution_run r ON r.id = u.run_id
               JOIN execution_station s ON s.id = t.station_id
               WHERE s.code = %s AND t.step_no = %s""",
            (STATION, STEP_NO),
        ).fetchall()
        specs = connection.execute(
            "SELECT id, name FROM execution_dataspec WHERE name = ANY(%s) ORDER BY name",
            (SPEC_NAMES,),
        ).fetchall()
        operation_id, user_id = connection.execute(
            """SELECT (SELECT operation_id FROM execution_dataspec WHERE name = %s LIMIT 1),
                      (SELECT id FROM auth_user ORDER BY id LIMIT 1)""",
            (SPEC_NAMES[0],),
        ).fetchone()
    return tracks, specs, operation_id, user_id


def _event_rows(event_id, track, specs, operation_id, user_id, n):
    """The record, value and message rows the API writes for one event."""
    track_id, unit_sn, run_no, station_id, run_id = track
    now = datetime.now(UTC)
    event = make_event(event_id, unit_sn, run_no, n)
    data = json.dumps(event["data"])
    payload_hash = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    record = (
        event_id, now, "AUTO", run_no, unit_sn, STATION, STEP_NO, track_id, None, operation_id,
        "OVEN-7", "", data, json.dumps(event["meta"]), payload_hash, VALUES_PER_EVENT, 0, None,
        now, user_id,
    )  # fmt: skip
    limits = json.dumps({"spec": {"min": 240, "max": 250}, "alarm": None})
    meta = json.dumps({"eventId": event_id, "equipmentId": "OVEN-7", "operatorId": None})
    # The message keeps what the record does not hold, as the ingestion stores it.
    written = SimpleNamespace(
        event_id=event_id, source="AUTO", run_no=run_no, unit_sn=unit_sn, station_code=STATION,
        step_no=STEP_NO, equipment_id="OVEN-7", operator_id="", data=event["data"],
        meta=event["meta"],
    )  # fmt: skip
    stored, bits = split_payload(event, written)
    values = [
        (spec_id, track_id, None, now, float(item["valueNumber"]), None, None, None, limits,
         "PASS", False, "AUTO", f"device-data:{event_id}", meta, now, station_id, run_id)
        for (spec_id, _), item in zip(specs, event["data"], strict=True)
    ]  # fmt: skip
    message = (
        "IN", "DEVICE", "DEVICE_DATA", f"device-data:{event_id}", f"device-data:{event_id}",
        "SUCCESS", json.dumps(stored), "", "", None, None, None, user_id, now, now, bits,
    )  # fmt: skip
    return record, values, message


RECORD_COLUMNS = (
    "event_id, event_time, source, run_no, unit_sn, station_code, step_no, track_id, "
    "carrier_track_id, operation_id, equipment_id, operator_id, data, meta, payload_hash, "
    "data_values_created, duplicate_count, last_duplicate_at, received_at, sent_by_id"
)
VALUE_COLUMNS = (
    "spec_id, track_id, carrier_track_id, collected_at, value_number, value_text, "
    "value_boolean, value_json, limits, judge, alarmed, source, source_ref, meta, created_at, "
    "station_id, run_id"
)
MESSAGE_COLUMNS = (
    "direction, system, entity_type, business_key, dedupe_key, status, payload, error_code, "
    "error_message, record_id, replay_of_id, resolved_at, sent_by_id, created_at, updated_at, "
    "record_fields"
)


def _baseline_single_worker(args):
    database_url, part, worker, duration, tracks, specs, operation_id, user_id = args
    import psycopg

    placeholders = lambda n: ", ".join(["%s"] * n)  # noqa: E731
    latencies = []
    with psycopg.connect(database_url) as connection:
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < duration:
            record, values, message = _event_rows(
                ids.event_id(part, worker, n),
                tracks[(worker * 7919 + n) % len(tracks)],
                specs, operation_id, user_id, n,
            )  # fmt: skip
            begin = time.perf_counter()
            with connection.transaction(), connection.cursor() as cursor:
                record_id = cursor.execute(
                    f"INSERT INTO integration_devicedatarecord ({RECORD_COLUMNS}) "
                    f"VALUES ({placeholders(20)}) RETURNING id",
                    record,
                ).fetchone()[0]
                cursor.execute(
                    f"INSERT INTO execution_datavalue ({VALUE_COLUMNS}) VALUES "
                    + ", ".join(f"({placeholders(17)})" for _ in values),
                    [field for value in values for field in value],
                )
                message = message[:9] + (record_id,) + message[10:]
                cursor.execute(
                    f"INSERT INTO integration_integrationmessage ({MESSAGE_COLUMNS}) "
                    f"VALUES ({placeholders(16)})",
                    message,
                )
            latencies.append(time.perf_counter() - begin)
            n += 1
    return latencies, n, time.perf_counter() - started


def _baseline_batch_worker(args):
    database_url, part, worker, duration, batch_size, tracks, specs, operation_id, user_id = args
    import psycopg

    events = 0
    with psycopg.connect(database_url) as connection:
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < duration:
            rows = [
                _event_rows(
                    ids.event_id(part, worker, n + i),
                    tracks[(worker * 7919 + n + i) % len(tracks)],
                    specs,
                    operation_id,
                    user_id,
                    n + i,
                )  # fmt: skip
                for i in range(batch_size)
            ]
            with connection.transaction(), connection.cursor() as cursor:
                record_ids = [
                    row[0]
                    for row in cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence("
                        "'integration_devicedatarecord', 'id')) FROM generate_series(1, %s)",
                        (batch_size,),
                    ).fetchall()
                ]
                with cursor.copy(
                    f"COPY integration_devicedatarecord (id, {RECORD_COLUMNS}) FROM STDIN"
                ) as copy:
                    for record_id, (record, _, _) in zip(record_ids, rows, strict=True):
                        copy.write_row((record_id, *record))
                with cursor.copy(f"COPY execution_datavalue ({VALUE_COLUMNS}) FROM STDIN") as copy:
                    for _, values, _ in rows:
                        for value in values:
                            copy.write_row(value)
                with cursor.copy(
                    f"COPY integration_integrationmessage ({MESSAGE_COLUMNS}) FROM STDIN"
                ) as copy:
                    for record_id, (_, _, message) in zip(record_ids, rows, strict=True):
                        copy.write_row(message[:9] + (record_id,) + message[10:])
            n += batch_size
            events += batch_size
    return events, time.perf_counter() - started


def baseline_single(database_url, processes, duration):
    tracks, specs, operation_id, user_id = _baseline_rows(database_url)
    part = ids.new_part("base")
    jobs = [
        (database_url, part, i, duration, tracks, specs, operation_id, user_id)
        for i in range(processes)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_baseline_single_worker, jobs)
    latencies = sorted(latency for result in results for latency in result[0])
    events = sum(result[1] for result in results)
    elapsed = max(result[2] for result in results)
    return {
        "processes": processes,
        "events": events,
        "events_per_second": round(events / elapsed, 1),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def baseline_batch(database_url, processes, duration, batch_size):
    tracks, specs, operation_id, user_id = _baseline_rows(database_url)
    part = ids.new_part("copy")
    jobs = [
        (database_url, part, i, duration, batch_size, tracks, specs, operation_id, user_id)
        for i in range(processes)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_baseline_batch_worker, jobs)
    events = sum(result[0] for result in results)
    elapsed = max(result[1] for result in results)
    return {
        "processes": processes,
        "batch_size": batch_size,
        "events": events,
        "events_per_second": round(events / elapsed, 1),
    }


def mean_of(before: dict, after: dict) -> dict:
    """One baseline figure from its runs before and after ours: mean events/s, both kept."""
    mean = {
        key: round((before[key] + after[key]) / 2, 2)
        for key in before
        if key != "processes" and isinstance(before[key], int | float)
    }
    return {
        **before,
        **mean,
        "cpu": mean_cpu(before, after),
        "events_per_second_before": before["events_per_second"],
        "events_per_second_after": after["events_per_second"],
    }
