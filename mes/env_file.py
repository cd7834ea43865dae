"""The env file a process takes its settings from: the one `MES_ENV_FILE` names.

Every process reads it the same way, because mes/settings.py calls `read_env_file()`
first: `manage.py` and its commands (the consumers, `migrate`, `create_gateway`),
gunicorn (mes.wsgi) and ASGI. django-environ reads the file; a variable already in the
process's environment wins over the file's line. A named file that cannot be read
refuses the process, with the reason: a typo in a path must never leave a server on
another database (docs/operations.md, "Settings").
"""

import io
import os

import environ
from django.core.exceptions import ImproperlyConfigured

VARIABLE = "MES_ENV_FILE"


def env_file_path() -> str:
    """The path `MES_ENV_FILE` names, or "" when it names none."""
    return os.environ.get(VARIABLE, "").strip()


def read_env_file() -> str:
    """Fill the environment from the file `MES_ENV_FILE` names (variables already set
    are kept); returns its path, or "" when none is named."""
    path = env_file_path()
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{VARIABLE}={path} cannot be read ({error.strerror}). Name the settings file "
            f"this process must use, e.g. {VARIABLE}=/etc/mes/mes.env, readable by the "
            "user it runs as."
        ) from error
    environ.Env.read_env(io.StringIO(content), overwrite=False)
    return path
