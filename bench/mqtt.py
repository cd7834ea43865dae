"""The MQTT section of `make bench` (bench/ingest.py): gateways publishing over MQTT.

A Mosquitto of its own (tests/mqtt_broker.py) and two `manage.py consume_mqtt`
processes against the bench database; several publisher processes, each a
gateway, publish single-event messages (QoS 1) with MQTT 5 request/response and
time each answer. Measured: events/s written at full speed (answers 200 per
second: a message is answered only after its event is committed), and the
publish→answer latency p50/p95/p99 at half that rate (open loop).

Those publishers run on this machine and take CPU the MES would have on a plant,
where gateways are other machines; so a third figure, the drain, measures the MES
alone: the events are published while the consumers are stopped (the broker keeps
them in the consumers' persistent sessions), then the consumers are started, and the
rate is the events over the time between the first and the last record written (the
steady rate: the consumers' start-up, about a second, is not in it).

Without Mosquitto (`unavailable()` says why), or when it does not start, the section is
skipped with the reason (bench/sections.py). Each figure is printed as it is measured.
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

import orjson

from bench import ids
from bench.cpu import CpuMeter
from bench.sections import Skipped, show

ROOT = Path(__file__).resolve().parent.parent
# As tests/mqtt_broker.py, which starts the broker.
MOSQUITTO = os.environ.get("MES_TEST_MOSQUITTO") or "/usr/sbin/mosquitto"


def unavailable(mosquitto: str = MOSQUITTO) -> str | None:
    """Why this machine cannot run the MQTT section (None when it can)."""
    if not os.access(mosquitto, os.X_OK):
        return f"Mosquitto is not installed ({mosquitto} missing; apt-get install mosquitto)"
    return None


def _publisher(args):
    """Publish single events until the deadline, at most `window` awaiting their answer;
    returns (latencies, answers by status, seconds)."""
    from bench.harness import make_event
    from integration.transports.mqtt.config import MqttConfig
    from integration.transports.mqtt.gateway_client import GatewayConnection

    port, name, worker, part, units, duration, rate, window = args
    # Publishers may share a gateway's name here (a broker without accounts): one id each.
    connection = GatewayConnection(
        MqttConfig(host="127.0.0.1", port=port), name, None, client_id=f"{name}-{worker}"
    )
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
        event = make_event(ids.event_id(part, worker, n), unit_sn, run_no, n)
        pending.append(connection.send(event))
        n += 1
    while pending:
        collect()
    elapsed = time.perf_counter() - started
    connection.close()
    return latencies, statuses, elapsed, time.process_time() - cpu_started


def _publish_only(args):
    """Publish `count` single events as fast as the broker takes them, answers unread."""
    from bench.harness import make_event
    from integration.transports.mqtt.config import MqttConfig
    from integration.transports.mqtt.gateway_client import GatewayConnection
    from integration.transports.mqtt.packed_properties import PackedPublishProperties
    from integration.transports.mqtt.topics import events_topic

    port, name, worker, part, units, count = args
    # Publishers may share a gateway's name here (a broker without accounts): one id each.
    connection = GatewayConnection(
        MqttConfig(host="127.0.0.1", port=port), name, None, client_id=f"{name}-{worker}"
    )
    client, topic = connection.client, events_topic(name)
    info = None
    for n in range(count):
        unit_sn, run_no = units[(worker * 7919 + n) % len(units)]
        event = make_event(ids.event_id(part, worker, n), unit_sn, run_no, n)
        properties = PackedPublishProperties(
            response_topic=connection.reply_topic, correlation_data=n.to_bytes(4, "big")
        )
        info = client.publish(topic, orjson.dumps(event), qos=1, properties=properties)
        while len(client._out_messages) > 500:  # noqa: SLF001 (paho has no public count)
            time.sleep(0.001)
    if info is not None:
        info.wait_for_publish(120)
    connection.close()
    return count


def _drain(environment, broker, directory, names, units, *, publishers, events, postmaster) -> dict:
    """Events queued at the broker while the consumers are stopped, then written: the
    rate between the first and the last record (the MES alone, no publisher running)."""
    import psycopg

    _stop_consumers(_start_consumers(environment, broker, 2, directory))  # the sessions
    part = ids.new_part("m-drain")
    jobs = [
        (broker.port, names[i % len(names)], i, part, units, events // publishers)
        for i in range(publishers)
    ]
    with multiprocessing.get_context("fork").Pool(publishers) as pool:
        published = sum(pool.map(_publish_only, jobs))
    consumers = _start_consumers(environment, broker, 2, directory)
    # The consumers' CPU from here (connected: their start-up left out) to their last write.
    meter = CpuMeter(postmaster, [process.pid for process, _ in consumers]).start()
    # Until every event is written, or none more for 15 s (refused or lost: the count says).
    stalled_since, last = time.monotonic(), -1
    with psycopg.connect(environment["DATABASE_URL"], autocommit=True) as connection:
        query = (
            "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) "
            "FROM integration_devicedatarecord WHERE event_id LIKE %s"
        )
        written_at_start = connection.execute(query, [part + "-%"]).fetchone()[0]
        while True:
            written, seconds = connection.execute(query, [part + "-%"]).fetchone()
            if written != last:
                stalled_since, last = time.monotonic(), written
            if written >= published or time.monotonic() - stalled_since > 15:
                break
            time.sleep(0.5)
    meter.stop()
    counts = _stop_consumers(consumers)
    seconds = float(seconds or 0)
    return {
        "events": written,
        "published": published,
        "seconds": round(seconds, 2),
        "events_per_second": round(written / seconds, 1) if seconds else 0.0,
        "consumer_counts": counts,
        "cpu": meter.per_event(written - written_at_start),
    }


def _load(port, names, units, *, phase, publishers, duration, rate=None, window=200) -> dict:
    from bench.harness import percentile

    part = ids.new_part(phase)
    jobs = [
        (port, names[i % len(names)], i, part, units, duration, rate, window)
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
            [sys.executable, "manage.py", "consume_mqtt", "--consumer-id", f"mes-bench-{n}"],
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


def mqtt_section(
    environment,
    units,
    gateways: int,
    *,
    publishers: int,
    duration: float,
    figures=None,
    postmaster: int,
) -> dict:
    """Full speed, then half that rate, with two consumers, then the drain: each figure
    printed and put in `figures` (returned) as it is measured."""
    sys.path.insert(0, str(ROOT))
    from tests.mqtt_broker import Mosquitto, free_port

    figures = {} if figures is None else figures
    figures["consumers"] = 2
    names = [f"gw-bench-{n}" for n in range(gateways)]
    with tempfile.TemporaryDirectory() as directory:
        try:
            broker = Mosquitto(Path(directory), free_port(), False, False).start()
        except RuntimeError as error:  # a broker that does not start here: a reason to skip
            raise Skipped(f"Mosquitto did not start: {error}") from error
        try:
            consumers = _start_consumers(environment, broker, 2, directory)
            try:
                print(f"MQTT full speed, {publishers} publishers …", flush=True)
                full = figures["full"] = show(
                    _load(broker.port, names, units, phase="m-full", publishers=publishers,
                          duration=duration)
                )  # fmt: skip
                half_rate = full["events_per_second"] / 2
                print(f"MQTT at half the full rate, {half_rate:.0f} events/s …", flush=True)
                figures["half_load"] = show(
                    _load(broker.port, names, units, phase="m-half", publishers=publishers,
                          duration=duration, rate=half_rate / publishers)
                )  # fmt: skip
            finally:
                figures["consumer_counts"] = _stop_consumers(consumers)
            # As many events as the full speed wrote in its time, at least 10,000.
            events = max(10_000, full["events"])
            print(f"MQTT drain of {events} events queued …", flush=True)
            figures["drain"] = show(
                _drain(environment, broker, directory, names, units, publishers=publishers,
                       events=events, postmaster=postmaster)
            )  # fmt: skip
        finally:
            broker.stop()
    return figures


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
    drain = figures.get("drain")
    if drain:
        lines.append(
            f"{'MQTT drain: the MES alone, events queued':<44} "
            f"{drain['events_per_second']:>10.1f}   {drain['events']} of {drain['published']} "
            f"written in {drain['seconds']} s"
        )
    for size, copy in copy_baseline.items():
        share = full["events_per_second"] / copy["events_per_second"]
        label = f"  MQTT ÷ COPY batches of {size} (same run)"
        shares = f"full speed {share:.0%}"
        if drain:
            shares += f", drain {drain['events_per_second'] / copy['events_per_second']:.0%}"
        lines.append(f"{label:<44} {copy['events_per_second']:>10.1f}   {shares}")
    lines.append(
        f"  the simulated gateways' own CPU, on this machine: "
        f"{full['publisher_cpu_us_per_message']} µs a message at full speed"
    )
    lines.append(
        f"MQTT targets: ≥ 3000 events/s with two consumers (got {full['events_per_second']:.0f}); "
        f"p99 < 100 ms at half that rate (got {half['p99_ms']} ms)"
    )
    return lines
