"""What every bench script and the tests that run real servers share: a PostgreSQL
database of their own, the seeded line, gunicorn started and stopped, events and
percentiles. Only 127.0.0.1 is contacted.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
VALUES_PER_EVENT = 3
SPEC_NAMES = ["Peak Temperature", "Conveyor Speed", "Time Above Liquidus"]
STATION, STEP_NO = "BENCH-REFLOW", 40


def admin_dsn(base_url: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/postgres"


def create_database(base_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_dsn(base_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn(base_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# One per run: sessions made by a seeding process must be valid for the server.
SECRET_KEY = "bench-" + uuid.uuid4().hex


def server_environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "GATEWAY_THROTTLE_RATE": "100000000/min",  # raised: the bench measures ingestion
        "GUNICORN_DRAIN_SECONDS": "0",  # no load balancer to wait for when it stops
        "LOG_LEVEL": "WARNING",
    }


def seed(database_url: str, runs: int, units_per_run: int, gateways: int) -> dict:
    """Migrate and seed in a child process; returns the units and gateway keys."""
    return _seed_in_child(database_url, f"seed_bench_line({runs}, {units_per_run}, {gateways})")


def seed_tracking(database_url: str, units: int, gateways: int) -> dict:
    """Migrate and seed the stations' line (bench/seed.py) in a child process; returns its
    run number, units and station gateways' keys."""
    return _seed_in_child(database_url, f"seed_tracking_line({units}, {gateways})")


def _seed_in_child(database_url: str, call: str) -> dict:
    script = f"""
import json, os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from bench.seed import seed_bench_line, seed_tracking_line
print(json.dumps({call}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script],
        env=server_environment(database_url),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def server_arguments(parser, url_variable: str, database: str, *, workers: int) -> None:
    """The options of a run against its own database and gunicorn: where, how many
    workers and threads, and whether to keep the database afterwards."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get(url_variable, f"postgres://postgres@127.0.0.1:5432/{database}"),
        help="PostgreSQL URL; the database named in it is dropped and created anew",
    )
    parser.add_argument("--workers", type=int, default=workers, help="gunicorn workers")
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="threads per gunicorn worker: concurrent single posts in one worker share a commit",
    )
    parser.add_argument("--keep-database", action="store_true")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    database_url: str, workers: int, threads: int, port: int, environment=None, log=None, root=ROOT
):
    """gunicorn serving the code of `root` (this checkout unless another is given)."""
    command = [
        str(VENV_BIN / "gunicorn"),
        "mes.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(
        command,
        env={**server_environment(database_url), **(environment or {})},
        cwd=root,
        start_new_session=True,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit("gunicorn did not become ready within 30 s")


def stop_server(server) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def make_event(event_id: str, unit_sn: str, run_no: str, n: int) -> dict:
    return {
        "eventId": event_id,
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "AUTO",
        "runNo": run_no,
        "unitSn": unit_sn,
        "stationCode": STATION,
        "stepNo": STEP_NO,
        "equipmentId": "OVEN-7",
        "data": [
            {"specName": "Peak Temperature", "valueNumber": 240 + n % 12},
            {"specName": "Conveyor Speed", "valueNumber": 78 + n % 5},
            {"specName": "Time Above Liquidus", "valueNumber": 60 + n % 20},
        ],
        "meta": {"bench": True},
    }


def percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)
