"""Where a process's settings come from, and that none silently points elsewhere.

One way for every process: the env file MES_ENV_FILE names (mes/env_file.py), read by
manage.py, gunicorn (mes.wsgi) and the consumers alike; variables in the environment
win. A checkout's local.env (written by `make run` only) is read by manage.py only when
nothing else is configured. Without settings a process refuses, naming both ways.

Each test runs manage.py, or a server, as a subprocess in a fresh environment (PATH
and HOME only), as an operator's new shell is, in a copy of the checkout where `make
run` never ran unless the test runs it.
"""

import http.client
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from bench.harness import free_port
from mes.command_start import describe_database
from mes.local_env import write_local_env

ROOT = Path(settings.BASE_DIR)
BOTH_WAYS = ("make run", "MES_ENV_FILE=/etc/mes/mes.env")
KEY = re.compile(r"^[0-9a-f]{12}\.[A-Za-z0-9_-]{40,}$")


def fresh_environment(**variables) -> dict:
    """A new shell's environment: PATH and HOME, and what the test adds."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **variables}


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A copy of the checkout's code, where `make run` never ran (no local.env)."""
    folder = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mes", "execution", "integration", "templates"):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    for name in ("manage.py", "Makefile"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def manage(folder: Path, *arguments: str, **variables) -> subprocess.CompletedProcess:
    """`.venv/bin/python manage.py …` in `folder`, in a fresh environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=folder,
        env=fresh_environment(**variables),
        capture_output=True,
        text=True,
        timeout=180,
    )


def make_local_env(folder: Path) -> Path:
    """What `make run` does first: the Makefile's local.env target."""
    subprocess.run(["make", "-s", "local.env"], cwd=folder, check=True)
    return folder / "local.env"


def write_env_file(path: Path, **variables) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
    return path


# --- no settings: refused, with both ways named ----------------------------------------------


def test_without_any_settings_migrate_refuses_and_names_both_ways(checkout):
    result = manage(checkout, "migrate")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "SECRET_KEY and DATABASE_URL are not set" in result.stderr
    for way in BOTH_WAYS:
        assert way in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was written: no settings file, no development database.
    assert sorted(path.name for path in checkout.iterdir()) == [
        "Makefile",
        "execution",
        "integration",
        "manage.py",
        "mes",
        "templates",
    ]


def test_the_web_server_refuses_without_settings_even_where_make_run_wrote_local_env(checkout):
    make_local_env(checkout)

    result = subprocess.run(
        [sys.executable, "-c", "import mes.wsgi"],
        cwd=checkout,
        env=fresh_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "SECRET_KEY and DATABASE_URL are not set" in result.stderr
    assert "MES_ENV_FILE=/etc/mes/mes.env" in result.stderr


@pytest.mark.parametrize("entry", ["manage.py", "mes.wsgi"])
def test_an_env_file_that_cannot_be_read_is_refused(checkout, tmp_path, entry):
    missing = tmp_path / "etc" / "mes.env"
    command = ["manage.py", "check"] if entry == "manage.py" else ["-c", "import mes.wsgi"]

    result = subprocess.run(
        [sys.executable, *command],
        cwd=checkout,
        env=fresh_environment(MES_ENV_FILE=str(missing)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert f"MES_ENV_FILE={missing} cannot be read (No such file or directory)" in result.stderr


# --- the development local.env -----------------------------------------------------------------


def test_local_env_holds_debug_a_generated_key_and_the_checkouts_database(checkout):
    path = make_local_env(checkout)
    first = path.read_text()
    make_local_env(checkout)

    lines = first.splitlines()
    assert "DEBUG=1" in lines
    assert f"DATABASE_URL=sqlite:///{checkout / 'db.sqlite3'}" in lines
    (key,) = re.findall(r"^SECRET_KEY=(\S+)$", first, re.MULTILINE)
    assert len(key) >= 50
    assert path.read_text() == first  # kept: sessions signed with its key stay valid


def test_a_local_env_from_before_gets_the_database_it_implied(tmp_path):
    path = tmp_path / "local.env"
    path.write_text("DEBUG=1\nSECRET_KEY=an-older-checkouts-key\n")

    write_local_env(path)

    assert path.read_text() == (
        f"DEBUG=1\nSECRET_KEY=an-older-checkouts-key\nDATABASE_URL=sqlite:///{tmp_path}/db.sqlite3\n"
    )


def test_after_make_wrote_local_env_commands_in_a_new_terminal_use_the_checkouts_database(
    checkout,
):
    make_local_env(checkout)

    migrated = manage(checkout, "migrate", "--noinput")
    created = manage(checkout, "create_gateway", "gw-reflow-1")

    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert "Applying integration.0001_initial... OK" in migrated.stdout
    assert created.returncode == 0, created.stderr[-2000:]
    assert KEY.match(created.stdout.splitlines()[-1]), created.stdout
    assert (checkout / "db.sqlite3").stat().st_size > 0


@pytest.mark.parametrize(
    "variable", ["SECRET_KEY", "DATABASE_URL"], ids=["secret-key-set", "database-url-set"]
)
def test_local_env_is_never_mixed_with_an_environment_that_names_a_setting(checkout, variable):
    make_local_env(checkout)
    given = {"SECRET_KEY": "a-key-from-the-shell", "DATABASE_URL": "sqlite:///elsewhere.db"}

    result = manage(checkout, "migrate", **{variable: given[variable]})

    other = "DATABASE_URL" if variable == "SECRET_KEY" else "SECRET_KEY"
    assert result.returncode == 2
    assert f"{other} is not set" in result.stderr
    assert not (checkout / "db.sqlite3").exists()


def test_a_named_env_file_is_used_even_where_local_env_exists(checkout, tmp_path):
    make_local_env(checkout)
    server = write_env_file(
        tmp_path / "mes.env",
        SECRET_KEY="a-servers-key-" + "x" * 40,
        DATABASE_URL=f"sqlite:///{tmp_path}/server.sqlite3",
    )

    result = manage(checkout, "migrate", "--noinput", MES_ENV_FILE=str(server))

    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "server.sqlite3").exists()
    assert not (checkout / "db.sqlite3").exists()


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = write_env_file(
        tmp_path / "mes.env",
        SECRET_KEY="from-the-file",
        DATABASE_URL=f"sqlite:///{tmp_path}/from-the-file.sqlite3",
        GATEWAY_THROTTLE_RATE="5/s",
    )
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECRET_KEY, s.DATABASES['default']['NAME'], "
        "s.GATEWAY_THROTTLE_RATE, s.MES_ENV_FILE]))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=fresh_environment(
            MES_ENV_FILE=str(env_file),
            DJANGO_SETTINGS_MODULE="mes.settings",
            DATABASE_URL=f"sqlite:///{tmp_path}/from-the-environment.sqlite3",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "from-the-file",
        f"{tmp_path}/from-the-environment.sqlite3",
        "5/s",
        str(env_file),
    ]


# --- which database: the first line of an interactive command ---------------------------------


def run_in_terminal(folder: Path, *arguments: str, **variables) -> tuple[int, str, str]:
    """manage.py with its stderr on a pseudo-terminal, as in an operator's shell; returns
    (exit code, what the terminal showed, stdout)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
        cwd=folder,
        env=fresh_environment(**variables),
        stdout=subprocess.PIPE,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=120), shown.decode().replace("\r\n", "\n"), stdout


def test_an_interactive_command_says_first_which_database_it_uses(checkout):
    local_env = make_local_env(checkout)
    assert manage(checkout, "migrate", "--noinput").returncode == 0

    code, shown, stdout = run_in_terminal(checkout, "create_gateway", "gw-terminal")

    assert code == 0, shown
    assert shown.splitlines()[0] == (
        f"Database: sqlite3 {checkout / 'db.sqlite3'} (settings: {local_env})"
    )
    # On stderr: a script reading the key from stdout's last line reads it as before.
    assert KEY.match(stdout.splitlines()[-1]), stdout


def test_the_database_line_names_host_and_database_but_never_the_password(checkout):
    code, shown, _stdout = run_in_terminal(
        checkout,
        "check",
        SECRET_KEY="a-key-for-this-test",
        DATABASE_URL="postgres://mes:a-database-password@db.example.internal:6432/mes_plant",
    )

    assert code == 0, shown
    assert shown.splitlines()[0] == (
        "Database: postgresql mes_plant on db.example.internal:6432 (settings: the environment)"
    )
    assert "a-database-password" not in shown


def test_a_command_not_in_a_terminal_prints_no_database_line(checkout):
    make_local_env(checkout)

    result = manage(checkout, "migrate", "--noinput")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Database:" not in result.stdout + result.stderr


def test_a_database_on_the_local_socket_is_described_as_such():
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": "mes", "HOST": "", "PORT": ""}

    assert describe_database(database) == "postgresql mes on local socket"


# --- a server and manage.py with one env file: one database -----------------------------------


def request(port: int, method: str, path: str, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def wait_until_up(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not answer:\n{log.read_text()}")


@pytest.mark.slow
def test_gunicorn_and_manage_py_given_one_env_file_use_one_database(tmp_path):
    env_file = write_env_file(
        tmp_path / "mes.env",
        SECRET_KEY="a-servers-key-for-this-test-" + "y" * 30,
        DATABASE_URL=f"sqlite:///{tmp_path}/plant.sqlite3",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_FORMAT="json",
    )
    assert manage(ROOT, "migrate", "--noinput", MES_ENV_FILE=str(env_file)).returncode == 0
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            # As the mes-web unit starts it: only the env file's name, and gunicorn's own.
            env=fresh_environment(
                MES_ENV_FILE=str(env_file),
                GUNICORN_BIND=f"127.0.0.1:{port}",
                GUNICORN_WORKERS="1",
                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(port, server, log)

        # manage.py writes, the server reads: the gateway's key is known to it.
        created = manage(ROOT, "create_gateway", "gw-shared", MES_ENV_FILE=str(env_file))
        assert created.returncode == 0, created.stderr[-2000:]
        key = created.stdout.splitlines()[-1]
        status, _headers, body = request(
            port, "GET", "/api/integration/whoami", {"Authorization": f"Token {key}"}
        )
        assert status == 200, body
        assert json.loads(body)["data"]["name"] == "gw-shared"

        # The server writes, manage.py reads: a wrong admin password is an attempt on record.
        status, headers, _body = request(port, "GET", "/admin/login/")
        token = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
        status, _headers, body = request(
            port,
            "POST",
            "/admin/login/",
            {
                "Cookie": f"csrftoken={token}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            f"csrfmiddlewaretoken={token}&username=someone&password=wrong&next=/admin/",
        )
        assert status == 200, body  # the form again, with its error
        attempts = manage(ROOT, "axes_list_attempts", MES_ENV_FILE=str(env_file))
        assert attempts.returncode == 0, attempts.stderr[-2000:]
        # Counted under the address gunicorn saw (no proxy in front): 127.0.0.1.
        assert attempts.stdout.splitlines() == ["127.0.0.1\tsomeone\t1"]
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_after_make_run_the_readmes_second_terminal_commands_work(checkout, tmp_path):
    # `make run` itself, in the copy, with this checkout's virtualenv as it is (-o: no install).
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("w") as output:
        make_run = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run", f"RUN_ADDRESS=127.0.0.1:{port}"],
            cwd=checkout,
            env=fresh_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(port, make_run, log)

        # A new terminal: no variable at all, the README's commands as written (the
        # simulator pointed at this test's port, and shorter).
        simulated = manage(
            checkout, "simulate_gateway", "--count", "20", "--rate", "40",
            "--url", f"http://127.0.0.1:{port}",
        )  # fmt: skip
        created = manage(checkout, "create_gateway", "gw-reflow-1")
        cfx_sender = manage(checkout, "create_gateway", "gw-cfx", "--track-units")
        bundle = ROOT / "docs" / "examples" / "master-data" / "demo-line.json"
        imported = manage(checkout, "import_master_data", str(bundle))
        line = manage(
            checkout, "simulate_line", "--units", "2", "--rate", "0",
            "--url", f"http://127.0.0.1:{port}",
        )  # fmt: skip

        assert simulated.returncode == 0, simulated.stdout + simulated.stderr
        assert "created" in simulated.stdout, simulated.stdout
        assert line.returncode == 0, line.stdout + line.stderr
        assert "units: DONE 2" in line.stdout, line.stdout
        # What the seed printed points at the server `make run` started.
        assert f"Back office: http://127.0.0.1:{port}/admin/" in log.read_text()
        assert created.returncode == 0, created.stderr[-2000:]
        assert cfx_sender.returncode == 0, cfx_sender.stderr[-2000:]
        assert imported.returncode == 0, imported.stdout[-2000:] + imported.stderr[-2000:]
        key = created.stdout.splitlines()[-1]
        status, _headers, body = request(
            port, "GET", "/api/integration/whoami", {"Authorization": f"Token {key}"}
        )
        assert status == 200, body  # the server `make run` started knows the new key
    finally:
        if make_run.poll() is None:
            os.killpg(make_run.pid, signal.SIGTERM)
            make_run.wait(timeout=30)


# --- what operators are given: the units and the documented commands ---------------------------


def test_every_unit_names_the_env_file_its_commands_read_by_hand():
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert len(units) >= 4

    for unit in units:
        lines = unit.read_text().splitlines()
        assert "Environment=MES_ENV_FILE=/etc/mes/mes.env" in lines, unit.name


@pytest.mark.parametrize("document", ["docs/operations.md", "docs/growth.md"])
def test_every_server_command_in_the_operators_docs_names_the_env_file(document):
    commands = [
        line for line in (ROOT / document).read_text().splitlines()
        if ".venv/bin/python manage.py" in line
    ]  # fmt: skip

    assert commands, document
    for line in commands:
        assert "MES_ENV_FILE=/etc/mes/mes.env" in line.split(".venv/bin/python manage.py")[0], line
