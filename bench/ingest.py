"""Ingestion benchmark: our HTTP API against PostgreSQL's own limit, measured in one run.

    .venv/bin/python bench/ingest.py [--workers 3] [--duration 8]

Creates a fresh PostgreSQL database, seeds realistic master data (runs,
thousands of units with tracks, specs bound to route steps), serves the app
with gunicorn and measures:

1. single-event POSTs at several concurrencies: events/s and p50/p95/p99 latency,
   and latency at half the best rate (open loop);
2. batch POSTs of 100 and 500 events: events/s;
3. a duplicate storm (one eventId, hundreds of concurrent posts): duplicates/s,
   and that exactly one record exists afterwards;
4. the baseline on the same database: the same rows (record, values, message)
   written with psycopg and no web stack — one transaction per event from as
   many processes as gunicorn has workers, and COPY for batches of the same sizes,
   each run just before and just after the figures it is compared with (their
   mean counts: the machine's speed drifts within minutes);
5. MQTT (bench/mqtt.py, when Mosquitto is installed): single-event messages from
   several publisher processes, two `consume_mqtt` consumers, events/s written and
   publish→answer latency, beside the COPY baseline of the same run;
6. IPC-CFX (bench/cfx.py, when RabbitMQ listens for AMQP 1.0): a reflow oven's
   UnitsProcessed for panels of 4 units, two `consume_cfx` consumers, unit results/s
   written, beside the COPY baseline of the same run.

Prints a table with each figure and ours ÷ baseline, and writes the same as JSON.
Each client process sends with its own gateway key, and the server's throttle is
raised for the run (GATEWAY_THROTTLE_RATE), so the figures measure ingestion.
Only 127.0.0.1 is contacted; every loop is bounded in time.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cfx as bench_cfx  # noqa: E402  (after the path is set)
from bench import mqtt as bench_mqtt  # noqa: E402
from bench.baseline import baseline_batch, baseline_single  # noqa: E402
from bench.harness import (  # noqa: E402
    ROOT,
    VALUES_PER_EVENT,
    create_database,
    drop_database,
    free_port,
    make_event,
    percentile,
    seed,
    server_arguments,
    server_environment,
    start_server,
    stop_server,
)


class Client:
    """One keep-alive connection to the server, reconnecting if the server closes it."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.connection = None

    def exchange(self, path: str, body: bytes):
        """One POST on the keep-alive connection: (response, body read). A broken
        connection is dropped (the next request opens another) and its error raised."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.connection.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Token {self.key}"},
            )
            response = self.connection.getresponse()
            return response, response.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            self.connection = None
            raise

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST, once more on a new connection if the kept-alive one was closed."""
        try:
            response, raw = self.exchange(path, body)
        except (ConnectionError, http.client.HTTPException, OSError):
            response, raw = self.exchange(path, body)
        return response.status, raw


def _closed_loop_worker(args):
    """Send events back to back until the deadline; returns latencies and status counts."""
    port, key, path, worker, phase, units, batch_size, duration, rate = args
    client = Client(port, key)
    latencies, statuses, events_sent = [], {}, 0
    started = time.perf_counter()
    deadline = started + duration
    n = 0
    while time.perf_counter() < deadline:
        if rate:  # open loop: a fixed schedule per worker
            target = started + n / rate
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        events = []
        for _ in range(batch_size):
            unit_sn, run_no = units[(worker * 7919 + n) % len(units)]
            events.append(make_event(f"{phase}-{worker}-{n}", unit_sn, run_no, n))
            n += 1
        body = json.dumps(events[0] if batch_size == 1 else {"events": events}).encode()
        begin = time.perf_counter()
        status, _ = client.post(path, body)
        latencies.append(time.perf_counter() - begin)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            events_sent += batch_size
    return latencies, statuses, events_sent, time.perf_counter() - started


def run_load(port, keys, units, *, phase, concurrency, duration, batch_size=1, rate=None):
    path = "/api/integration/device-data" + ("/batch" if batch_size > 1 else "")
    jobs = [
        (port, keys[i % len(keys)], path, i, phase, units, batch_size, duration, rate)
        for i in range(concurrency)
    ]
    with multiprocessing.get_context("fork").Pool(concurrency) as pool:
        results = pool.map(_closed_loop_worker, jobs)
    latencies = sorted(latency for result in results for latency in result[0])
    statuses = {}
    for result in results:
        for status, count in result[1].items():
            statuses[status] = statuses.get(status, 0) + count
    events = sum(result[2] for result in results)
    elapsed = max(result[3] for result in results)
    return {
        "concurrency": concurrency,
        "batch_size": batch_size,
        "events": events,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "events_per_second": round(events / elapsed, 1),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
    }


def _storm_worker(args):
    port, key, body, start_at, count = args
    results = []

    def post():
        client = Client(port, key)
        time.sleep(max(0.0, start_at - time.time()))
        try:
            status, raw = client.post("/api/integration/device-data", body)
            results.append((status, json.loads(raw).get("data", {}).get("isDuplicate")))
        except OSError as error:
            results.append((0, str(error)))

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def duplicate_storm(port, keys, units, database_url, posts: int, processes: int = 6):
    unit_sn, run_no = units[0]
    body = json.dumps(make_event(f"storm-{uuid.uuid4().hex}", unit_sn, run_no, 1)).encode()
    start_at = time.time() + 1.0
    share = [posts // processes + (1 if i < posts % processes else 0) for i in range(processes)]
    jobs = [(port, keys[i % len(keys)], body, start_at, n) for i, n in enumerate(share)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = [r for chunk in pool.map(_storm_worker, jobs) for r in chunk]
    elapsed = time.time() - start_at
    event_id = json.loads(body)["eventId"]
    import psycopg

    with psycopg.connect(database_url) as connection:
        records = connection.execute(
            "SELECT count(*) FROM integration_devicedatarecord WHERE event_id = %s", (event_id,)
        ).fetchone()[0]
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    duplicates = sum(1 for status, duplicate in results if status == 200 and duplicate is True)
    return {
        "posts": posts,
        "seconds": round(elapsed, 2),
        "duplicates": duplicates,
        "duplicates_per_second": round(duplicates / elapsed, 1),
        "records_afterwards": records,
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5") or s == "0"),
        "statuses": statuses,
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
        "events_per_second_before": before["events_per_second"],
        "events_per_second_after": after["events_per_second"],
    }


def ratio(ours, baseline) -> str:
    return f"{ours / baseline:.0%}" if baseline else "n/a"


def drift(figure: dict) -> str:
    return (
        f"  (before {figure['events_per_second_before']:.0f}, "
        f"after {figure['events_per_second_after']:.0f})"
    )


# Production's observability (multiprocess metrics, a JSON line per request at INFO)
# against none of it: counting off, only warnings logged.
OBSERVED = {"METRICS_ENABLED": "1", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}


UNOBSERVED = {"METRICS_ENABLED": "0", "LOG_LEVEL": "WARNING"}


def observability_cost(database_url, options, keys, units) -> dict:
    """Single posts (concurrency 8) with metrics and JSON logs on and off, two servers
    measured in turn (off, on, off, on), so both see the same machine."""
    import tempfile

    rates = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as directory:
        log_path = Path(directory) / "server.log"
        with log_path.open("w") as log:
            servers = {}
            try:
                for kind, environment in (("off", UNOBSERVED), ("on", OBSERVED)):
                    if kind == "on":
                        environment = {
                            **environment,
                            "PROMETHEUS_MULTIPROC_DIR": str(Path(directory) / "metrics"),
                        }
                        (Path(directory) / "metrics").mkdir()
                    port = free_port()
                    servers[kind] = (
                        start_server(
                            database_url, options.workers, options.threads, port, environment,
                            log if kind == "on" else subprocess.DEVNULL,
                        ),
                        port,
                    )  # fmt: skip
                for round_number in range(2):
                    for kind in ("off", "on"):
                        print(f"observability {kind}, round {round_number + 1} …", flush=True)
                        result = run_load(
                            servers[kind][1], keys, units, phase=f"o{kind}{round_number}",
                            concurrency=8, duration=options.duration,
                        )  # fmt: skip
                        rates[kind].append(result["events_per_second"])
            finally:
                for server, _port in servers.values():
                    stop_server(server)
        lines = log_path.read_text().count("\n")
    off, on = (sum(rates[kind]) / len(rates[kind]) for kind in ("off", "on"))
    return {
        "off_events_per_second": round(off, 1),
        "on_events_per_second": round(on, 1),
        "ratio": round(on / off, 3) if off else None,
        "rounds": rates,
        "log_lines_written": lines,
    }


def report(results: dict) -> str:
    lines = []
    out = lines.append
    setup = results["setup"]
    out(
        f"Ingestion benchmark — {setup['cpu_count']} cores, PostgreSQL {setup['postgresql']}, "
        f"gunicorn {setup['workers']} workers × {setup['threads']} threads, "
        f"{VALUES_PER_EVENT} values per event, {setup['units']} units, "
        f"{setup['duration']} s per figure"
    )
    out("")
    out(
        f"{'figure':<44} {'events/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'÷ baseline':>11}"
    )
    base_single = results["baseline"]["single"]["events_per_second"]
    for run in results["single"]:
        out(
            f"{'single POST, concurrency ' + str(run['concurrency']):<44} "
            f"{run['events_per_second']:>10.1f} {run['p50_ms']:>8} {run['p95_ms']:>8} "
            f"{run['p99_ms']:>8} {ratio(run['events_per_second'], base_single):>11}"
        )
    half = results["half_load"]
    out(
        f"{'single POST at half the best rate (open loop)':<44} {half['events_per_second']:>10.1f} "
        f"{half['p50_ms']:>8} {half['p95_ms']:>8} {half['p99_ms']:>8} {'':>11}"
    )
    for run in results["batch"]:
        base = results["baseline"]["copy"][str(run["batch_size"])]["events_per_second"]
        label = f"batch POST of {run['batch_size']}, concurrency {run['concurrency']}"
        out(
            f"{label:<44} "
            f"{run['events_per_second']:>10.1f} {run['p50_ms']:>8} {run['p95_ms']:>8} "
            f"{run['p99_ms']:>8} {ratio(run['events_per_second'], base):>11}"
        )
    storm = results["storm"]
    out(
        f"{'duplicate storm, ' + str(storm['posts']) + ' posts of one eventId':<44} "
        f"{storm['duplicates_per_second']:>10.1f}   duplicates/s; records afterwards: "
        f"{storm['records_afterwards']}, 5xx: {storm['server_errors']}"
    )
    out("")
    out("baseline (psycopg, same database, no web stack; mean of the runs before and after ours)")
    single = results["baseline"]["single"]
    out(
        f"{'one transaction per event, ' + str(single['processes']) + ' processes':<44} "
        f"{single['events_per_second']:>10.1f} {single['p50_ms']:>8} {'':>8} {single['p99_ms']:>8}"
        f"{'':>12}{drift(single)}"
    )
    for size, copy in results["baseline"]["copy"].items():
        out(
            f"{'COPY batches of ' + size + ', ' + str(copy['processes']) + ' processes':<44} "
            f"{copy['events_per_second']:>10.1f}{'':>39}{drift(copy)}"
        )
    best = max(results["single"], key=lambda run: run["events_per_second"])
    out("")
    out(
        f"best single: {best['events_per_second']:.0f} events/s at concurrency "
        f"{best['concurrency']} = {ratio(best['events_per_second'], base_single)} of the baseline "
        f"(target ≥ 25%); p99 at half load {half['p99_ms']} ms (target < 50 ms)"
    )
    best_batch = max(results["batch"], key=lambda run: run["events_per_second"])
    base = results["baseline"]["copy"][str(best_batch["batch_size"])]["events_per_second"]
    out(
        f"best batch: {best_batch['events_per_second']:.0f} events/s (batches of "
        f"{best_batch['batch_size']}) = {ratio(best_batch['events_per_second'], base)} of COPY "
        f"(target ≥ 50%)"
    )
    if "mqtt" in results:
        lines += bench_mqtt.report_lines(results["mqtt"], results["baseline"]["copy"])
    if "cfx" in results:
        lines += bench_cfx.report_lines(results["cfx"], results["baseline"]["copy"])
    observed = results.get("observability")
    if observed:
        out(
            f"metrics and JSON logs: {observed['on_events_per_second']:.0f} events/s on, "
            f"{observed['off_events_per_second']:.0f} off (single posts, concurrency 8, "
            f"two rounds each) = {observed['ratio']:.1%} (target ≥ 97%); "
            f"{observed['log_lines_written']} log lines"
        )
    out(
        "Throttle raised for the run (GATEWAY_THROTTLE_RATE=100000000/min); "
        f"{setup['gateways']} gateway keys, one per client process in turn."
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser, "BENCH_DATABASE_URL", "mes_bench", workers=os.cpu_count() or 2)
    parser.add_argument("--concurrency", default="1,4,8,16", help="single-POST client counts")
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        help="batch clients, and COPY processes of the baseline (default: 2 per worker)",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per figure")
    parser.add_argument("--storm", type=int, default=300, help="posts in the duplicate storm")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--units-per-run", type=int, default=1000)
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "ingest.json"))
    parser.add_argument(
        "--mqtt-publishers", type=int, default=4, help="MQTT publisher processes (0: no MQTT)"
    )
    parser.add_argument(
        "--cfx-panels", type=int, default=3000, help="CFX panels of 4 units (0: no CFX)"
    )
    options = parser.parse_args()
    options.batch_concurrency = options.batch_concurrency or 2 * options.workers

    name = options.database_url.rsplit("/", 1)[1]
    database_url = create_database(options.database_url, name)
    print(f"Seeding {options.runs} runs × {options.units_per_run} units into {name} …", flush=True)
    seeded = seed(database_url, options.runs, options.units_per_run, options.gateways)
    units, keys = [tuple(unit) for unit in seeded["units"]], seeded["keys"]
    port = free_port()
    server = start_server(database_url, options.workers, options.threads, port)
    import psycopg

    with psycopg.connect(database_url) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    results = {
        "setup": {
            "date": datetime.now(UTC).isoformat(),
            "cpu_count": os.cpu_count(),
            "postgresql": version,
            "workers": options.workers,
            "threads": options.threads,
            "units": len(units),
            "duration": options.duration,
            "gateways": len(keys),
            "throttle": "raised to 100000000/min for the run",
        }
    }
    try:
        duration = options.duration
        # The baseline runs just before and just after each of our figures (the
        # server idle meanwhile), and counts as their mean: this machine's speed
        # drifts within minutes, and both sides of a ratio should see the same.
        print("baseline: one transaction per event …", flush=True)
        single_before = baseline_single(database_url, options.workers, duration)
        single = []
        for concurrency in [int(c) for c in options.concurrency.split(",")]:
            print(f"single POSTs, concurrency {concurrency} …", flush=True)
            single.append(
                run_load(port, keys, units, phase=f"s{concurrency}", concurrency=concurrency,
                         duration=duration)
            )  # fmt: skip
        results["single"] = single
        print("baseline: one transaction per event …", flush=True)
        single_after = baseline_single(database_url, options.workers, duration)
        results["baseline"] = {"single": mean_of(single_before, single_after), "copy": {}}
        best = max(single, key=lambda run: run["events_per_second"])
        half_rate = best["events_per_second"] / 2
        clients = max(2, best["concurrency"])
        print(f"open loop at {half_rate:.0f} events/s …", flush=True)
        results["half_load"] = run_load(
            port, keys, units, phase="half", concurrency=clients, duration=duration,
            rate=half_rate / clients,
        )  # fmt: skip
        results["batch"] = []
        for size in (100, 500):
            print(f"baseline: COPY batches of {size} …", flush=True)
            before = baseline_batch(database_url, options.batch_concurrency, duration, size)
            print(f"batch POSTs of {size} …", flush=True)
            results["batch"].append(
                run_load(port, keys, units, phase=f"b{size}",
                         concurrency=options.batch_concurrency, duration=duration, batch_size=size)
            )  # fmt: skip
            print(f"baseline: COPY batches of {size} …", flush=True)
            after = baseline_batch(database_url, options.batch_concurrency, duration, size)
            results["baseline"]["copy"][str(size)] = mean_of(before, after)
        print(f"duplicate storm of {options.storm} …", flush=True)
        results["storm"] = duplicate_storm(port, keys, units, database_url, options.storm)
    finally:
        stop_server(server)
    results["observability"] = observability_cost(database_url, options, keys, units)
    if options.mqtt_publishers and bench_mqtt.available():
        print(f"MQTT: {options.mqtt_publishers} publishers, two consumers …", flush=True)
        results["mqtt"] = bench_mqtt.mqtt_section(
            server_environment(database_url), units, options.gateways,
            publishers=options.mqtt_publishers, duration=options.duration,
        )  # fmt: skip
    if options.cfx_panels and bench_cfx.available():
        print(f"IPC-CFX: {options.cfx_panels} panels of 4 units, two consumers …", flush=True)
        results["cfx"] = bench_cfx.cfx_section(
            server_environment(database_url), units, panels=options.cfx_panels
        )
    if not options.keep_database:
        drop_database(options.database_url, name)
    table = report(results)
    print()
    print(table)
    output = Path(options.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    results["table"] = table.splitlines()
    output.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {output}")


if __name__ == "__main__":
    main()
