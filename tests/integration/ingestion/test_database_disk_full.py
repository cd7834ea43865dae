"""The database's disk fills up under a running server, for real: the tables an event
writes are moved to a tablespace on a 4 MiB file system of their own (tmpfs), which a
filler table fills, so PostgreSQL answers "could not extend file: No space left on
device" (53100) as it does when its disk is full. Disk full is the database's, not the
event's: 503 with Retry-After (docs/api.md), nothing written, and the event goes through
once there is space again."""

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

import psycopg
import pytest

from tests.outage_server import (
    URL,
    admin_connection,
    assert_unavailable,
    event,
    needs_a_postgresql_server,
    records,
    request,
)

pytestmark = needs_a_postgresql_server("a database whose disk fills up")


@pytest.fixture
def full_disk(outage_database):
    """The tables an event writes moved to a tablespace on a 4 MiB file system of their own
    (tmpfs), which `fill()` fills and `free()` empties again: PostgreSQL's real "could
    not extend file: No space left on device" (53100), as when its disk fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a file system of its own needs root and mount")
    directory = tempfile.mkdtemp(prefix="mes-full-disk-")
    postgres_uid = pwd.getpwnam("postgres").pw_uid
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=4m,mode=0700,uid={postgres_uid}", "tmpfs", directory],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        os.rmdir(directory)
        pytest.skip(f"cannot mount a file system here: {mounted.stderr.strip()}")
    tablespace = f"mes_full_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    tables = [
        "integration_devicedatarecord",
        "integration_integrationmessage",
        "execution_datavalue",
    ]
    try:
        with admin_connection() as connection:
            connection.execute(f"CREATE TABLESPACE {tablespace} LOCATION '{directory}'")
        with admin_connection(outage_database["name"]) as database:
            for table in tables:
                database.execute(f"ALTER TABLE {table} SET TABLESPACE {tablespace}")
            database.execute(f"CREATE TABLE filler (x text) TABLESPACE {tablespace}")

            def fill():
                with pytest.raises(psycopg.errors.DiskFull):
                    database.execute(
                        "INSERT INTO filler SELECT repeat('x', 1000) "
                        "FROM generate_series(1, 100000)"
                    )
                # What a page of each table had left: taken too, one row at a time.
                with contextlib.suppress(psycopg.errors.DiskFull):
                    while True:
                        database.execute("INSERT INTO filler VALUES (repeat('x', 100))")

            def free():
                database.execute("DROP TABLE filler")

            yield fill, free
            for table in tables:
                database.execute(f"ALTER TABLE {table} SET TABLESPACE pg_default")
            database.execute("DROP TABLE IF EXISTS filler")
        with admin_connection() as connection:
            connection.execute(f"DROP TABLESPACE {tablespace}")
    finally:
        subprocess.run(["umount", directory], capture_output=True)
        os.rmdir(directory)


def test_a_database_whose_disk_is_full_is_a_503_and_the_event_is_written_once_space_is_back(
    server, outage_database, full_disk
):
    """Disk full is the database's, not the event's: 503 with Retry-After, so a gateway
    keeps the event and sends it again (a 500 it would not send again, and the MQTT and
    CFX consumers would settle it as done). Nothing of it is written meanwhile."""
    fill, free = full_disk
    port, key = server["port"], server["key"]
    assert request(port, "POST", URL, event("evt-before-full"), key)[0] == 200

    fill()
    # The pages the tables have take a few rows more; the first event that needs a new one
    # meets the full disk.
    for n in range(200):
        answer = request(port, "POST", URL, event(f"evt-full-{n}"), key)
        if answer[0] != 200:
            break
    assert_unavailable(answer, within=10)
    assert json.loads(answer[2])["error"]["details"]["cause"] == "database out of resources"
    assert records(outage_database, f"evt-full-{n}") == (0, [])

    free()
    status, _headers, content, _seconds = request(port, "POST", URL, event(f"evt-full-{n}"), key)
    assert status == 200, content
    assert json.loads(content)["data"]["isDuplicate"] is False
    assert records(outage_database, f"evt-full-{n}") == (1, ["SUCCESS"])
