"""The MQTT section of `make bench` (bench/ingest.py): gateways publishing over MQTT.

A Mosquitto of its own (tests/mqtt_broker.py) and two `manage.py consume_mqtt`
processes against the bench database; several publisher processes, each a
gateway, publish single-event messages (QoS 1) with MQTT 5 request/response and
time each answer. Measured: events/s written at full speed (answers 200 per
second: a message is answered only after its event is committed), and the
publish→answer latency p50/p95/p99 at half that rate (open loop).
"""

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = "/usr/sbin/mosquitto"


def available() -> bool:
    """Whether this machine can run the MQTT section (Debian's mosquitto installed)."""
    return os.access(MOSQUITTO, os.X_OK)


def _publisher(args):
    """Publish single events until the deadline, at most `window` awaiting their answer;
    returns (latencies, answers by status, seconds)."""
    from bench.ingest import make_event
    from integration.mqtt.config import MqttConfig
    from integration.mqtt.gateway_client import GatewayConnection

    port, name, worker, phase, units, duration, rate, window = args
    connection = GatewayConnection(MqttConfig(host="127.0.0.1", port=port), name, None)
    pending, latencies, statuses = deque(), [], {}

    def collect():
        try:
            status, _body, latency = connection.answer_of(pending.popleft())
        except TimeoutError:
            status, latency = "timeout", None
        statuses[status] = statuses.get(status, 0) + 1
        if latency is not None:
            latencies.append(latency)

    started, cpu_started = time.perf_counter(), time.process_time()
    deadline, n = started + duration, 0
    while time.perf_counter() < deadline:
        if rate:  # open loop: a fixed schedule per publisher
            pause = started + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        while len(pending) >= window:
            collect()
        unit_sn, run_no = units[(worker * 7919 + n) % len(units)]
        pending.append(connection.send(make_event(f"{phase}-{worker}-{n}", unit_sn, run_no, n)))
        n += 1
    while pending:
        collect()
    elapsed = time.perf_counter() - started
    connection.close()
    return latencies, statuses, elapsed, time.process_time() - cpu_started


def _load(port, names, units, *, phase, publishers, duration, rate=None, window=200) -> dict:
    from bench.ingest import percentile

    jobs = [
        (port, names[i % len(names)], i, phase, units, duration, rate, window)
        for i in range(publishers)
    ]
    with multiprocessing.get_context("fork").Pool(publishers) as pool:
        results = pool.map(_publisher, jobs)
    latencies = sorted(latency for result in results for latency in result[0])
    statuses = {}
    for result in results:
        for status, count in result[1].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    elapsed = max(result[2] for result in results)
    written = statuses.get("200", 0)
    answered = sum(statuses.values())
    return {
        "publishers": publishers,
        "events": written,
        "seconds": round(elapsed, 2),
        "events_per_second": round(written / elapsed, 1),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "statuses": statuses,
        # What the simulated gateways cost this machine: on a plant they run elsewhere.
        "publisher_cpu_us_per_message": round(
            sum(result[3] for result in results) / max(answered, 1) * 1e6
        ),
    }


def _start_consumers(environment, broker, count, log_dir):
    consumers = []
    for n in range(count):
        log = open(Path(log_dir) / f"consumer-{n}.log", "w")  # noqa: SIM115 (closed at stop)
        process = subprocess.Popen(
            [sys.executable, "manage.py", "consume_mqtt", "--consumer-id", f"bench-{n}"],
            cwd=ROOT,
            env={**environment, "MQTT_URL": broker.url, "LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        consumers.append((process, log))
    deadline = time.monotonic() + 30
    for process, log in consumers:
        while "connected to" not in Path(log.name).read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"consume_mqtt did not connect:\n{Path(log.name).read_text()}")
            time.sleep(0.1)
    return consumers


def _stop_consumers(consumers) -> list[str]:
    lines = []
    for process, log in consumers:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        lines += [line for line in Path(log.name).read_text().splitlines() if "stopped:" in line]
    return lines


def mqtt_section(environment, units, gateways: int, *, publishers: int, duration: float) -> dict:
    """Full speed, then half that rate, with two consumers; the figures as a dict."""
    sys.path.insert(0, str(ROOT))
    from tests.mqtt_broker import Mosquitto, free_port

    names = [f"gw-bench-{n}" for n in range(gateways)]
    with tempfile.TemporaryDirectory() as directory:
        broker = Mosquitto(Path(directory), free_port(), False, False).start()
        consumers = _start_consumers(environment, broker, 2, directory)
        try:
            full = _load(broker.port, names, units, phase="m-full", publishers=publishers,
                         duration=duration)  # fmt: skip
            half_rate = full["events_per_second"] / 2
            half = _load(broker.port, names, units, phase="m-half", publishers=publishers,
                         duration=duration, rate=half_rate / publishers)  # fmt: skip
        finally:
            stopped = _stop_consumers(consumers)
            broker.stop()
    return {"consumers": 2, "full": full, "half_load": half, "consumer_counts": stopped}


def report_lines(figures: dict, copy_baseline: dict) -> list[str]:
    """The MQTT rows of the bench table, beside the COPY baseline of the same run."""
    full, half = figures["full"], figures["half_load"]
    lines = [
        "",
        f"MQTT (Mosquitto, {figures['consumers']} consumers, {full['publishers']} publisher "
        "processes, single-event messages, QoS 1, publish→answer)",
    ]
    for label, run in (("full speed", full), ("at half the full rate (open loop)", half)):
        lines.append(
            f"{'MQTT ' + label:<44} {run['events_per_second']:>10.1f} {run['p50_ms']:>8} "
            f"{run['p95_ms']:>8} {run['p99_ms']:>8}   answers {run['statuses']}"
        )
    for size, copy in copy_baseline.items():
        share = full["events_per_second"] / copy["events_per_second"]
        label = f"  MQTT ÷ COPY batches of {size} (same run)"
        lines.append(f"{label:<44} {copy['events_per_second']:>10.1f}{'':>27} {share:>11.0%}")
    lines.append(
        f"  the simulated gateways' own CPU, on this machine: "
        f"{full['publisher_cpu_us_per_message']} µs a message at full speed"
    )
    lines.append(
        f"MQTT targets: ≥ 3000 events/s with two consumers (got {full['events_per_second']:.0f}); "
        f"p99 < 100 ms at half that rate (got {half['p99_ms']} ms)"
    )
    return lines
