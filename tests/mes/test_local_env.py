"""Commands in a second terminal run as the demo server does (README: Set-up).

`make run` writes local.env (DEBUG=1 and a generated SECRET_KEY); the settings
read it when SECRET_KEY is not in the environment, so a newcomer's
`.venv/bin/python manage.py …` in a new terminal needs no variable.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from mes.local_env import read_local_env, write_local_env

VARIABLES = ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")


def test_the_development_settings_are_debug_and_a_generated_key_written_once(tmp_path):
    path = tmp_path / "local.env"
    write_local_env(path)
    first = path.read_text()
    write_local_env(path)

    assert "DEBUG=1" in first.splitlines()
    (key,) = re.findall(r"^SECRET_KEY=(\S+)$", first, re.MULTILINE)
    assert len(key) >= 50
    assert path.read_text() == first  # kept: sessions signed with it stay valid


def test_make_writes_the_checkouts_local_env(tmp_path):
    shutil.copytree(settings.BASE_DIR / "mes", tmp_path / "mes")
    shutil.copy(settings.BASE_DIR / "Makefile", tmp_path / "Makefile")
    subprocess.run(
        ["make", "-s", "local.env", f"PYTHON={sys.executable}"], cwd=tmp_path, check=True
    )
    assert "DEBUG=1" in (tmp_path / "local.env").read_text().splitlines()


def test_local_env_fills_only_an_environment_without_a_secret_key(tmp_path, monkeypatch):
    path = tmp_path / "local.env"
    path.write_text("# comment\nDEBUG=1\nSECRET_KEY=from-the-file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    read_local_env(path)
    assert (os.environ["SECRET_KEY"], os.environ["DEBUG"]) == ("from-the-file", "1")

    monkeypatch.setenv("SECRET_KEY", "configured")
    monkeypatch.delenv("DEBUG")
    read_local_env(path)
    assert os.environ["SECRET_KEY"] == "configured" and "DEBUG" not in os.environ


@pytest.fixture
def checkout_local_env():
    """The checkout without its local.env, as a fresh clone is (one there is put aside
    and brought back); whatever a test writes there is removed."""
    path = settings.BASE_DIR / "local.env"
    aside = path.with_name("local.env.test-aside")
    if path.exists():
        path.rename(aside)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        if aside.exists():
            aside.rename(path)


@pytest.mark.parametrize(
    "command", [["check"], ["simulate_gateway", "--help"], ["create_gateway", "--help"]]
)
def test_a_command_in_a_new_terminal_runs_without_any_variable(checkout_local_env, command):
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG=1" in checkout_local_env.read_text().splitlines()  # written for the next


def test_the_web_server_never_reads_local_env(checkout_local_env):
    # A server started without SECRET_KEY refuses to start, even in a checkout where
    # `make run` once ran: it must never come up in DEBUG with the development key.
    write_local_env(checkout_local_env)
    env = {name: value for name, value in os.environ.items() if name not in VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", "import mes.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
