"""The development settings of a checkout: `local.env`, written by `make run` only.

It holds DEBUG=1, a SECRET_KEY generated for this checkout and DATABASE_URL naming the
checkout's SQLite file. `make run` writes it and runs every command with
MES_ENV_FILE naming it. `manage.py` in another terminal reads it too, but only when
nothing else is configured: MES_ENV_FILE unset, and neither SECRET_KEY nor
DATABASE_URL in the environment (`use_local_env`). `manage.py` never writes it, and
gunicorn (mes.wsgi) and ASGI never read it, so a server, or a command given any
setting of its own, never lands on the development database (docs/operations.md,
"Settings").
"""

import os
import secrets
from pathlib import Path

# Only the standard library at the top: the Makefile writes local.env with the system's
# Python, before the virtualenv exists.
CHECKOUT = Path(__file__).resolve().parent.parent
LOCAL_ENV = CHECKOUT / "local.env"


def development_database_url(checkout: Path = CHECKOUT) -> str:
    return f"sqlite:///{checkout / 'db.sqlite3'}"


def write_local_env(path: Path = LOCAL_ENV) -> None:
    """Write `path` once (an existing file keeps its key: sessions signed with it stay
    valid). A file from before DATABASE_URL was written in it gets the SQLite database
    it used to imply, so an older checkout runs as before."""
    path = Path(path)
    database = f"DATABASE_URL={development_database_url(path.parent)}\n"
    if path.exists():
        text = path.read_text()
        if not any(line.startswith("DATABASE_URL=") for line in text.splitlines()):
            path.write_text(text + ("" if text.endswith("\n") else "\n") + database)
        return
    path.write_text(
        "# Development settings of this checkout, written by `make run` (mes/local_env.py).\n"
        "# Never on a server: a server's settings are in the file MES_ENV_FILE names.\n"
        "# manage.py reads this file when MES_ENV_FILE, SECRET_KEY and DATABASE_URL are unset.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n" + database
    )


def use_local_env(path: Path = LOCAL_ENV) -> bool:
    """For manage.py: name `path` in MES_ENV_FILE when it exists and nothing else is
    configured; True when it did. An environment that names any of MES_ENV_FILE,
    SECRET_KEY or DATABASE_URL is never mixed with the development file."""
    from mes.env_file import VARIABLE as ENV_FILE_VARIABLE

    configured = any(
        os.environ.get(name, "").strip()
        for name in (ENV_FILE_VARIABLE, "SECRET_KEY", "DATABASE_URL")
    )
    if configured or not Path(path).is_file():
        return False
    os.environ[ENV_FILE_VARIABLE] = str(path)
    return True
