"""`manage.py migrate` with what a migration under traffic needs (docs/operations.md).

Django's own command, run on PostgreSQL itself when MIGRATE_DATABASE_URL names it
(DATABASE_URL may go through PgBouncer, which refuses session settings), with
`lock_timeout` set to MIGRATION_LOCK_TIMEOUT_MS on its connection: a migration that
waits longer than that for a table's lock (a long transaction ahead of it) gives up
with a message saying so, instead of queueing every request of that table behind it.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.signals import connection_created

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that expired


def use_migration_database(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Point `alias` at MIGRATE_DATABASE_URL's database, when it is set, before it connects."""
    if settings.MIGRATE_DATABASE is None or alias != DEFAULT_DB_ALIAS:
        return
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update(settings.MIGRATE_DATABASE)


class Command(DjangoMigrate):
    help = DjangoMigrate.help + (
        " On PostgreSQL it connects with MIGRATE_DATABASE_URL when set, and waits at most "
        "MIGRATION_LOCK_TIMEOUT_MS for a table's lock."
    )

    def handle(self, *args, **options):
        alias = options["database"]
        use_migration_database(alias)
        timeout = settings.MIGRATION_LOCK_TIMEOUT_MS

        def set_lock_timeout(sender=None, connection=connections[alias], **kwargs):
            if connection.alias == alias and connection.vendor == "postgresql" and timeout > 0:
                with connection.cursor() as cursor:
                    # Not SET: its value cannot be a bound parameter (server-side binding).
                    cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{timeout}ms"])

        # On the connection open now, and on any the command opens again.
        if connections[alias].connection is not None:
            set_lock_timeout()
        connection_created.connect(set_lock_timeout, weak=False)
        try:
            return super().handle(*args, **options)
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise CommandError(
                f"A migration waited more than {timeout} ms (MIGRATION_LOCK_TIMEOUT_MS) for a "
                f"table's lock and gave up: another transaction holds it ({error}). The "
                "migrations before it are applied; run migrate again when the transaction "
                "ahead of it ends (pg_stat_activity shows it; docs/operations.md)."
            ) from error
        finally:
            connection_created.disconnect(set_lock_timeout)
