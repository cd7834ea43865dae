"""Development settings of a checkout, for commands run in another terminal.

`make run` writes `local.env` (DEBUG=1 and a generated SECRET_KEY). `manage.py`
reads it when SECRET_KEY is not in the environment, so a newcomer's
`.venv/bin/python manage.py …` in a new terminal runs as the demo server does.
The web server (WSGI, ASGI) never reads it: a server started without
SECRET_KEY still refuses to start, whatever the checkout holds.
"""

import os
from pathlib import Path

LOCAL_ENV = Path(__file__).resolve().parent.parent / "local.env"


def read_local_env(path: Path = LOCAL_ENV) -> None:
    """Fill the environment from `path`, only when SECRET_KEY is not set: an
    environment that is configured (a server, the tests) is never mixed with it."""
    if os.environ.get("SECRET_KEY") or not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())
