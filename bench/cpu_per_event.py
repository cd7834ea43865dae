"""Events/s and CPU per event of single posts, for comparing two versions head to head.

    .venv/bin/python bench/cpu_per_event.py [--checkout DIR] [--concurrency 16]

Serves the code of a checkout (this one by default) with gunicorn (2 workers ×
8 threads) on a fresh, seeded PostgreSQL database, sends single posts at one
concurrency for a while, and prints events/s with the CPU seconds per event of
the gunicorn workers and of PostgreSQL, the transactions per event and the gateway key
lookups per event (index scans of the key table). PostgreSQL's counters are read with
the server idle for `--settle` seconds first (its sessions report them at most every
10 s when idle, so an early reading misses some). Run it
against two checkouts alternately: this machine's speed drifts within minutes,
so one pair of runs says little and several pairs say more. Only 127.0.0.1 is
contacted; every loop is bounded in time.

The checkout's code is imported from its folder, but with this project installed in
editable mode a module the checkout lacks is taken from the installed one: give a
checkout from before `mes/apps.py` existed (before 2026-11-30) a stub `mes/apps.py`
(an AppConfig named "mes") so that it runs its own code only.
"""

import argparse
import http.client
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pids) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().startswith("postgres"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _get_loop(job) -> int:
    """GET `path` on one keep-alive connection for `seconds`; how many answered 200."""
    port, path, key, seconds = job
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {key}"}
    answered, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        answered += 1
    return answered


def measure_floor(port: int, key: str, workers: list[int], concurrency: int, seconds: float):
    """Gunicorn CPU per request of two requests that write nothing (see the docstring)."""
    for path in ("/healthz", "/api/integration/whoami"):
        jobs = [(port, path, key, seconds)] * concurrency
        before = cpu_seconds(workers)
        with multiprocessing.get_context("fork").Pool(concurrency) as pool:
            answered = sum(pool.map(_get_loop, jobs))
        spent = cpu_seconds(workers) - before
        print(
            f"floor GET {path}: {answered / seconds:.0f} requests/s, "
            f"gunicorn {spent / answered * 1000:.2f} ms CPU/request"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=str(ROOT), help="the code to serve")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/mes_cpu_per_event"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--settle", type=float, default=11.0, help="idle seconds before each counter reading"
    )
    parser.add_argument(
        "--floor", action="store_true", help="first measure GET /healthz and whoami"
    )
    options = parser.parse_args()

    checkout = Path(options.checkout).resolve()
    sys.path.insert(0, str(checkout))
    os.chdir(checkout)  # gunicorn and the seed import the checkout's code
    import psycopg

    import bench.ingest as bench  # the checkout's own benchmark helpers

    name = options.database_url.rsplit("/", 1)[1]
    url = bench.create_database(options.database_url, name)
    server = None
    try:
        seeded = bench.seed(url, 2, 500, 4)
        port = bench.free_port()
        server = bench.start_server(url, 2, 8, port)
        workers = [
            int(pid)
            for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        ]
        load = dict(concurrency=options.concurrency)
        if options.floor:
            measure_floor(port, seeded["keys"][0], workers, options.concurrency, 8)
        bench.run_load(port, seeded["keys"], seeded["units"], phase="warm", duration=3, **load)

        def transactions() -> tuple[int, int]:
            time.sleep(options.settle)
            with psycopg.connect(url, autocommit=True) as session:
                return session.execute(
                    "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()), (SELECT coalesce(idx_scan, 0) "
                    "FROM pg_stat_user_tables WHERE relname = 'integration_gatewaykey')"
                ).fetchone()

        postgres = postgres_pids()
        counted = transactions()
        before = cpu_seconds(workers), cpu_seconds(postgres)
        result = bench.run_load(
            port, seeded["keys"], seeded["units"], phase="measured",
            duration=options.duration, **load,
        )  # fmt: skip
        after = cpu_seconds(workers), cpu_seconds(postgres)
        counted = [later - earlier for earlier, later in zip(counted, transactions(), strict=True)]
        events = result["events"]
        print(
            f"{checkout.name}: {events} events, {result['events_per_second']} events/s, "
            f"gunicorn {(after[0] - before[0]) / events * 1000:.2f} ms CPU/event, "
            f"PostgreSQL {(after[1] - before[1]) / events * 1000:.2f} ms CPU/event, "
            f"{counted[0] / events:.2f} transactions/event, "
            f"{counted[1] / events:.3f} key lookups/event"
        )
    finally:
        if server is not None:
            bench.stop_server(server)
        bench.drop_database(options.database_url, name)


if __name__ == "__main__":
    main()
