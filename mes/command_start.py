"""What manage.py does before Django runs a command.

It picks the settings (the file MES_ENV_FILE names; else, in a checkout where
`make run` wrote it, local.env: mes/local_env.py), refuses with a readable message when
there are none, and, when its stderr is a terminal, says on its first line which
database the command will use and where that came from. On stderr, so a script that
reads a command's output (create_gateway's key, alone on the last line) reads the same
thing as before; and not at all when not in a terminal, so logs and pipes are unchanged.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

from mes.env_file import env_file_path
from mes.local_env import use_local_env

# Commands that only print Django's help or version: nothing to say about a database.
NO_DATABASE = {"help", "--help", "-h", "version", "--version"}


def describe_database(database: dict) -> str:
    """Engine, host and name of a DATABASES entry; never its user or password."""
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"{engine} {database['NAME']}"
    host = database.get("HOST") or "local socket"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine} {database['NAME']} on {host}{port}"


def database_line(command: str) -> str:
    """The line an interactive command starts with."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if command == "migrate" and settings.MIGRATE_DATABASE is not None:
        database = settings.MIGRATE_DATABASE  # mes/management/commands/migrate.py
    source = env_file_path() or "the environment"
    return f"Database: {describe_database(database)} (settings: {source})"


def prepare(argv: list[str]) -> None:
    """Settings for `manage.py <argv>`: chosen, checked, and the database said."""
    use_local_env()
    from django.conf import settings

    try:
        settings.DATABASES  # noqa: B018  (loads the settings: the refusal comes now, readable)
    except ImproperlyConfigured as error:
        sys.stderr.write(f"manage.py: {error}\n")
        raise SystemExit(2) from None
    command = argv[1] if len(argv) > 1 else "help"
    # runserver's reloader runs manage.py again in a child (RUN_MAIN): said once is enough.
    said = os.environ.get("RUN_MAIN") == "true"
    if sys.stderr.isatty() and not said and command not in NO_DATABASE and "--help" not in argv:
        sys.stderr.write(database_line(command) + "\n")
        sys.stderr.flush()
