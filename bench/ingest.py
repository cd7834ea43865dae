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

Each part is a section (bench/sections.py): its figures printed as they are measured and
kept in the JSON, written after every section; a section whose broker is missing or
misconfigured is skipped with the reason, one that fails is reported and the others still
run, and the exit code is 1 if any failed. At the end, a table with each figure and
ours ÷ baseline, and every section's state.
Each client process sends with its own gateway key, and the server's throttle is
raised for the run (GATEWAY_THROTTLE_RATE), so the figures measure ingestion.
Only 127.0.0.1 is contacted; every loop is bounded in time.
"""

import argparse
import os
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cfx as bench_cfx  # noqa: E402  (after the path is set)
from bench import ids  # noqa: E402
from bench import mqtt as bench_mqtt  # noqa: E402
from bench.baseline import baseline_batch, baseline_single, mean_of  # noqa: E402
from bench.cpu import measured, postmaster_of  # noqa: E402
from bench.harness import (  # noqa: E402
    ROOT,
    create_database,
    drop_database,
    free_port,
    seed,
    server_arguments,
    server_environment,
    start_server,
    stop_server,
)
from bench.ingest_report import report  # noqa: E402
from bench.load import duplicate_storm, run_load  # noqa: E402
from bench.sections import Sections, show  # noqa: E402

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


def parse_options():
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
    parser.add_argument("--cfx-url", default=bench_cfx.AMQP_URL, help="the AMQP 1.0 broker")
    options = parser.parse_args()
    options.batch_concurrency = options.batch_concurrency or 2 * options.workers
    return options


class Line:
    """The bench database, its seeded line and the gunicorn serving it, set up by the first
    section and shared by the others; the server started when a section first needs it."""

    def __init__(self, options):
        self.options = options
        self.name = options.database_url.rsplit("/", 1)[1]
        self.database_url, self.units, self.keys, self.postmaster = None, [], [], None
        self.server, self.port, self.server_error = None, None, None

    def set_up(self, results: dict) -> None:
        options = self.options
        self.database_url = create_database(options.database_url, self.name)
        print(f"Seeding {options.runs} runs × {options.units_per_run} units into {self.name} …",
              flush=True)  # fmt: skip
        seeded = seed(self.database_url, options.runs, options.units_per_run, options.gateways)
        self.units, self.keys = [tuple(unit) for unit in seeded["units"]], seeded["keys"]
        import psycopg

        with psycopg.connect(self.database_url) as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
        results["setup"].update(postgresql=version, units=len(self.units), gateways=len(self.keys))
        self.postmaster = postmaster_of(self.database_url)

    def ours(self, measure, *args, **kwargs) -> dict:
        """A figure of the server's, with the CPU its workers and PostgreSQL spent on it."""
        return measured(self.postmaster, [self.server.pid], measure, *args, **kwargs)

    def baseline(self, measure, *args) -> dict:
        """A baseline figure, with the CPU its clients and PostgreSQL spent on it."""
        return measured(self.postmaster, [], measure, *args)

    def serve(self) -> int:
        """The server's port, starting it on first use; a start that failed fails every
        section that needs it, with the same error."""
        if self.server_error is not None:
            raise RuntimeError(f"gunicorn did not start: {self.server_error}")
        if self.server is None:
            port = free_port()
            try:
                self.server = start_server(
                    self.database_url, self.options.workers, self.options.threads, port
                )
            except (Exception, SystemExit) as error:
                self.server_error = f"{type(error).__name__}: {error}"
                raise
            self.port = port
        return self.port

    def stop(self) -> None:
        if self.server is not None:
            stop_server(self.server)
            self.server = None


def single_section(line: Line, results: dict) -> None:
    """Single POSTs at each concurrency between two baseline runs, then at half the best
    rate; each figure printed and kept as it is measured."""
    options, port = line.options, line.serve()
    # The baseline runs just before and just after each of our figures (the server idle
    # meanwhile), and counts as their mean: this machine's speed drifts within minutes, and
    # both sides of a ratio should see the same.
    print("baseline: one transaction per event, before …", flush=True)
    before = show(
        line.baseline(baseline_single, line.database_url, options.workers, options.duration)
    )
    single = results["single"] = []
    for concurrency in [int(c) for c in options.concurrency.split(",")]:
        print(f"single POSTs, concurrency {concurrency} …", flush=True)
        single.append(
            show(line.ours(run_load, port, line.keys, line.units, phase=f"s{concurrency}",
                           concurrency=concurrency, duration=options.duration))
        )  # fmt: skip
    print("baseline: one transaction per event, after …", flush=True)
    after = show(
        line.baseline(baseline_single, line.database_url, options.workers, options.duration)
    )
    results.setdefault("baseline", {})["single"] = mean_of(before, after)
    best = max(single, key=lambda run: run["events_per_second"])
    half_rate = best["events_per_second"] / 2
    clients = max(2, best["concurrency"])
    print(f"open loop at {half_rate:.0f} events/s …", flush=True)
    results["half_load"] = show(
        run_load(port, line.keys, line.units, phase="half", concurrency=clients,
                 duration=options.duration, rate=half_rate / clients)
    )  # fmt: skip


def batch_section(line: Line, results: dict) -> None:
    """Batch POSTs of 100 and 500, each between two COPY baseline runs of the same size."""
    options, port = line.options, line.serve()
    copies = results.setdefault("baseline", {}).setdefault("copy", {})
    batches = results["batch"] = []
    for size in (100, 500):
        print(f"baseline: COPY batches of {size}, before …", flush=True)
        before = show(line.baseline(
            baseline_batch, line.database_url, options.batch_concurrency, options.duration, size
        ))  # fmt: skip
        print(f"batch POSTs of {size} …", flush=True)
        batches.append(
            show(line.ours(
                run_load, port, line.keys, line.units, phase=f"b{size}",
                concurrency=options.batch_concurrency, duration=options.duration, batch_size=size
            ))
        )  # fmt: skip
        print(f"baseline: COPY batches of {size}, after …", flush=True)
        after = show(line.baseline(
            baseline_batch, line.database_url, options.batch_concurrency, options.duration, size
        ))  # fmt: skip
        copies[str(size)] = mean_of(before, after)


def storm_section(line: Line, results: dict) -> None:
    print(f"duplicate storm of {line.options.storm} …", flush=True)
    results["storm"] = show(
        duplicate_storm(line.serve(), line.keys, line.units, line.database_url, line.options.storm)
    )


def mqtt_unavailable(options) -> str | None:
    if not options.mqtt_publishers:
        return "--mqtt-publishers 0"
    return bench_mqtt.unavailable()


def cfx_unavailable(options) -> str | None:
    if not options.cfx_panels:
        return "--cfx-panels 0"
    return bench_cfx.unavailable(options.cfx_url)


def main():
    options = parse_options()
    results = {
        "setup": {
            "date": datetime.now(UTC).isoformat(),
            "run_id": ids.run_id(),
            "cpu_count": os.cpu_count(),
            "workers": options.workers,
            "threads": options.threads,
            "duration": options.duration,
            "gateways": options.gateways,
            "throttle": "raised to 100000000/min for the run",
        }
    }
    output = Path(options.output)
    sections = Sections(results, output)
    line = Line(options)
    run = sections.run
    try:
        run("setup", lambda: line.set_up(results))
        setup = ("setup",)
        try:
            run("REST single", lambda: single_section(line, results), needs=setup)
            run("REST batch", lambda: batch_section(line, results), needs=setup)
            run("duplicate storm", lambda: storm_section(line, results), needs=setup)
        finally:
            line.stop()
        run("observability", lambda: observability_section(line, results), needs=setup)
        run(
            "MQTT",
            lambda: bench_mqtt.mqtt_section(
                server_environment(line.database_url), line.units, options.gateways,
                publishers=options.mqtt_publishers, duration=options.duration,
                figures=results.setdefault("mqtt", {}), postmaster=line.postmaster,
            ),
            needs=setup, check=lambda: mqtt_unavailable(options),
        )  # fmt: skip
        run("CFX", lambda: cfx(line, results), needs=setup, check=lambda: cfx_unavailable(options))
    finally:
        try:
            if line.database_url and not options.keep_database:
                drop_database(options.database_url, line.name)
        finally:
            finish(results, sections, output)
    sys.exit(sections.exit_code())


def observability_section(line: Line, results: dict) -> None:
    cost = observability_cost(line.database_url, line.options, line.keys, line.units)
    results["observability"] = show(cost)


def cfx(line: Line, results: dict) -> None:
    panels = line.options.cfx_panels
    print(f"IPC-CFX: {panels} panels of 4 units, two consumers …", flush=True)
    results["cfx"] = show(
        bench_cfx.cfx_section(
            server_environment(line.database_url),
            line.units,
            panels=panels,
            postmaster=line.postmaster,
            url=line.options.cfx_url,
        )  # fmt: skip
    )


def finish(results: dict, sections: Sections, output: Path) -> None:
    """The table of what was measured, the sections' states, and the JSON file."""
    try:
        table = report(results)
    except Exception:  # the figures are printed and kept already: say so, do not lose them
        traceback.print_exc(file=sys.stderr)
        table = "(no table: its report failed; the figures are above and in the JSON)"
    print()
    print(table)
    print()
    print(sections.summary())
    results["table"] = table.splitlines()
    sections.save()
    print(f"\nJSON: {output}", flush=True)


if __name__ == "__main__":
    main()
