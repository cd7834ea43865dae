"""Gateway keys and who may do what (docs/operations.md: permissions; docs/api.md: 401, 403)."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from execution.models import DataValue
from integration.gateways.authentication import GatewayKeyAuthentication
from integration.gateways.keys import issue_gateway_key, revoke_gateway_key
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, GatewayKey, IntegrationMessage
from tests.conftest import make_event
from tests.factories import gateway_with_key
from tests.postgres import needs_postgresql, second_session

LIST_URL = "/api/integration/device-data"
WHOAMI_URL = "/api/integration/whoami"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def key_client(key: str, scheme: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def create_gateway_by_command(name: str) -> tuple[str, str]:
    """Run the command; return its whole output and the key on its last line."""
    out = StringIO()
    call_command("create_gateway", name, stdout=out)
    output = out.getvalue()
    return output, output.splitlines()[-1]


def assert_not_authenticated(response):
    assert response.status_code == 401, response.content
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert response["WWW-Authenticate"]


def nothing_written():
    return not (
        DeviceDataRecord.objects.exists()
        or IntegrationMessage.objects.exists()
        or DataValue.objects.exists()
    )


# --- create_gateway and key storage --------------------------------------------------


def test_create_gateway_makes_a_user_in_the_gateways_group_and_prints_the_key_last(db):
    output, key = create_gateway_by_command("gw-x")

    user = get_user_model().objects.get(username="gw-x")
    assert list(user.groups.values_list("name", flat=True)) == ["Gateways"]
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser
    assert output.endswith(key + "\n")
    assert output.count(key) == 1
    assert re.fullmatch(r"[0-9a-f]+\.[A-Za-z0-9_-]{32,}", key)
    assert GatewayKey.objects.get(user=user).prefix == key.split(".")[0]


def test_the_database_holds_only_a_sha256_digest_of_the_key(db):
    _output, key = create_gateway_by_command("gw-x")
    prefix, secret = key.split(".")

    row = GatewayKey.objects.get(user__username="gw-x")
    assert SHA256_HEX.match(row.digest)
    assert row.digest != key
    for value in (row.prefix, row.digest, str(row.created_at), str(row.rotated_at)):
        assert secret not in value
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(GatewayKey._meta.db_table)}")
        rows = cursor.fetchall()
    assert len(rows) == 1
    raw = " ".join(str(column) for column in rows[0])
    assert key not in raw
    assert secret not in raw
    assert row.digest in raw


def test_the_key_is_not_stored_in_clear_anywhere_in_the_user_row(db):
    _output, key = create_gateway_by_command("gw-x")
    secret = key.split(".")[1]

    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        raw = " ".join(str(column) for row in cursor.fetchall() for column in row)
    assert "gw-x" in raw
    assert secret not in raw


def test_creating_a_gateway_with_an_existing_name_fails_and_keeps_the_old_key(db):
    _output, key = create_gateway_by_command("gw-x")
    before = GatewayKey.objects.get(user__username="gw-x")

    with pytest.raises(CommandError):
        call_command("create_gateway", "gw-x", stdout=StringIO())

    assert get_user_model().objects.filter(username="gw-x").count() == 1
    after = GatewayKey.objects.get(user__username="gw-x")
    assert (after.prefix, after.digest) == (before.prefix, before.digest)
    assert key_client(key).get(WHOAMI_URL).status_code == 200


# --- Authentication ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Token", "Api-Key"])
def test_the_printed_key_authenticates_with_either_scheme(line, scheme):
    _output, key = create_gateway_by_command("gw-x")
    client = key_client(key, scheme)

    whoami = client.get(WHOAMI_URL)
    posted = client.post(LIST_URL, make_event(), format="json")

    assert whoami.status_code == 200, whoami.content
    assert whoami.json()["data"]["name"] == "gw-x"
    assert posted.status_code == 200, posted.content
    record = DeviceDataRecord.objects.get(event_id="evt-0001")
    assert record.sent_by.username == "gw-x"


def test_a_wrong_secret_with_the_right_prefix_is_not_authenticated(line):
    _output, key = create_gateway_by_command("gw-x")
    prefix = key.split(".")[0]

    response = key_client(f"{prefix}.not-the-secret-at-all").post(
        LIST_URL, make_event(), format="json"
    )

    assert_not_authenticated(response)
    assert nothing_written()
    assert GatewayKey.objects.get(user__username="gw-x").last_used_at is None


@pytest.mark.parametrize(
    "authorization",
    ["Token", "Token a b", "Token no-dot-in-this-key", "Api-Key .secret", "Token ünïcode.x"],
)
def test_a_malformed_key_header_is_not_authenticated(line, authorization):
    gateway_with_key("gw-x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)

    response = client.post(LIST_URL, make_event(), format="json")

    assert_not_authenticated(response)
    assert nothing_written()


def test_no_credentials_are_not_authenticated(line):
    response = APIClient().post(LIST_URL, make_event(), format="json")

    assert_not_authenticated(response)
    assert nothing_written()


def test_a_revoked_key_is_refused_on_the_next_request(line):
    user, key = gateway_with_key("gw-x")
    client = key_client(key)
    assert client.post(LIST_URL, make_event(eventId="evt-1"), format="json").status_code == 200

    assert revoke_gateway_key(user) is True
    response = client.post(LIST_URL, make_event(eventId="evt-2"), format="json")

    assert_not_authenticated(response)
    assert list(DeviceDataRecord.objects.values_list("event_id", flat=True)) == ["evt-1"]
    assert GatewayKey.objects.get(user=user).revoked_at is not None
    assert revoke_gateway_key(user) is False


def test_a_rekeyed_gateway_is_refused_with_the_old_key_and_accepted_with_the_new(line):
    user, old_key = gateway_with_key("gw-x")
    assert key_client(old_key).get(WHOAMI_URL).status_code == 200

    new_key = issue_gateway_key(user)
    old = key_client(old_key).post(LIST_URL, make_event(eventId="evt-old"), format="json")
    new = key_client(new_key).post(LIST_URL, make_event(eventId="evt-new"), format="json")

    assert new_key != old_key
    assert_not_authenticated(old)
    assert new.status_code == 200, new.content
    assert list(DeviceDataRecord.objects.values_list("event_id", flat=True)) == ["evt-new"]
    assert GatewayKey.objects.filter(user=user).count() == 1


def test_rekeying_a_revoked_gateway_gives_it_a_working_key_again(line):
    user, _key = gateway_with_key("gw-x")
    revoke_gateway_key(user)

    new_key = issue_gateway_key(user)
    response = key_client(new_key).post(LIST_URL, make_event(), format="json")

    assert response.status_code == 200, response.content
    assert GatewayKey.objects.get(user=user).revoked_at is None
    assert DeviceDataRecord.objects.get().sent_by == user


def test_an_inactive_gateway_user_is_not_authenticated(line):
    user, key = gateway_with_key("gw-x")
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)

    response = key_client(key).post(LIST_URL, make_event(), format="json")

    assert_not_authenticated(response)
    assert nothing_written()


# --- Permissions ---------------------------------------------------------------------


def test_a_gateway_may_post_an_event_but_not_read_the_list(line, gateway_client):
    posted = gateway_client.post(LIST_URL, make_event(), format="json")
    listed = gateway_client.get(LIST_URL)
    messages = gateway_client.get("/api/integration/messages")

    assert posted.status_code == 200, posted.content
    record = DeviceDataRecord.objects.get()
    for response in (listed, messages, gateway_client.get(f"{LIST_URL}/{record.pk}")):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "PERMISSION_DENIED"
        assert "data" not in response.json()
    assert record.sent_by == gateway_client.user


def test_quality_staff_may_read_but_not_post_and_nothing_is_written(line, quality_client):
    listed = quality_client.get(LIST_URL)
    posted = quality_client.post(LIST_URL, make_event(), format="json")

    assert listed.status_code == 200, listed.content
    assert listed.json()["data"]["total"] == 0
    assert posted.status_code == 403, posted.content
    assert posted.json()["error"]["code"] == "PERMISSION_DENIED"
    assert nothing_written()
    assert quality_client.get("/api/integration/messages").json()["data"]["total"] == 0


def test_an_integration_admin_may_post_and_read(line, integration_admin_client):
    posted = integration_admin_client.post(LIST_URL, make_event(), format="json")
    listed = integration_admin_client.get(LIST_URL)
    messages = integration_admin_client.get("/api/integration/messages")

    assert posted.status_code == 200, posted.content
    record = DeviceDataRecord.objects.get()
    assert record.sent_by == integration_admin_client.user
    assert [item["id"] for item in listed.json()["data"]["items"]] == [str(record.pk)]
    assert [item["sentBy"] for item in messages.json()["data"]["items"]] == ["integration-1"]


@pytest.mark.parametrize(
    "path", [LIST_URL, "/api/integration/messages", WHOAMI_URL, f"{LIST_URL}/1"]
)
def test_an_anonymous_client_is_not_authenticated(line, path):
    response = APIClient().get(path)

    assert_not_authenticated(response)
    assert "data" not in response.json()


def test_a_person_without_any_role_is_refused_both_ways(line):
    user = get_user_model().objects.create_user(username="visitor", password="x-long-pass-1")
    client = APIClient()
    client.force_login(user)

    listed = client.get(LIST_URL)
    posted = client.post(LIST_URL, make_event(), format="json")

    assert listed.status_code == posted.status_code == 403
    assert nothing_written()


# --- whoami --------------------------------------------------------------------------


def test_whoami_names_a_gateway_that_may_ingest_but_not_read(gateway_client):
    response = gateway_client.get(WHOAMI_URL)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "data": {"name": "gw-reflow-1", "kind": "gateway", "canIngest": True, "canRead": False},
    }
    assert gateway_client.user.groups.get().name == "Gateways"


def test_whoami_names_quality_staff_as_a_user_who_may_read_but_not_ingest(quality_client):
    response = quality_client.get(WHOAMI_URL)

    assert response.json() == {
        "ok": True,
        "data": {"name": "quality-1", "kind": "user", "canIngest": False, "canRead": True},
    }
    assert not GatewayKey.objects.filter(user=quality_client.user).exists()


def test_whoami_names_an_integration_admin_as_a_user_who_may_do_both(integration_admin_client):
    response = integration_admin_client.get(WHOAMI_URL)

    assert response.json()["data"] == {
        "name": "integration-1",
        "kind": "user",
        "canIngest": True,
        "canRead": True,
    }
    assert not GatewayKey.objects.filter(user=integration_admin_client.user).exists()


# --- Who sent it ---------------------------------------------------------------------


def test_records_and_messages_written_by_a_gateway_name_that_gateway(line, gateway_client):
    other_user, other_key = gateway_with_key("gw-other")
    gateway_client.post(LIST_URL, make_event(eventId="evt-1"), format="json")
    gateway_client.post(LIST_URL, make_event(eventId="evt-1"), format="json")  # duplicate
    failed = gateway_client.post(
        LIST_URL, make_event(eventId="evt-2", unitSn="SN-NONE"), format="json"
    )
    key_client(other_key).post(LIST_URL, make_event(eventId="evt-3"), format="json")

    assert failed.status_code == 422
    gateway = gateway_client.user
    assert DeviceDataRecord.objects.get(event_id="evt-1").sent_by == gateway
    assert DeviceDataRecord.objects.get(event_id="evt-3").sent_by == other_user
    mine = IntegrationMessage.objects.filter(sent_by=gateway)
    assert sorted(mine.values_list("status", "business_key")) == [
        ("DUPLICATE", "device-data:evt-1"),
        ("FAILED", "device-data:evt-2"),
        ("SUCCESS", "device-data:evt-1"),
    ]
    assert list(
        IntegrationMessage.objects.filter(sent_by=other_user).values_list("status", flat=True)
    ) == ["SUCCESS"]


def test_the_service_names_the_sender_given_to_it(line, gateway):
    with pytest.raises(EventRefused):
        receive_device_event(make_event(unitSn="SN-NONE"), sent_by=gateway)
    outcome = receive_device_event(make_event(eventId="evt-ok"), sent_by=gateway)

    assert outcome.record.sent_by == gateway
    assert set(IntegrationMessage.objects.values_list("sent_by__username", flat=True)) == {
        "gw-reflow-1"
    }


# --- last_used_at --------------------------------------------------------------------


def test_last_used_at_is_set_on_first_use_and_not_rewritten_within_a_minute(db):
    user, key = gateway_with_key("gw-x")
    assert GatewayKey.objects.get(user=user).last_used_at is None
    client = key_client(key)

    before = timezone.now()
    assert client.get(WHOAMI_URL).status_code == 200
    first = GatewayKey.objects.get(user=user).last_used_at
    assert first is not None
    assert before <= first <= timezone.now()

    assert client.get(WHOAMI_URL).status_code == 200
    assert GatewayKey.objects.get(user=user).last_used_at == first


def test_last_used_at_moves_on_once_the_last_write_is_over_a_minute_old(db):
    user, key = gateway_with_key("gw-x")
    client = key_client(key)
    client.get(WHOAMI_URL)
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    # Saved through the ORM, as anything in this process changes a key: the process stops
    # using the row and the last use it kept (a minute cannot be waited for here).
    gateway_key = GatewayKey.objects.get(user=user)
    gateway_key.last_used_at = two_minutes_ago
    gateway_key.save(update_fields=["last_used_at"])

    before = timezone.now()
    assert client.get(WHOAMI_URL).status_code == 200

    moved = GatewayKey.objects.get(user=user).last_used_at
    assert moved > two_minutes_ago
    assert before <= moved <= timezone.now()


def test_a_refused_key_does_not_touch_last_used_at(db):
    user, key = gateway_with_key("gw-x")
    revoke_gateway_key(user)

    assert_not_authenticated(key_client(key).get(WHOAMI_URL))
    assert GatewayKey.objects.get(user=user).last_used_at is None


# --- a session the server ended ------------------------------------------------------


@needs_postgresql("a session ended by the server (pg_terminate_backend)")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_looked_up_on_a_session_the_server_ended_is_looked_up_again_on_a_new_one(
    settings,
):
    """Straight through the authentication, with no request_started before it (which
    would replace the connection first: mes/idle_connections.py)."""
    settings.GATEWAY_KEY_CACHE_MS = 0
    user, key = gateway_with_key("gw-x")
    connection.ensure_connection()
    ended = connection.connection.info.backend_pid
    with second_session() as session:
        session.execute("SELECT pg_terminate_backend(%s, 5000)", [ended])
    request = Request(APIRequestFactory().get(WHOAMI_URL, HTTP_AUTHORIZATION=f"Token {key}"))

    found, gateway_key = GatewayKeyAuthentication().authenticate(request)

    assert found == user and gateway_key.user_id == user.pk
    assert connection.connection.info.backend_pid != ended


@needs_postgresql("a table lock held by a second session, and a lock timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_the_database_cannot_look_up_now_is_a_503_that_says_nothing_was_written(line):
    _user, key = gateway_with_key("gw-x")
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        with second_session() as session:
            session.execute("BEGIN")
            session.execute("LOCK TABLE integration_gatewaykey IN ACCESS EXCLUSIVE MODE")
            response = key_client(key).post(LIST_URL, make_event(), format="json")
            session.execute("ROLLBACK")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {"cause": "lock timeout", "written": "nothing"}
    assert nothing_written()
