"""`make bench` (bench/ingest.py) runs to its end whatever one section does: a short real
run where one section fails (no client processes for single posts) and the CFX broker is
missing (a port where nothing listens) still measures, prints and keeps every other
figure, says why for each section, and exits 1 for the failure.

Figures are measured by `make bench`, never asserted here.
"""

import json
import os

import pytest

from tests.mqtt_broker import free_port
from tests.postgres import needs_postgresql, run_bench, url_of_database

pytestmark = [
    pytest.mark.slow,
    needs_postgresql("the ingestion benchmark serves a database of its own with gunicorn"),
]


def test_a_short_run_with_a_failing_section_and_no_broker_keeps_every_other_figure(tmp_path):
    output = tmp_path / "ingest.json"
    url = url_of_database(f"mes_ingest_bench_{os.getpid()}")
    amqp_port = free_port()
    result = run_bench(
        "bench/ingest.py", "--duration", "0.5", "--concurrency", "0", "--storm", "10",
        "--runs", "1", "--units-per-run", "50", "--workers", "1", "--threads", "2",
        "--batch-concurrency", "1", "--gateways", "1", "--mqtt-publishers", "0",
        "--cfx-panels", "5", "--cfx-url", f"amqp://guest:guest@127.0.0.1:{amqp_port}",
        "--database-url", url, "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 1, (result.stdout[-3000:], result.stderr[-3000:])
    failure = "failed: ValueError: Number of processes must be at least 1"
    assert f"REST single      {failure}" in result.stdout
    assert "Traceback" in result.stderr and "Number of processes" in result.stderr
    figures = json.loads(output.read_text())
    states = {name: section["state"] for name, section in figures["sections"].items()}
    assert states == {
        "setup": "done", "REST single": "failed", "REST batch": "done",
        "duplicate storm": "done", "observability": "done", "MQTT": "skipped", "CFX": "skipped",
    }  # fmt: skip
    assert figures["sections"]["MQTT"]["reason"] == "--mqtt-publishers 0"
    assert figures["sections"]["CFX"]["reason"].startswith(
        f"nothing listens for AMQP on 127.0.0.1:{amqp_port}"
    )
    assert [run["batch_size"] for run in figures["batch"]] == [100, 500]
    assert all(run["events"] > 0 for run in figures["batch"])
    assert set(figures["baseline"]["copy"]) == {"100", "500"}
    assert figures["storm"]["records_afterwards"] == 1
    assert figures["observability"]["on_events_per_second"] > 0
    # Each figure printed when it was measured, before its section ended.
    batch_part = result.stdout.split("== REST batch\n")[1].split("== REST batch: done")[0]
    assert batch_part.count("  → ") == 6  # two COPY baselines and ours, for each size
    assert "best batch:" in result.stdout  # the table, from what was measured
    # CPU per event, ours and the baseline's, each side from /proc (bench/cpu.py).
    for figure in figures["batch"] + list(figures["baseline"]["copy"].values()):
        assert figure["cpu"]["mes_ms"] > 0 and figure["cpu"]["postgres_ms"] > 0, figure
    assert "CPU per event, ms" in result.stdout
    assert result.stdout.count("batch POST of ") >= 4  # its rows in both tables
