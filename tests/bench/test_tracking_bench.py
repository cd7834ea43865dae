"""The tracking benchmark stays runnable: a tiny run takes units through track-in and
track-out by gunicorn and by its psycopg baseline, and every pair it counts is written.

Figures are measured by `make bench` (bench/tracking.py), never asserted here.
"""

import json
import os

import pytest

from tests.postgres import needs_postgresql, run_bench, url_of_database

pytestmark = [
    pytest.mark.slow,
    needs_postgresql("the tracking benchmark serves a database of its own with gunicorn"),
]


def test_a_tiny_tracking_run_counts_pairs_through_gunicorn_and_beside_its_baseline(tmp_path):
    output = tmp_path / "tracking.json"
    url = url_of_database(f"mes_tracking_bench_{os.getpid()}")
    result = run_bench(
        "bench/tracking.py", "--units", "60", "--clients", "2", "--duration", "2",
        "--workers", "1", "--threads", "2", "--database-url", url, "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    figures = json.loads(output.read_text())
    ours = figures["ours"]
    assert ours["pairs"] > 0 and ours["pairs_per_second"] > 0
    assert ours["statuses"] == {"200": 2 * ours["pairs"]}
    # Every pair counted left one closed pass with its value, its unit at the next step.
    pairs = ours["pairs"]
    assert figures["written"] == {
        "pairs": pairs, "closed_tracks": pairs, "values": pairs, "queued": pairs,
    }  # fmt: skip
    for when in ("before", "after"):
        assert figures["baseline"][when]["pairs"] > 0
        assert figures["baseline"][when]["cpu"]["total_ms"] > 0
    assert ours["cpu"]["mes_ms"] > 0 and ours["cpu"]["postgres_ms"] > 0
    assert "ours ÷ baseline" in result.stdout and "target: ≥ 300 pairs/s" in result.stdout


def test_a_tracking_run_that_fails_says_why_exits_1_and_still_writes_its_json(tmp_path):
    output = tmp_path / "tracking.json"
    url = url_of_database(f"mes_tracking_bench_{os.getpid()}")
    result = run_bench(
        "bench/tracking.py", "--units", "20", "--clients", "0", "--duration", "1",
        "--workers", "1", "--threads", "2", "--database-url", url, "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 1, (result.stdout[-3000:], result.stderr[-3000:])
    assert "tracking  failed: ValueError: Number of processes must be at least 1" in result.stdout
    figures = json.loads(output.read_text())
    assert figures["sections"]["tracking"]["state"] == "failed"
    assert figures["setup"]["postgresql"]  # what was learnt before the failure is kept
