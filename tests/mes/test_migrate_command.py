"""`manage.py migrate` under traffic (mes/management/commands/migrate.py): it waits at
most MIGRATION_LOCK_TIMEOUT_MS for a table's lock, and connects to MIGRATE_DATABASE_URL
(PostgreSQL itself, not PgBouncer) when set. Against databases of their own, with a
real second session holding the lock."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.postgres import database_of_its_own, manage, needs_postgresql, second_session

pytestmark = [
    pytest.mark.postgres_only,
    needs_postgresql("PostgreSQL's lock_timeout and a database of its own"),
]

UNREACHABLE = "postgres://postgres@127.0.0.1:1/not_a_database"


def migrate(*arguments: str, **variables) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(SECRET_KEY="a-test-key-for-manage-commands", **variables)
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", *arguments],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_migration_behind_a_held_lock_gives_up_after_the_lock_timeout():
    with database_of_its_own("mes_migrate_lock") as (name, url):
        manage(url, "migrate", "-v", "0")
        manage(url, "migrate", "-v", "0", "integration", "0009")  # 0010 to apply again
        with second_session(name) as holder:
            # A long transaction ahead of the migration: 0010's foreign key needs stations.
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE execution_station IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            refused = migrate(DATABASE_URL=url, MIGRATION_LOCK_TIMEOUT_MS="500")
            elapsed = time.monotonic() - started
            holder.execute("ROLLBACK")

        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "waited more than 500 ms (MIGRATION_LOCK_TIMEOUT_MS)" in refused.stderr
        assert "run migrate again when the transaction ahead of it ends" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert elapsed < 30, elapsed  # not waiting for the lock's holder
        with second_session(name) as session:
            applied = session.execute(
                "SELECT count(*) FROM django_migrations WHERE app = 'integration' "
                "AND name = '0010_cfx_reading_name'"
            ).fetchone()[0]
        assert applied == 0

        again = migrate(DATABASE_URL=url, MIGRATION_LOCK_TIMEOUT_MS="500")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "Applying integration.0010_cfx_reading_name... OK" in again.stdout


def test_migrate_connects_to_migrate_database_url_and_other_commands_do_not():
    with database_of_its_own("mes_migrate_direct") as (name, url):
        direct = migrate(DATABASE_URL=UNREACHABLE, MIGRATE_DATABASE_URL=url)
        elsewhere = subprocess.run(
            [sys.executable, "manage.py", "showmigrations"],
            cwd=settings.BASE_DIR,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
                "SECRET_KEY": "a-test-key-for-manage-commands",
                "DATABASE_URL": UNREACHABLE,
                "MIGRATE_DATABASE_URL": url,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        with second_session(name) as session:
            applied = session.execute("SELECT count(*) FROM django_migrations").fetchone()[0]

    assert direct.returncode == 0, direct.stderr[-2000:]
    assert applied > 20
    assert elsewhere.returncode != 0
    assert "127.0.0.1" in elsewhere.stderr and "port 1" in elsewhere.stderr
