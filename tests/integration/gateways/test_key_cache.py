"""Gateway keys kept by the process for GATEWAY_KEY_CACHE_MS (integration/gateways/key_cache.py).

A change made "elsewhere" is an SQL UPDATE through the ORM's queryset, which sends no
signal: what another worker or server does, as far as this process can tell. Two real
gunicorn servers are in tests/deploy/test_key_revocation_across_servers.py.
"""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from integration.gateways.keys import find_gateway_key, issue_gateway_key, revoke_gateway_key
from integration.models import GatewayKey
from tests.factories import gateway_with_key

WHOAMI_URL = "/api/integration/whoami"


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def key_lookups(captured) -> int:
    return sum(
        "integration_gatewaykey k JOIN" in query["sql"] for query in captured.captured_queries
    )


def whoami(client) -> tuple[int, int]:
    """(status, key lookups the request made)."""
    with CaptureQueriesContext(connection) as captured:
        status = client.get(WHOAMI_URL).status_code
    return status, key_lookups(captured)


@pytest.fixture
def kept_for(settings):
    def keep(milliseconds: int) -> float:
        settings.GATEWAY_KEY_CACHE_MS = milliseconds
        return milliseconds / 1000

    return keep


def test_a_key_used_again_within_the_time_is_not_looked_up_again(db, kept_for):
    kept_for(2000)
    _user, key = gateway_with_key("gw-x")
    client = key_client(key)

    assert whoami(client) == (200, 1)
    assert whoami(client) == (200, 0)
    assert whoami(client) == (200, 0)


def test_a_key_is_looked_up_again_once_its_time_is_over(db, kept_for):
    seconds = kept_for(200)
    _user, key = gateway_with_key("gw-x")
    client = key_client(key)
    assert whoami(client) == (200, 1)

    time.sleep(seconds + 0.05)

    assert whoami(client) == (200, 1)
    assert whoami(client) == (200, 0)


def test_with_no_time_every_request_looks_its_key_up(db, kept_for):
    kept_for(0)
    _user, key = gateway_with_key("gw-x")
    client = key_client(key)

    assert [whoami(client) for _ in range(3)] == [(200, 1)] * 3


def test_a_key_revoked_elsewhere_is_refused_once_the_time_is_over(db, kept_for):
    seconds = kept_for(300)
    user, key = gateway_with_key("gw-x")
    client = key_client(key)
    assert whoami(client) == (200, 1)
    revoked_at = time.monotonic()

    GatewayKey.objects.filter(user=user).update(revoked_at=timezone.now())
    answers = []
    while time.monotonic() - revoked_at < seconds + 0.2:
        answers.append((time.monotonic() - revoked_at, whoami(client)[0]))
        time.sleep(0.02)

    # Accepted only within the time the row is kept, refused from then on.
    assert all(status == 401 for moment, status in answers if moment >= seconds), answers
    assert [status for _moment, status in answers][-1] == 401
    first_refused = next(index for index, (_m, status) in enumerate(answers) if status == 401)
    assert all(status == 401 for _m, status in answers[first_refused:]), answers


def test_a_gateway_deactivated_elsewhere_is_refused_once_the_time_is_over(db, kept_for):
    seconds = kept_for(200)
    user, key = gateway_with_key("gw-x")
    client = key_client(key)
    assert whoami(client) == (200, 1)

    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    time.sleep(seconds + 0.05)

    assert whoami(client) == (401, 1)


def test_a_key_rekeyed_or_deleted_elsewhere_is_refused_once_the_time_is_over(db, kept_for):
    seconds = kept_for(200)
    rekeyed, rekeyed_key = gateway_with_key("gw-rekeyed")
    deleted, deleted_key = gateway_with_key("gw-deleted")
    for key in (rekeyed_key, deleted_key):
        assert whoami(key_client(key)) == (200, 1)

    GatewayKey.objects.filter(user=rekeyed).update(prefix="elsewhere1", digest="0" * 64)
    GatewayKey.objects.filter(user=deleted)._raw_delete(connection.alias)  # no signal
    time.sleep(seconds + 0.05)

    assert whoami(key_client(rekeyed_key)) == (401, 1)
    assert whoami(key_client(deleted_key)) == (401, 1)


def test_a_change_made_in_this_process_is_refused_on_the_next_request(db, kept_for):
    kept_for(2000)
    revoked, revoked_key = gateway_with_key("gw-revoked")
    rekeyed, old_key = gateway_with_key("gw-rekeyed")
    deactivated, deactivated_key = gateway_with_key("gw-deactivated")
    for key in (revoked_key, old_key, deactivated_key):
        assert whoami(key_client(key)) == (200, 1)

    revoke_gateway_key(revoked)
    new_key = issue_gateway_key(rekeyed)
    deactivated.is_active = False
    deactivated.save()  # as the admin's user page saves it

    assert whoami(key_client(revoked_key))[0] == 401
    assert whoami(key_client(old_key))[0] == 401
    assert whoami(key_client(deactivated_key))[0] == 401
    assert whoami(key_client(new_key))[0] == 200


def test_a_wrong_secret_behind_a_kept_prefix_is_refused(db, kept_for):
    kept_for(2000)
    _user, key = gateway_with_key("gw-x")
    assert whoami(key_client(key)) == (200, 1)
    prefix = key.partition(".")[0]

    assert whoami(key_client(f"{prefix}.not-the-secret")) == (401, 0)
    assert whoami(key_client(key)) == (200, 0)


def test_a_key_refused_by_its_secret_is_not_kept(db, kept_for):
    kept_for(2000)
    _user, key = gateway_with_key("gw-x")
    prefix = key.partition(".")[0]

    assert whoami(key_client(f"{prefix}.not-the-secret")) == (401, 1)
    assert whoami(key_client(f"{prefix}.not-the-secret")) == (401, 1)


def test_kept_keys_write_the_last_use_once_not_per_request(db, kept_for):
    kept_for(2000)
    user, key = gateway_with_key("gw-x")
    client = key_client(key)

    with CaptureQueriesContext(connection) as captured:
        statuses = [client.get(WHOAMI_URL).status_code for _ in range(5)]

    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert statuses == [200] * 5
    assert len(writes) == 1, writes
    assert GatewayKey.objects.get(user=user).last_used_at is not None


def test_each_request_gets_a_user_of_its_own(db, kept_for):
    """Django keeps a user's permissions on the instance (`_perm_cache`): a kept instance
    would keep them past the 30 s of mes/api/permissions.py."""
    kept_for(2000)
    _user, key = gateway_with_key("gw-x")
    first, second = find_gateway_key(key), find_gateway_key(key)

    assert first is not None and second is not None
    assert first.user is not second.user and first is not second
    first.user.get_all_permissions()
    assert not hasattr(second.user, "_perm_cache")


def test_a_time_over_two_seconds_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(GATEWAY_KEY_CACHE_MS="2500", SECRET_KEY="x" * 50, DATABASE_URL="sqlite://:memory:")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "GATEWAY_KEY_CACHE_MS must be between 0 and 2000" in result.stderr
