"""A real PgBouncer for tests, in front of the test PostgreSQL server, on a free port.

    with pgbouncer("transaction") as port:
        ... postgres://postgres@127.0.0.1:{port}/<database> ...

Debian's PgBouncer 1.18 keeps no prepared statements in transaction mode (support came in
1.21 with `max_prepared_statements`): the pooler issue 22 met. Tests are skipped, with the
reason, when /usr/sbin/pgbouncer is not installed (.ci/run installs it)."""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings

PGBOUNCER = "/usr/sbin/pgbouncer"


def skip_without_pgbouncer() -> None:
    if not os.access(PGBOUNCER, os.X_OK):
        pytest.skip(f"needs PgBouncer at {PGBOUNCER} (apt-get install pgbouncer)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def pgbouncer(pool_mode: str):
    """PgBouncer in `pool_mode` (transaction, session) for the test server's databases;
    yields its port."""
    skip_without_pgbouncer()
    database = settings.DATABASES["default"]
    port = _free_port()
    # PgBouncer refuses to run as root: it switches to the PostgreSQL server's user, which
    # must read its files (pytest's temporary directories are private to root).
    directory = Path(tempfile.mkdtemp(prefix="mes-pgbouncer-"))
    directory.chmod(0o755)
    users = directory / "users.txt"
    users.write_text(f'"{database["USER"]}" "{database["PASSWORD"] or ""}"\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={database['HOST'] or '127.0.0.1'} port={database['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {users}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = 10\nmax_client_conn = 200\n"
    )
    for path in (users, config):
        path.chmod(0o644)
    as_user = ["-u", "postgres"] if os.getuid() == 0 and _user_exists("postgres") else []
    log = (directory / "pgbouncer.log").open("w")
    process = subprocess.Popen(
        [PGBOUNCER, *as_user, str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert process.poll() is None, (directory / "pgbouncer.log").read_text()
            assert time.monotonic() < deadline, "PgBouncer did not listen within 15 s"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
