"""Production settings come from the environment, and Django's deploy checks pass with them.

`manage.py check --deploy` runs in a fresh process with only the settings the shipped
deploy/systemd/mes.env.example holds (README: "Production"), so what is tested is what
an operator sets.
"""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "mes.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_PROXY_SSL_HEADER": "1",
}
# Variables of the settings that must not leak in from the environment running the tests.
SETTINGS_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "CACHE_URL",
    "GATEWAY_THROTTLE_RATE",
    "DJANGO_SETTINGS_MODULE",
    *(name for name in os.environ if name.startswith("SECURE_") or name.endswith("_SECURE")),
}


def check_deploy(**environment) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
    env.update({name: value for name, value in environment.items() if value is not None})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_environment():
    result = check_deploy(**PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


EXAMPLE = settings.BASE_DIR / "deploy" / "systemd" / "mes.env.example"


def test_check_deploy_is_clean_with_the_shipped_env_file_and_a_real_key(tmp_path):
    """deploy/systemd/mes.env.example as an operator installs it: a real SECRET_KEY in
    place of the placeholder, named by MES_ENV_FILE in an environment without any other
    setting (a new shell's PATH and HOME)."""
    placeholder = "SECRET_KEY=change-me-50-random-characters"
    assert placeholder in EXAMPLE.read_text().splitlines()
    env_file = tmp_path / "mes.env"
    env_file.write_text(
        EXAMPLE.read_text().replace(placeholder, f"SECRET_KEY={secrets.token_urlsafe(50)}")
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "MES_ENV_FILE": str(env_file),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_the_shipped_env_file_sets_every_production_variable():
    lines = EXAMPLE.read_text().splitlines()

    for name in PRODUCTION:
        assert any(line.startswith(f"{name}=") for line in lines), name


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"SECURE_HSTS_SECONDS": None}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": None}, "security.W008"),
        ({"SECRET_KEY": "too-short"}, "security.W009"),
        ({"SESSION_COOKIE_SECURE": None}, "security.W012"),
        ({"CSRF_COOKIE_SECURE": None}, "security.W016"),
        ({"DEBUG": "1"}, "security.W018"),
    ],
    ids=["no-hsts", "no-ssl-redirect", "weak-secret", "session-cookie", "csrf-cookie", "debug"],
)
def test_each_production_setting_is_needed_for_a_clean_check(change, warning):
    """Each variable really reaches its setting: leave one out and the check says so."""
    environment = {**PRODUCTION, **change}

    result = check_deploy(**environment)

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


@pytest.fixture
def production_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_over_plain_http_with_the_https_redirect_on(
    db, production_https, path
):
    """Load balancers probe over plain HTTP from inside: a redirect would read as down."""
    response = APIClient().get(path)

    assert response.status_code == 200, response.content


def test_everything_else_is_redirected_to_https_and_answered_with_hsts_there(db, production_https):
    plain = APIClient().get("/api/integration/whoami")
    behind_the_proxy = APIClient().get("/api/integration/whoami", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert behind_the_proxy.status_code == 401
    assert behind_the_proxy["Strict-Transport-Security"].startswith("max-age=31536000")
