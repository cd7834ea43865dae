"""The restore procedure of docs/operations.md ("Backup and restore"), steps 2–4: a
database dumped with `pg_dump --format=custom`, restored with `pg_restore` into a new
one, checked with `migrate --check`, and read by the app (a gateway's key issued before
the dump answers whoami). Real pg_dump, pg_restore and PostgreSQL."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from tests.postgres import database_of_its_own, manage, needs_postgresql

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.slow,
    needs_postgresql("pg_dump and pg_restore of a database of its own"),
    pytest.mark.skipif(shutil.which("pg_restore") is None, reason="needs pg_dump and pg_restore"),
]

WHOAMI = """
import django, json, sys
django.setup()
from django.test import Client
answer = Client().get("/api/integration/whoami", HTTP_AUTHORIZATION="Token " + sys.argv[1])
print(json.dumps([answer.status_code, answer.json()]))
"""


def libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def test_a_dump_restored_into_a_new_database_is_read_by_the_app(tmp_path):
    dump = tmp_path / "mes.dump"
    with database_of_its_own("mes_backup") as (_name, url):
        manage(url, "migrate", "-v", "0")
        key = manage(url, "create_gateway", "gw-before-the-dump").stdout.splitlines()[-1]
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", libpq(url)], check=True, timeout=120
        )

    with database_of_its_own("mes_restored") as (_name, restored):
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={libpq(restored)}", str(dump)],
            check=True,
            timeout=300,
        )
        checked = manage(restored, "migrate", "--check")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
        env.update(DATABASE_URL=restored, SECRET_KEY="a-test-key-for-manage-commands")
        read = subprocess.run(
            [sys.executable, "-c", WHOAMI, key],
            cwd=settings.BASE_DIR,
            env={**env, "DJANGO_SETTINGS_MODULE": "mes.settings"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert checked.returncode == 0  # manage() asserted it too: no migration missing
    assert read.returncode == 0, read.stderr[-2000:]
    status, body = json.loads(read.stdout.splitlines()[-1])
    assert status == 200, body
    assert body["data"]["name"] == "gw-before-the-dump"
    assert body["data"]["kind"] == "gateway"
