"""The fault-injection run, short: production configuration, real faults, nothing lost.

bench/faults.py serves the app with gunicorn (2 gthread workers × 8 threads)
and sends a seeded mix of events while it SIGKILLs a worker, terminates the
database connections, changes a column's type and holds a row lock; then it
checks the database through the ORM against every answer it got. The full
run is `make faults`; this is the same run, shorter.
"""

import json
import os

import pytest

from tests.postgres import needs_postgresql, run_bench, url_of_database

pytestmark = [
    pytest.mark.slow,
    needs_postgresql("a gunicorn server with its own database, and connections to terminate"),
]


def test_a_short_fault_run_loses_doubles_and_breaks_nothing_and_health_probes_stay_fast(
    tmp_path,
):
    output = tmp_path / "faults.json"
    url = url_of_database(f"mes_faults_{os.getpid()}")
    result = run_bench(
        "bench/faults.py", "--duration", "20", "--clients", "4",
        "--database-url", url, "--output", str(output),
    )  # fmt: skip

    assert result.returncode == 0, (result.stdout[-4000:], result.stderr[-4000:])
    figures = json.loads(output.read_text())
    assert figures["problems"] == []
    assert [fault for _, fault in figures["faults"]][0].startswith("SIGKILL worker")
    assert len(figures["faults"]) == 5
    assert figures["slowest_health_probe_ms"] < 1000
    assert figures["answers"]["created"] > 100
    assert "5" not in {status[0] for status in figures["http_statuses"] if status != "503"}
