"""The IPC-CFX section of `make bench` (bench/ingest.py): a reflow oven's UnitsProcessed.

Panels of 4 units (each unit: a peak temperature with the oven's own limits; the panel:
a conveyor speed) are published to a RabbitMQ queue of their own over AMQP 1.0, then
two `manage.py consume_cfx` (as the MQTT section runs two consumers) are started against
the bench database until every unit result is written: unit results per second from the
first record written to the last (the steady rate, as the MQTT drain measures it), and
from the consumers' start, beside the COPY baseline of the same run. Needs RabbitMQ with
rabbitmq_amqp1_0 on 127.0.0.1:5672: `unavailable()` opens a short AMQP 1.0 connection
first, and says why when there is none (nothing listens, or a broker that speaks only
AMQP 0-9-1), so the section is skipped with that reason.

Alone: `.venv/bin/python bench/cfx.py [--panels 3000]` (its own database, seeded and
dropped; prints the figure without a COPY baseline).
"""

import argparse
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ids  # noqa: E402  (after the path is set)
from bench.cpu import CpuMeter, postmaster_of  # noqa: E402

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"
HANDLE = "Bench.Reflow.BENCH-REFLOW"
PANEL = 4

SETUP = """
from execution.models import Station
from integration.gateways.keys import create_gateway
from integration.models import CfxReadingName
Station.objects.filter(code="BENCH-REFLOW").update(cfx_handle={handle!r})
CfxReadingName.objects.get_or_create(reading_name="PeakTemperature", defaults={{"spec_name": "Peak Temperature"}})
CfxReadingName.objects.get_or_create(reading_name="ConveyorSpeed", defaults={{"spec_name": "Conveyor Speed"}})
create_gateway("gw-cfx")
"""  # noqa: E501


def unavailable(url: str = AMQP_URL, timeout: float = 5.0) -> str | None:
    """Why the CFX section cannot run here, None when it can: a TCP connection, then an
    AMQP 1.0 connection opened and closed as the consumer opens it, each within `timeout`."""
    from proton.utils import BlockingConnection

    from integration.transports.cfx.config import CfxConfig

    config = CfxConfig.from_environment({"CFX_AMQP_URL": url})
    where = f"{config.host}:{config.port}"
    try:
        with socket.create_connection((config.host, config.port), timeout=timeout):
            pass
    except OSError as error:
        return f"nothing listens for AMQP on {where} ({error})"
    options = {"allowed_mechs": "PLAIN"} if config.username else {}
    if config.username:
        options.update(user=config.username, password=config.password)
    try:
        BlockingConnection(config.url, timeout=timeout, **options).close()
    except Exception as error:  # proton's ConnectionException or Timeout, whatever the cause
        return (
            f"no AMQP 1.0 connection to {where} (RabbitMQ needs its plugin: "
            f"rabbitmq-plugins enable rabbitmq_amqp1_0): {type(error).__name__}: {error}"
        )
    return None


def _progress(connection, prefix: str) -> tuple[int, float]:
    """The bench's records so far, and the seconds from the first to the last written."""
    count, seconds = connection.execute(
        "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) "
        "FROM integration_devicedatarecord WHERE event_id LIKE %s",
        [f"cfx-{prefix}-%"],
    ).fetchone()
    return count, float(seconds or 0)


def cfx_section(
    environment: dict,
    units: list,
    *,
    panels: int,
    postmaster: int,
    consumers: int = 2,
    url: str = AMQP_URL,
) -> dict:
    """Publish `panels` panels of 4 units, then time `consumers` consumers draining them."""
    import psycopg

    from integration.transports.cfx.config import CfxConfig
    from integration.transports.cfx.publisher import CfxPublisher, reflow_panel

    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP.format(handle=HANDLE)],
        cwd=ROOT, env=environment, check=True, capture_output=True,
    )  # fmt: skip
    queue = ids.new_part("cfx-bench")
    config = CfxConfig.from_environment(
        {"CFX_AMQP_URL": url, "CFX_AMQP_ADDRESS": f"/queue/{queue}"}
    )
    prefix = ids.new_part("bench")
    rng = random.Random(7)
    publisher = CfxPublisher(config)
    for n in range(panels):
        unit_sns = [units[(n * PANEL + k) % len(units)][0] for k in range(PANEL)]
        publisher.publish(reflow_panel(HANDLE, unit_sns, rng, unique_id=f"{prefix}-{n:06d}"))
    publisher.close()
    expected = panels * PANEL
    with tempfile.TemporaryDirectory() as directory:
        logs = [Path(directory) / f"consume-cfx-{n}.log" for n in range(consumers)]
        processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "consume_cfx"],
                cwd=ROOT,
                env={
                    **environment,
                    "CFX_AMQP_URL": url,
                    "CFX_AMQP_ADDRESS": config.address,
                    "LOG_LEVEL": "INFO",
                },
                stdout=open(log, "w"),  # noqa: SIM115 (the child keeps it)
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            for log in logs
        ]
        try:
            for process, log in zip(processes, logs, strict=True):
                while "CFX consumer reads" not in log.read_text():
                    if process.poll() is not None:
                        raise SystemExit(f"consume_cfx did not start:\n{log.read_text()}")
                    time.sleep(0.02)
            started = time.perf_counter()
            written, steady = 0, 0.0
            deadline = started + 600
            # One connection, polled four times a second: a connection a poll (a new
            # server process each) took CPU from the consumers being measured.
            with psycopg.connect(environment["DATABASE_URL"], autocommit=True) as connection:
                # The consumers' CPU from here (reading: their start-up left out) on.
                meter = CpuMeter(postmaster, [process.pid for process in processes]).start()
                written_at_start = _progress(connection, prefix)[0]
                while written < expected and time.perf_counter() < deadline:
                    time.sleep(0.25)
                    written, steady = _progress(connection, prefix)
                meter.stop()
            elapsed = time.perf_counter() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        stopped = [
            line for log in logs for line in log.read_text().splitlines() if "stopped:" in line
        ]
    if shutil.which("rabbitmqctl"):  # the queue is empty: left behind if it cannot go
        subprocess.run(["rabbitmqctl", "delete_queue", queue], capture_output=True, timeout=60)
    return {
        "panels": panels,
        "consumers": consumers,
        "units": written,
        "seconds": round(elapsed, 2),
        # First to last record written, as the MQTT drain: the steady rate.
        "units_per_second": round(written / steady, 1) if steady else 0.0,
        # From the consumers' start (connected, reading) to the last poll's count.
        "from_start_units_per_second": round(written / elapsed, 1),
        "consumer": stopped,
        "cpu": meter.per_event(written - written_at_start),
    }


def report_lines(figures: dict, copy_baseline: dict) -> list[str]:
    """The CFX rows of the bench table, beside the COPY baseline of the same run."""
    rate = figures["units_per_second"]
    lines = [
        "",
        f"IPC-CFX (RabbitMQ AMQP 1.0, {figures['consumers']} consume_cfx, UnitsProcessed "
        f"panels of {PANEL} units, "
        f"{figures['units']} unit results drained in {figures['seconds']} s)",
        f"{'CFX unit results/s, first to last written':<44} {rate:>10.1f}",
        f"{'  from the consumers start, polled':<44} "
        f"{figures.get('from_start_units_per_second', 0):>10.1f}",
    ]
    for size, copy in copy_baseline.items():
        share = rate / copy["events_per_second"]
        label = f"  CFX ÷ COPY batches of {size} (same run)"
        lines.append(f"{label:<44} {copy['events_per_second']:>10.1f}{'':>27} {share:>11.0%}")
    lines.append(f"CFX target: ≥ 2000 unit results/s (got {rate:.0f})")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/mes_bench_cfx"
    )
    parser.add_argument("--panels", type=int, default=3000)
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--consumers", type=int, default=2)
    options = parser.parse_args()
    reason = unavailable()
    if reason:
        raise SystemExit(f"CFX cannot run here: {reason}")
    from bench.harness import create_database, drop_database, seed, server_environment

    name = options.database_url.rsplit("/", 1)[1]
    database_url = create_database(options.database_url, name)
    try:
        seeded = seed(database_url, 1, options.units, 1)
        units = [tuple(unit) for unit in seeded["units"]]
        figures = cfx_section(
            server_environment(database_url), units, panels=options.panels,
            consumers=options.consumers, postmaster=postmaster_of(database_url),
        )  # fmt: skip
        print("\n".join(report_lines(figures, {})))
        print("\n".join(figures["consumer"]))
    finally:
        drop_database(options.database_url, name)


if __name__ == "__main__":
    main()
