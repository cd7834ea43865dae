"""Track-in and track-out benchmark: pairs per second through gunicorn, against the same
rows written by psycopg directly, measured in one run.

    .venv/bin/python bench/tracking.py [--units 6000] [--clients 8] [--duration 8]

Creates a fresh PostgreSQL database, seeds the stations' line (bench/seed.py: an
AUTHORIZED run of a two-step route, units queued at its first step, station gateways),
serves the app with gunicorn (gthread workers) and measures:

1. ours: client processes, each on a keep-alive connection with a gateway key of its own,
   take units one after the other through a track-in and a track-out with a value at
   step 10, both by eventId (`POST /api/stations/{code}/track-in`, `…/track-out`):
   pairs/s (a pair counts when both calls answered 200), p50/p95/p99 of each call;
2. the baseline, just before and just after (their mean counts: this machine's speed
   drifts within minutes), on units of their own: the same rows written by psycopg with
   no web stack, from as many processes as gunicorn has workers, in the two transactions
   a pair needs (the unit locked; its track inserted, then closed; the unit moved; the
   value; a tracking record and a message per call);

and checks afterwards that every counted pair left one closed track with its value.
Prints each figure as it is measured, then ours ÷ baseline, and writes the figures as
JSON; the run is one section (bench/sections.py): a failure is reported, the figures
measured before it kept, and the exit code is 1. Only 127.0.0.1 is contacted; every
loop is bounded in time.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import CpuMeter, mean_cpu, postmaster_of  # noqa: E402
from bench.harness import (  # noqa: E402  (after the path is set)
    ROOT,
    create_database,
    drop_database,
    free_port,
    percentile,
    seed_tracking,
    server_arguments,
    start_server,
    stop_server,
)
from bench.load import Client  # noqa: E402
from bench.sections import Sections, show  # noqa: E402

TARGET_PAIRS_PER_SECOND = 300
STATION, STEP_NO, NEXT_STEP_NO, SPEC = "TRK-PRINT-1", 10, 20, "Paste Height"
WARM_UP_UNITS = 100


def _pair_bodies(run_no: str, sn: str, n: int) -> tuple[bytes, bytes]:
    track_in = {"sn": sn, "runNo": run_no, "operatorId": "bench", "eventId": f"ti-{sn}"}
    track_out = {
        "sn": sn, "runNo": run_no, "result": "PASS", "operatorId": "bench",
        "eventId": f"to-{sn}", "data": [{"specName": SPEC, "valueNumber": 110 + n % 30}],
    }  # fmt: skip
    return json.dumps(track_in).encode(), json.dumps(track_out).encode()


def _client_worker(args):
    """Take units through a pair each until the deadline or the last unit."""
    port, key, run_no, units, duration = args
    client = Client(port, key)
    track_in_path = f"/api/stations/{STATION}/track-in"
    track_out_path = f"/api/stations/{STATION}/track-out"
    latencies = {"track-in": [], "track-out": []}
    statuses, pairs, done = {}, 0, []
    started = time.perf_counter()
    deadline = started + duration
    for n, sn in enumerate(units):
        if time.perf_counter() >= deadline:
            break
        answered = []
        for action, where, body in zip(
            ("track-in", "track-out"),
            (track_in_path, track_out_path),
            _pair_bodies(run_no, sn, n),
            strict=True,
        ):
            begin = time.perf_counter()
            status, _ = client.post(where, body)
            latencies[action].append(time.perf_counter() - begin)
            statuses[status] = statuses.get(status, 0) + 1
            answered.append(status)
        if answered == [200, 200]:
            pairs += 1
            done.append(sn)
    return latencies, statuses, pairs, done, time.perf_counter() - started


def run_ours(server, port, keys, run_no, units, clients, duration, database_url) -> dict:
    shares = [units[n::clients] for n in range(clients)]
    jobs = [(port, keys[n % len(keys)], run_no, shares[n], duration) for n in range(clients)]
    meter = CpuMeter(postmaster_of(database_url), [server.pid]).start()
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(_client_worker, jobs)
    meter.stop()
    statuses = {}
    for result in results:
        for status, count in result[1].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    pairs = sum(result[2] for result in results)
    elapsed = max(result[4] for result in results)
    figures = {
        "clients": clients,
        "pairs": pairs,
        "seconds": round(elapsed, 2),
        "pairs_per_second": round(pairs / elapsed, 1),
        # CPU per pair: gunicorn's and PostgreSQL's (bench/cpu.py).
        "cpu": meter.per_event(pairs),
        "statuses": dict(sorted(statuses.items())),
        "done": [sn for result in results for sn in result[3]],
    }
    for action in ("track-in", "track-out"):
        ordered = sorted(latency for result in results for latency in result[0][action])
        figures[action] = {
            f"p{p}_ms": percentile(ordered, p) for p in (50, 95, 99)
        }  # fmt: skip
    return figures


# The baseline: the rows a pair writes, by hand.
TRACK_IN_ROWS = """
WITH unit AS (
    SELECT id FROM execution_unit WHERE sn = %(sn)s FOR NO KEY UPDATE
), track AS (
    INSERT INTO execution_track (unit_id, step_no, station_id, source, in_at, operator_id,
                                 defect_code, defect_location, inspection_override)
    SELECT id, %(step_no)s, %(station_id)s, 'MANUAL', %(now)s, 'bench', '', '', false FROM unit
    RETURNING id, unit_id
)
UPDATE execution_unit SET status = 'IN_STATION', current_step_no = %(step_no)s
FROM track WHERE execution_unit.id = track.unit_id RETURNING track.id
"""
TRACK_OUT_ROWS = """
WITH unit AS (
    SELECT id FROM execution_unit WHERE sn = %(sn)s FOR NO KEY UPDATE
), track AS (
    UPDATE execution_track SET out_at = %(now)s, result = 'PASS'
    FROM unit WHERE execution_track.unit_id = unit.id AND execution_track.out_at IS NULL
    RETURNING execution_track.id, execution_track.unit_id
), value AS (
    INSERT INTO execution_datavalue (spec_id, track_id, collected_at, value_number, limits,
        judge, alarmed, source, source_ref, meta, created_at, station_id, run_id)
    SELECT %(spec_id)s, id, %(now)s, %(value)s, %(limits)s, 'PASS', false, 'MANUAL',
           %(source_ref)s, %(meta)s, %(now)s, %(station_id)s, %(run_id)s FROM track
)
UPDATE execution_unit SET status = 'QUEUED', current_step_no = %(next_step_no)s
FROM track WHERE execution_unit.id = track.unit_id RETURNING track.id
"""
RECORD_AND_MESSAGE = """
WITH record AS (
    INSERT INTO integration_trackingrecord (kind, event_id, payload_hash, answer, track_id,
        unit_sn, station_code, received_at, sent_by_id, duplicate_count)
    VALUES (%(kind)s, %(event_id)s, %(hash)s, %(answer)s, %(track_id)s, %(sn)s, %(station)s,
            %(now)s, %(user_id)s, 0)
)
INSERT INTO integration_integrationmessage (direction, system, entity_type, business_key,
    dedupe_key, status, payload, error_code, error_message, sent_by_id, created_at,
    updated_at, record_fields)
VALUES ('IN', 'STATION', %(kind)s, %(key)s, %(key)s, 'SUCCESS', %(payload)s, '', '',
        %(user_id)s, %(now)s, %(now)s, 0)
"""


def _baseline_rows(database_url: str) -> dict:
    import psycopg

    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            """SELECT (SELECT id FROM execution_station WHERE code = %s),
                      (SELECT id FROM execution_dataspec WHERE name = %s),
                      (SELECT id FROM execution_run WHERE run_no = 'RUN-TRK-001'),
                      (SELECT id FROM auth_user WHERE username = 'gw-station-0')""",
            (STATION, SPEC),
        ).fetchone()
    return dict(zip(("station_id", "spec_id", "run_id", "user_id"), row, strict=True))


def _record(cursor, kind, sn, event_id, body, answer, track_id, ids, now) -> None:
    from psycopg.types.json import Jsonb

    prefix = "track-in" if kind == "TRACK_IN" else "track-out"
    cursor.execute(
        RECORD_AND_MESSAGE,
        {
            "kind": kind, "event_id": event_id, "sn": sn, "station": STATION, "now": now,
            "hash": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            "answer": Jsonb(answer), "track_id": track_id, "user_id": ids["user_id"],
            "key": f"{prefix}:{event_id}", "payload": Jsonb({**body, "stationCode": STATION}),
        },
    )  # fmt: skip


def _baseline_worker(args):
    database_url, run_no, units, duration, ids = args
    import psycopg
    from psycopg.types.json import Jsonb

    pairs, latencies = 0, []
    with psycopg.connect(database_url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        for n, sn in enumerate(units):
            if time.perf_counter() - started >= duration:
                break
            begin = time.perf_counter()
            in_body, out_body = (json.loads(body) for body in _pair_bodies(run_no, sn, n))
            now = datetime.now(UTC)
            with connection.transaction():
                params = {"sn": sn, "step_no": STEP_NO, "now": now, **ids}
                (track_id,) = cursor.execute(TRACK_IN_ROWS, params).fetchone()
                answer = {"status": "IN_STATION", "trackId": str(track_id), "unitSn": sn,
                          "runNo": run_no, "stepNo": STEP_NO, "stationCode": STATION,
                          "inAt": now.isoformat()}  # fmt: skip
                _record(cursor, "TRACK_IN", sn, f"ti-{sn}", in_body, answer, track_id, ids, now)
            now = datetime.now(UTC)
            with connection.transaction():
                value = out_body["data"][0]["valueNumber"]
                params = {
                    "sn": sn, "now": now, "value": value, "next_step_no": NEXT_STEP_NO,
                    "limits": Jsonb({"spec": {"min": 100, "max": 150}, "alarm": None}),
                    "source_ref": f"track-out:to-{sn}",
                    "meta": Jsonb({"eventId": f"to-{sn}", "operatorId": "bench"}), **ids,
                }  # fmt: skip
                (track_id,) = cursor.execute(TRACK_OUT_ROWS, params).fetchone()
                answer = {"status": "QUEUED", "trackId": str(track_id), "result": "PASS",
                          "values": [{"specName": SPEC, "judge": "PASS"}]}  # fmt: skip
                _record(cursor, "TRACK_OUT", sn, f"to-{sn}", out_body, answer, track_id, ids, now)
            latencies.append(time.perf_counter() - begin)
            pairs += 1
    return pairs, latencies, time.perf_counter() - started


def run_baseline(database_url, run_no, units, processes, duration) -> dict:
    ids = _baseline_rows(database_url)
    jobs = [(database_url, run_no, units[n::processes], duration, ids) for n in range(processes)]
    # The clients' CPU (waited for when the pool ends) and PostgreSQL's.
    meter = CpuMeter(postmaster_of(database_url)).start()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_baseline_worker, jobs)
    meter.stop()
    pairs = sum(result[0] for result in results)
    elapsed = max(result[2] for result in results)
    latencies = sorted(latency for result in results for latency in result[1])
    return {
        "processes": processes,
        "pairs": pairs,
        "seconds": round(elapsed, 2),
        "pairs_per_second": round(pairs / elapsed, 1),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu": meter.per_event(pairs),
    }


def check_written(database_url: str, done: list[str]) -> dict:
    """Each counted pair's unit: one closed PASS track at step 10 with one value."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        tracks, values, queued = connection.execute(
            """SELECT count(DISTINCT t.id), count(v.id),
                      count(DISTINCT u.id) FILTER (WHERE u.status = 'QUEUED'
                                                   AND u.current_step_no = %s)
               FROM execution_unit u JOIN execution_track t ON t.unit_id = u.id
               LEFT JOIN execution_datavalue v ON v.track_id = t.id
               WHERE u.sn = ANY(%s) AND t.result = 'PASS' AND t.out_at IS NOT NULL""",
            (NEXT_STEP_NO, done),
        ).fetchone()
    return {"pairs": len(done), "closed_tracks": tracks, "values": values, "queued": queued}


def report(results: dict) -> str:
    ours, base = results["ours"], results["baseline"]
    mean = (base["before"]["pairs_per_second"] + base["after"]["pairs_per_second"]) / 2
    ratio = ours["pairs_per_second"] / mean if mean else 0
    setup = results["setup"]
    lines = [
        f"Track-in + track-out pairs ({setup['workers']} gunicorn workers × "
        f"{setup['threads']} threads, {ours['clients']} keep-alive clients, "
        f"PostgreSQL {setup['postgresql']}, {setup['cpu_count']} cores)",
        f"{'figure':<46}{'pairs/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    for action in ("track-in", "track-out"):
        figures = ours[action]
        lines.append(
            f"{'  ' + action + ' (each call)':<46}{'':>9}"
            f"{figures['p50_ms']:>9}{figures['p95_ms']:>9}{figures['p99_ms']:>9}"
        )
    lines.append(f"{'ours: through gunicorn, by eventId':<46}{ours['pairs_per_second']:>9}")
    for when in ("before", "after"):
        figures = base[when]
        label = f"baseline {when}: psycopg, {figures['processes']} processes"
        lines.append(
            f"{label:<46}{figures['pairs_per_second']:>9}{figures['p50_ms']:>9}{'':>9}"
            f"{figures['p99_ms']:>9}"
        )
    lines.append(f"{'baseline, mean':<46}{mean:>9.1f}")
    cpu, base_cpu = ours["cpu"], mean_cpu(base["before"], base["after"]) or {}
    lines.append(
        f"CPU per pair (ms): ours {cpu['mes_ms']} gunicorn + {cpu['postgres_ms']} PostgreSQL "
        f"= {cpu['total_ms']}; baseline {base_cpu.get('mes_ms')} clients + "
        f"{base_cpu.get('postgres_ms')} PostgreSQL = {base_cpu.get('total_ms')}"
    )
    lines.append(f"ours ÷ baseline: {ratio:.0%}; statuses {ours['statuses']}")
    written = results["written"]
    lines.append(
        f"written: {written['closed_tracks']} closed tracks and {written['values']} values for "
        f"{written['pairs']} pairs; {written['queued']} units queued at step {NEXT_STEP_NO}"
    )
    met = "met" if ours["pairs_per_second"] >= TARGET_PAIRS_PER_SECOND else "NOT met"
    lines.append(
        f"target: ≥ {TARGET_PAIRS_PER_SECOND} pairs/s (got {ours['pairs_per_second']:.0f}): {met}"
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(
        parser, "BENCH_TRACKING_DATABASE_URL", "mes_bench_tracking", workers=os.cpu_count() or 2
    )
    parser.add_argument("--units", type=int, default=6000, help="units for ours, and each baseline")
    parser.add_argument("--clients", type=int, default=8, help="keep-alive client processes")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per figure at most")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "tracking.json"))
    parser.add_argument(
        "--checkout",
        default=str(ROOT),
        help="serve the code of another checkout of the same schema (before/after comparisons)",
    )
    options = parser.parse_args()

    results = {
        "setup": {
            "date": datetime.now(UTC).isoformat(),
            "cpu_count": os.cpu_count(),
            "workers": options.workers,
            "threads": options.threads,
            "units": options.units,
            "duration": options.duration,
            "checkout": options.checkout,
        }
    }
    output = Path(options.output)
    sections = Sections(results, output)
    try:
        sections.run("tracking", lambda: measure(options, results))
    finally:
        table = "(no table: the section did not finish; its figures are above and in the JSON)"
        if sections.done("tracking"):
            table = report(results)
        print()
        print(table)
        print()
        print(sections.summary())
        results["table"] = table.splitlines()
        sections.save()
        print(f"\nJSON: {output}", flush=True)
    sys.exit(sections.exit_code())


def measure(options, results: dict) -> None:
    """Seed, serve, then the baseline before, ours and the baseline after, each figure
    printed and kept in `results` as it is measured; the database dropped afterwards."""
    name = options.database_url.rsplit("/", 1)[1]
    database_url = create_database(options.database_url, name)
    try:
        measure_on(database_url, name, options, results)
    finally:
        if not options.keep_database:
            drop_database(options.database_url, name)


def measure_on(database_url: str, name: str, options, results: dict) -> None:
    total = WARM_UP_UNITS + 3 * options.units
    print(f"Seeding the stations' line with {total} units into {name} …", flush=True)
    seeded = seed_tracking(database_url, total, options.clients)
    run_no, units, keys = seeded["run_no"], seeded["units"], seeded["keys"]
    warm_up, ours_units = units[:WARM_UP_UNITS], units[WARM_UP_UNITS::3]
    before_units, after_units = units[WARM_UP_UNITS + 1 :: 3], units[WARM_UP_UNITS + 2 :: 3]
    import psycopg

    with psycopg.connect(database_url) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    results["setup"]["postgresql"] = version
    baseline = results["baseline"] = {}
    port = free_port()
    server = start_server(
        database_url, options.workers, options.threads, port, root=Path(options.checkout)
    )
    try:
        # Not counted: every worker's connection opened and its statements prepared.
        run_ours(
            server, port, keys, run_no, warm_up, options.clients, options.duration, database_url
        )
        print("baseline: psycopg, the same rows, before …", flush=True)
        baseline["before"] = show(
            run_baseline(database_url, run_no, before_units, options.workers, options.duration)
        )
        print(f"ours: {options.clients} clients through gunicorn …", flush=True)
        ours = show(
            run_ours(
                server, port, keys, run_no, ours_units, options.clients, options.duration,
                database_url,
            )
        )  # fmt: skip
        done = ours.pop("done")
        results["ours"] = ours
        print("baseline: psycopg, the same rows, after …", flush=True)
        baseline["after"] = show(
            run_baseline(database_url, run_no, after_units, options.workers, options.duration)
        )
    finally:
        stop_server(server)
    results["written"] = show(check_written(database_url, done), "written")


if __name__ == "__main__":
    main()
