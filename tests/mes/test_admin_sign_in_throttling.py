"""Password guessing on the admin's sign-in form is slowed (django-axes, mes/settings.py).

After ADMIN_LOGIN_FAILURE_LIMIT wrong passwords (10 by default) a user is refused from
that address, even with the right password, while the same user signs in from
elsewhere; every failure and the lockout are logged with the client's address, taken
from the trusted proxy only (mes/client_address.py); `axes_reset` unlocks. Through
the real sign-in form (Django's test client posting to /admin/login/).
"""

import json
import logging
import os
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory, gateway_with_key

LOGIN = "/admin/login/"
PASSWORD = "correct-horse-battery"  # tests/factories.py's UserFactory
GUESSER = "203.0.113.7"
ELSEWHERE = "198.51.100.4"


@pytest.fixture
def person(db):
    return UserFactory(username="quality-lead", is_staff=True, groups=["Quality staff"])


def sign_in(client, username, password, **meta):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, **meta
    )


def sign_in_events(caplog, event):
    """The structured log lines of mes/sign_in_throttling.py named `event`."""
    return [
        record.msg
        for record in caplog.records
        if record.name == "mes.sign_in" and isinstance(record.msg, dict)
        and record.msg.get("event") == event
    ]  # fmt: skip


def test_twenty_wrong_passwords_lock_that_user_out_from_that_address(client, person, caplog):
    caplog.set_level(logging.WARNING, logger="mes.sign_in")

    answers = [
        sign_in(client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER) for n in range(20)
    ]
    right_password = sign_in(client, person.username, PASSWORD, REMOTE_ADDR=GUESSER)

    assert settings.AXES_FAILURE_LIMIT == 10
    # The first nine show the form again; from the tenth on, the lockout page.
    assert [answer.status_code for answer in answers] == [200] * 9 + [429] * 11
    assert b"Please enter the correct username and password" in answers[0].content
    assert right_password.status_code == 429
    page = right_password.content.decode()
    assert "Too many wrong passwords for <strong>quality-lead</strong>" in page
    assert "even with the right password" in page
    assert "Try again in 15 minutes" in page
    assert "SMT MES back office" in page  # the back office's own page, not a bare text
    assert "_auth_user_id" not in client.session

    failures = sign_in_events(caplog, "sign-in failed")
    assert len(failures) == 21
    assert {(line["username"], line["client_address"]) for line in failures} == {
        ("quality-lead", GUESSER)
    }
    (lockout,) = sign_in_events(caplog, "sign-in locked out")
    assert (lockout["username"], lockout["client_address"]) == ("quality-lead", GUESSER)
    assert lockout["failure_limit"] == 10


def test_the_locked_out_user_still_signs_in_from_another_address(client, person):
    for n in range(10):
        sign_in(client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER)
    assert sign_in(client, person.username, PASSWORD, REMOTE_ADDR=GUESSER).status_code == 429

    answer = sign_in(client, person.username, PASSWORD, REMOTE_ADDR=ELSEWHERE)

    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"


def test_another_user_from_the_guessers_address_still_signs_in(client, person):
    other = UserFactory(username="integration-lead", is_staff=True)
    for n in range(10):
        sign_in(client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER)

    assert sign_in(client, other.username, PASSWORD, REMOTE_ADDR=GUESSER).status_code == 302


@pytest.mark.parametrize(
    "command",
    [["axes_reset"], ["axes_reset_username", "quality-lead"], ["axes_reset_ip", GUESSER]],
    ids=["axes_reset", "axes_reset_username", "axes_reset_ip"],
)
def test_an_administrator_unlocks_with_axes_reset(client, person, command):
    for n in range(10):
        sign_in(client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER)
    assert sign_in(client, person.username, PASSWORD, REMOTE_ADDR=GUESSER).status_code == 429

    call_command(*command)

    assert AccessAttempt.objects.count() == 0
    assert sign_in(client, person.username, PASSWORD, REMOTE_ADDR=GUESSER).status_code == 302


def test_a_right_password_before_the_limit_starts_the_count_again(client, person):
    for n in range(9):
        sign_in(client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER)
    assert sign_in(client, person.username, PASSWORD, REMOTE_ADDR=GUESSER).status_code == 302
    client.logout()

    answers = [
        sign_in(client, person.username, f"again-{n}", REMOTE_ADDR=GUESSER) for n in range(9)
    ]

    assert [answer.status_code for answer in answers] == [200] * 9


# --- the address: from the trusted proxy only ---------------------------------------------------


def test_behind_the_trusted_proxy_the_forwarded_address_is_the_one_locked_out(
    client, person, caplog
):
    caplog.set_level(logging.WARNING, logger="mes.sign_in")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}  # FORWARDED_ALLOW_IPS' default

    for n in range(10):
        sign_in(client, person.username, f"guess-{n}", HTTP_X_FORWARDED_FOR=GUESSER, **proxy)

    locked = sign_in(client, person.username, PASSWORD, HTTP_X_FORWARDED_FOR=GUESSER, **proxy)
    # The proxy appends the address it saw: a forged one on the left changes nothing.
    forged = sign_in(
        client, person.username, PASSWORD, HTTP_X_FORWARDED_FOR=f"10.9.9.9, {GUESSER}", **proxy
    )
    other = sign_in(client, person.username, PASSWORD, HTTP_X_FORWARDED_FOR=ELSEWHERE, **proxy)
    assert (locked.status_code, forged.status_code, other.status_code) == (429, 429, 302)
    (lockout,) = sign_in_events(caplog, "sign-in locked out")
    assert lockout["client_address"] == GUESSER


def test_a_client_reaching_the_server_directly_cannot_choose_its_address(client, person):
    # Not a trusted proxy: its X-Forwarded-For is ignored, however it changes.
    answers = [
        sign_in(
            client,
            person.username,
            f"guess-{n}",
            REMOTE_ADDR=GUESSER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
        for n in range(10)
    ]

    assert answers[-1].status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [GUESSER]


def test_a_guesser_changing_its_user_agent_is_counted_all_the_same(client, person):
    answers = [
        sign_in(
            client, person.username, f"guess-{n}", REMOTE_ADDR=GUESSER, HTTP_USER_AGENT=f"bot/{n}"
        )
        for n in range(10)
    ]

    assert answers[-1].status_code == 429


# --- what it leaves alone ------------------------------------------------------------------------


def test_a_gateways_key_still_works_when_its_name_is_locked_out_of_the_admin(db, client):
    user, key = gateway_with_key("gw-reflow-1")
    for n in range(12):
        sign_in(client, user.username, f"guess-{n}", REMOTE_ADDR="127.0.0.1")
    assert sign_in(client, user.username, "x", REMOTE_ADDR="127.0.0.1").status_code == 429

    api = APIClient(REMOTE_ADDR="127.0.0.1")
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    answer = api.get("/api/integration/whoami")

    assert answer.status_code == 200, answer.content
    assert answer.json()["data"]["name"] == "gw-reflow-1"


def test_the_limit_and_the_cooloff_are_set_by_environment():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.AXES_FAILURE_LIMIT, str(s.AXES_COOLOFF_TIME)]))"
    )

    def settings_with(**variables):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "mes.settings", **variables},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert settings_with(ADMIN_LOGIN_FAILURE_LIMIT="", ADMIN_LOGIN_COOLOFF_MINUTES="") == [
        10,
        "0:15:00",
    ]
    assert settings_with(ADMIN_LOGIN_FAILURE_LIMIT="3", ADMIN_LOGIN_COOLOFF_MINUTES="0") == [
        3,
        "None",
    ]
