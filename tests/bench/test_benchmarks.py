"""The benchmarks stay runnable: a tiny growth run serves every page it times.

Figures are measured by `make bench-growth`, never asserted here; this only
checks that the run completes and that every page it times answers 200 to the
quality staff user with data in the database.
"""

import json
import os

import pytest

from tests.postgres import needs_postgresql, run_bench, url_of_database

pytestmark = [
    pytest.mark.slow,
    needs_postgresql("the growth benchmark fills PostgreSQL with SQL and serves it with gunicorn"),
]


def test_a_tiny_growth_run_times_every_page_and_each_answers(tmp_path):
    output = tmp_path / "growth.json"
    url = url_of_database(f"mes_growth_{os.getpid()}")
    result = run_bench(
        "bench/growth.py", "--records", "2000", "--repeat", "1", "--api-repeat", "2",
        "--ingest-seconds", "1",
        "--database-url", url, "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    figures = json.loads(output.read_text())
    assert len(figures["pages"]) >= 40
    assert {page["status"] for page in figures["pages"].values()} == {200}
    assert len(figures["api"]) >= 8
    assert {page["status"] for page in figures["api"].values()} == {200}
    # The export streamed every value of its days: a header and at least one row each.
    assert figures["export"]["status"] == 200 and figures["export"]["rows"] > 0
    assert figures["bytes_per_event"]["total"] > 0
    assert figures["ingestion"]["full_events_per_second"] > 0
