"""The benchmarks stay runnable: a tiny growth run serves every page it times.

Figures are measured by `make bench-growth`, never asserted here; this only
checks that the run completes and that every page it times answers 200 to the
quality staff user with data in the database.
"""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.postgres import needs_postgresql

pytestmark = [
    pytest.mark.slow,
    needs_postgresql("the growth benchmark fills PostgreSQL with SQL and serves it with gunicorn"),
]


def test_a_tiny_growth_run_times_every_page_and_each_answers(tmp_path):
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    url = (
        f"postgres://{database['USER']}{password}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/mes_growth_{os.getpid()}"
    )
    output = tmp_path / "growth.json"
    result = subprocess.run(
        [sys.executable, "bench/growth.py", "--records", "2000", "--repeat", "1",
         "--ingest-seconds", "1", "--database-url", url, "--output", str(output)],
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    figures = json.loads(output.read_text())
    assert len(figures["pages"]) >= 14
    assert {page["status"] for page in figures["pages"].values()} == {200}
    assert figures["bytes_per_event"]["total"] > 0
    assert figures["ingestion"]["full_events_per_second"] > 0
