"""Per-gateway throttling (docs/api.md: 429 THROTTLED with Retry-After).

The rate is read from settings on every request, so each test sets a low one.
The count lives in Django's cache, cleared around every test.
"""

import logging
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.test import override_settings
from rest_framework.test import APIClient

from execution.models import DataValue
from integration.gateways.throttling import GatewayKeyRateThrottle
from integration.models import DeviceDataRecord, GatewayKey, IntegrationMessage
from mes.api import cache_outage
from tests.conftest import make_event
from tests.factories import UserFactory, gateway_with_key

URL = "/api/integration/device-data"
WHOAMI = "/api/integration/whoami"
REDIS_URL = "redis://127.0.0.1:6379/15"
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mes-throttle-test",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}


@pytest.fixture(autouse=True)
def low_rate(settings):
    settings.GATEWAY_THROTTLE_RATE = "3/min"
    cache.clear()
    yield settings
    cache.clear()


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def counts() -> tuple[int, int, int]:
    return (
        DeviceDataRecord.objects.count(),
        DataValue.objects.count(),
        IntegrationMessage.objects.count(),
    )


def post(client, event_id: str):
    return client.post(URL, make_event(eventId=event_id), format="json")


def assert_throttled(response):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["ok"] is False and "data" not in body
    assert body["error"]["code"] == "THROTTLED"
    retry_after = int(response["Retry-After"])
    # A sliding window of one minute: never more than two minutes away.
    assert 1 <= retry_after <= 120, retry_after
    return retry_after


def test_the_fourth_request_in_a_minute_is_throttled_and_writes_nothing(line):
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)

    accepted = [post(client, f"evt-{n}") for n in range(3)]
    before = counts()
    refused = post(client, "evt-4")

    assert [response.status_code for response in accepted] == [200, 200, 200]
    assert_throttled(refused)
    assert counts() == before == (3, 3, 3)
    assert not DeviceDataRecord.objects.filter(event_id="evt-4").exists()
    assert not IntegrationMessage.objects.filter(business_key="device-data:evt-4").exists()


def test_every_request_of_a_key_counts_whatever_it_sends(line):
    """The limit is per key, whatever it sends: a key probing whoami or sending
    malformed or unresolvable events uses up its rate too. (A request the key may
    not make at all is refused with 403 before it is counted, as DRF orders it.)"""
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)

    assert client.get(WHOAMI).status_code == 200
    assert client.post(URL, {"eventId": 1}, format="json").status_code == 400
    assert client.post(URL, make_event(unitSn="SN-NONE"), format="json").status_code == 422
    before = counts()

    assert_throttled(post(client, "evt-late"))
    assert counts() == before == (0, 0, 1)  # the 422's FAILED message only


def test_throttled_requests_do_not_extend_the_wait(line):
    """A gateway that keeps retrying while throttled is not locked out for longer."""
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)
    for n in range(3):
        post(client, f"evt-{n}")

    first_wait = assert_throttled(post(client, "evt-x"))
    for _ in range(20):
        assert_throttled(post(client, "evt-x"))
    last_wait = assert_throttled(post(client, "evt-x"))

    assert last_wait <= first_wait
    assert counts() == (3, 3, 3)


def test_another_key_is_not_affected(line):
    _user_a, key_a = gateway_with_key("gw-a")
    _user_b, key_b = gateway_with_key("gw-b")
    client_a, client_b = key_client(key_a), key_client(key_b)
    for n in range(3):
        post(client_a, f"evt-a-{n}")
    assert_throttled(post(client_a, "evt-a-4"))

    responses = [post(client_b, f"evt-b-{n}") for n in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert_throttled(post(client_b, "evt-b-4"))
    assert DeviceDataRecord.objects.filter(sent_by__username="gw-b").count() == 3
    assert not DeviceDataRecord.objects.filter(event_id__in=["evt-a-4", "evt-b-4"]).exists()


def test_a_rekeyed_gateway_starts_a_fresh_count(line):
    """The count is per key (its prefix), so a new key is not throttled by the old one's."""
    from integration.gateways.keys import issue_gateway_key

    user, old_key = gateway_with_key("gw-a")
    for n in range(3):
        post(key_client(old_key), f"evt-{n}")

    new_key = issue_gateway_key(user)

    assert post(key_client(new_key), "evt-new").status_code == 200


@pytest.mark.parametrize("group", ["Integration admins", None])
def test_signed_in_people_are_not_throttled(line, group):
    user = UserFactory(
        username="person",
        is_superuser=group is None,
        is_staff=True,
        groups=[group] if group else [],
    )
    client = APIClient()
    client.force_login(user)

    responses = [post(client, f"evt-{n}") for n in range(6)]
    reads = [client.get(URL) for _ in range(6)]

    assert {response.status_code for response in responses + reads} == {200}
    assert DeviceDataRecord.objects.count() == 6


def test_anonymous_clients_get_401_not_429(line):
    client = APIClient()
    responses = [post(client, f"evt-{n}") for n in range(5)]

    assert {response.status_code for response in responses} == {401}
    assert counts() == (0, 0, 0)


def test_the_rate_is_read_on_each_request(line, settings):
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)
    for n in range(3):
        post(client, f"evt-{n}")
    assert_throttled(post(client, "evt-3"))

    settings.GATEWAY_THROTTLE_RATE = "5/min"

    assert post(client, "evt-3").status_code == 200
    assert post(client, "evt-4").status_code == 200
    assert_throttled(post(client, "evt-5"))


def test_the_count_is_two_integers_per_key_not_a_list_per_request(line, settings):
    """DRF's SimpleRateThrottle stores one timestamp per request: at the default
    60,000 a minute that is a list of 60,000 floats read and written on every
    request. This throttle keeps a counter per window, whatever the rate."""
    settings.GATEWAY_THROTTLE_RATE = "60000/min"
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)
    prefix = key.split(".")[0]

    for _ in range(25):
        assert client.get(WHOAMI).status_code == 200

    throttle = GatewayKeyRateThrottle()
    now = throttle.timer()
    window = int(now // 60)
    base = f"throttle:gateway:{prefix}"
    stored = {name: cache.get(name) for name in (f"{base}:{window}", f"{base}:{window - 1}", base)}
    # All 25 in this window, or split across a minute boundary while the test ran.
    values = [value for value in stored.values() if value is not None]
    assert all(isinstance(value, int) for value in values), stored
    assert sum(values) == 25


def fake_request(prefix: str):
    return SimpleNamespace(auth=GatewayKey(prefix=prefix), user=None)


def test_retry_after_is_when_the_sliding_window_lets_the_next_request_through(monkeypatch):
    """3 a minute, all three at the start of a window: the window-weighted count
    drops below the limit a third of a minute into the next window."""
    request = fake_request("abc")
    start = 6000.0  # the start of a one-minute window
    monkeypatch.setattr(GatewayKeyRateThrottle, "timer", lambda self: start + 1)

    verdicts = []
    for _ in range(4):
        throttle = GatewayKeyRateThrottle()
        verdicts.append(throttle.allow_request(request, None))
    assert verdicts == [True, True, True, False]
    assert throttle.wait() == 59 + 20

    # At the advertised time the next request goes through, and not a second before.
    monkeypatch.setattr(GatewayKeyRateThrottle, "timer", lambda self: start + 1 + 79 - 1)
    assert GatewayKeyRateThrottle().allow_request(request, None) is False
    monkeypatch.setattr(GatewayKeyRateThrottle, "timer", lambda self: start + 1 + 79)
    assert GatewayKeyRateThrottle().allow_request(request, None) is True


def test_an_unreachable_cache_lets_requests_through_and_logs_it(line, settings, caplog):
    """The limit protects the service; a cache outage must not stop data coming in."""
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    _user, key = gateway_with_key("gw-a")
    client = key_client(key)

    cache_outage._last_warning = 0.0
    with override_settings(CACHES=unreachable), caplog.at_level(logging.WARNING, "mes.api"):
        responses = [post(client, f"evt-{n}") for n in range(5)]

    assert [response.status_code for response in responses] == [200] * 5
    assert DeviceDataRecord.objects.count() == 5
    # Said once, not once per request: an outage must not flood the log.
    assert caplog.text.count("cache unavailable") == 1


def test_the_rate_and_a_shared_cache_are_set_by_environment():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.GATEWAY_THROTTLE_RATE, s.CACHES['default']['BACKEND']]))"
    )
    env = {
        **os.environ,
        "SECRET_KEY": "test-only",
        "DJANGO_SETTINGS_MODULE": "mes.settings",
        "GATEWAY_THROTTLE_RATE": "1000/s",
        "CACHE_URL": "redis://127.0.0.1:6379/3",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '["1000/s", "django.core.cache.backends.redis.RedisCache"]'

    env["GATEWAY_THROTTLE_RATE"] = "fast"
    refused = subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "GATEWAY_THROTTLE_RATE" in refused.stderr


# --- A shared cache: Redis -----------------------------------------------------------


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


requires_redis = pytest.mark.skipif(
    not redis_reachable(), reason=f"no Redis server answers at {REDIS_URL}"
)


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = REDIS_CACHES  # resets Django's cache connections
    cache.clear()
    yield
    cache.clear()


@requires_redis
def test_with_redis_the_count_is_shared_by_separate_clients(line, redis_cache, settings):
    """Two app processes are two Redis clients of one server: each thread here has
    its own cache connection (Django's caches are per thread), as each gunicorn
    worker would. Requests through either count against one limit."""
    import redis

    _user, key = gateway_with_key("gw-a")
    prefix = key.split(".")[0]

    # "Worker 1": two requests through this thread's Redis client.
    first_client = caches["default"]
    assert [post(key_client(key), f"evt-{n}").status_code for n in range(2)] == [200, 200]

    # "Worker 2": a thread with its own Django cache object and Redis connection.
    seen = {}

    def second_worker():
        seen["client"] = caches["default"]
        throttle = GatewayKeyRateThrottle()
        request = fake_request(prefix)
        seen["verdicts"] = [throttle.allow_request(request, None) for _ in range(2)]

    thread = threading.Thread(target=second_worker)
    thread.start()
    thread.join(timeout=30)

    assert seen["client"] is not first_client
    # Worker 2 had room for one more (3 a minute), then the limit held.
    assert seen["verdicts"] == [True, False]
    # And worker 1 sees worker 2's request: its next is refused.
    assert_throttled(post(key_client(key), "evt-3"))
    assert DeviceDataRecord.objects.count() == 2

    # The count is in Redis itself, where a raw client can read it.
    raw = redis.Redis.from_url(REDIS_URL)
    stored = [name for name in raw.keys("*") if prefix.encode() in name]
    assert stored, raw.keys("*")


@requires_redis
def test_with_redis_concurrent_clients_never_let_more_than_the_rate_through(redis_cache, settings):
    """Increments are atomic in Redis: 8 threads, each with its own connection,
    making 100 checks at once let exactly the rate through."""
    settings.GATEWAY_THROTTLE_RATE = "40/hour"
    request = fake_request("concurrent")
    barrier = threading.Barrier(8)
    allowed = []
    lock = threading.Lock()

    def worker():
        barrier.wait(timeout=30)
        mine = sum(GatewayKeyRateThrottle().allow_request(request, None) for _ in range(13))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(allowed) == 8
    # Within one hour-long window (a boundary could split them, and then the
    # previous window's weight keeps the total at most the rate as well).
    assert sum(allowed) == 40


def test_with_the_local_memory_cache_each_process_counts_alone(line, settings):
    """The contrast: two processes with the default cache keep two counts (docs/api.md),
    shown with two separate local-memory caches."""
    _user, key = gateway_with_key("gw-a")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "p1"}
    }
    cache.clear()
    first = [post(key_client(key), f"evt-1-{n}").status_code for n in range(4)]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "p2"}
    }
    cache.clear()
    second = [post(key_client(key), f"evt-2-{n}").status_code for n in range(4)]

    assert first == second == [200, 200, 200, 429]
