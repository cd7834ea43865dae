"""Development settings of a checkout, for `manage.py` in any terminal.

`local.env` holds DEBUG=1 and a SECRET_KEY generated for this checkout. `make run`
writes it, and `manage.py` writes it too when it is missing and SECRET_KEY is not
set, then reads it: a newcomer's `.venv/bin/python manage.py …` in a new terminal
runs as the demo server does. The web server (WSGI, ASGI) never reads it: a server
started without SECRET_KEY still refuses to start, whatever the checkout holds.
"""

import os
import secrets
from pathlib import Path

LOCAL_ENV = Path(__file__).resolve().parent.parent / "local.env"


def write_local_env(path: Path = LOCAL_ENV) -> None:
    """Write `path` once; an existing file is kept (sessions signed with its key stay valid)."""
    if Path(path).exists():
        return
    Path(path).write_text(
        "# Development settings of this checkout (mes/local_env.py). Never on a server.\n"
        "# manage.py reads this file when SECRET_KEY is not set in the environment.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    )


def read_local_env(path: Path = LOCAL_ENV) -> None:
    """Fill the environment from `path` (written first if missing), only when
    SECRET_KEY is not set: a configured environment (a server's, the tests') is never
    mixed with it."""
    if os.environ.get("SECRET_KEY"):
        return
    write_local_env(path)
    for line in Path(path).read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())
