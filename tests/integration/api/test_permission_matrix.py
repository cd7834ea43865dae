"""Who may do what on every /api/ endpoint, cell by cell (docs/operations.md, docs/api.md).

Rows: the API's endpoints, the batch endpoint and the stations API included, and the
back office's Acknowledge and Replay buttons of a message. Columns: an anonymous
client, a gateway key, a Quality staff session, an Integration admins session, a
superuser session, a signed-in user in no group and an operator (the Operators group,
not staff). Each cell asserts the status, the envelope and what was written: a refused
POST writes nothing (no record, track, value or message), an accepted POST writes
exactly one record (or track), and no GET writes anything.
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from execution.models import DataValue, Track
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.factories import UserFactory, gateway_with_key, receive_traffic
from tests.route_line import build_route_line

LIST_URL = "/api/integration/device-data"

ANONYMOUS = "anonymous"
GATEWAY = "gateway"
QUALITY = "quality staff"
INTEGRATION_ADMIN = "integration admin"
SUPERUSER = "superuser"
NO_GROUP = "user in no group"
OPERATOR = "operator"
ROLES = [ANONYMOUS, GATEWAY, QUALITY, INTEGRATION_ADMIN, SUPERUSER, NO_GROUP, OPERATOR]

OK, UNAUTHENTICATED, FORBIDDEN = 200, 401, 403


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    # Expected status per role; the schema and the docs are open to everyone.
    expected: dict
    json: bool = True


INGEST = {
    ANONYMOUS: UNAUTHENTICATED,
    GATEWAY: OK,
    QUALITY: FORBIDDEN,
    INTEGRATION_ADMIN: OK,
    SUPERUSER: OK,
    NO_GROUP: FORBIDDEN,
    OPERATOR: FORBIDDEN,
}
READ = {
    ANONYMOUS: UNAUTHENTICATED,
    GATEWAY: FORBIDDEN,
    QUALITY: OK,
    INTEGRATION_ADMIN: OK,
    SUPERUSER: OK,
    NO_GROUP: FORBIDDEN,
    OPERATOR: FORBIDDEN,
}
# The stations API (docs/api.md "Stations"): operators track units; whoever may see
# tracks (quality staff, integration admins) reads. A gateway needs `track_units` given
# to it (tests/integration/api/test_stations_permissions.py).
TRACK = {
    ANONYMOUS: UNAUTHENTICATED,
    GATEWAY: FORBIDDEN,
    QUALITY: FORBIDDEN,
    INTEGRATION_ADMIN: FORBIDDEN,
    SUPERUSER: OK,
    NO_GROUP: FORBIDDEN,
    OPERATOR: OK,
}
READ_TRACKS = {**READ, OPERATOR: OK}
ANY_AUTHENTICATED = {role: OK for role in ROLES} | {ANONYMOUS: UNAUTHENTICATED}
PUBLIC = {role: OK for role in ROLES}

ENDPOINTS = [
    Endpoint("POST device-data", "post", LIST_URL, INGEST),
    Endpoint("POST device-data/batch", "post", LIST_URL + "/batch", INGEST),
    Endpoint("GET device-data", "get", LIST_URL, READ),
    Endpoint("GET device-data/{id}", "get", LIST_URL + "/{record_id}", READ),
    Endpoint("GET messages", "get", "/api/integration/messages", READ),
    Endpoint(
        "GET messages?acknowledged", "get", "/api/integration/messages?acknowledged=true", READ
    ),
    Endpoint("GET whoami", "get", "/api/integration/whoami", ANY_AUTHENTICATED),
    Endpoint("GET schema", "get", "/api/schema/", PUBLIC, json=False),
    Endpoint("GET docs", "get", "/api/docs/", PUBLIC, json=False),
]

CELLS = [
    pytest.param(endpoint, role, id=f"{endpoint.name} as {role}")
    for endpoint in ENDPOINTS
    for role in ROLES
]


def client_for(role: str, *, enforce_csrf_checks: bool = False) -> APIClient:
    client = APIClient(enforce_csrf_checks=enforce_csrf_checks)
    if role == ANONYMOUS:
        return client
    if role == GATEWAY:
        _user, key = gateway_with_key("gw-matrix")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client
    if role == SUPERUSER:
        user = get_user_model().objects.create_superuser("root", password="x-long-pass-1")
    else:
        groups = {
            QUALITY: ["Quality staff"],
            INTEGRATION_ADMIN: ["Integration admins"],
            OPERATOR: ["Operators"],
        }
        user = UserFactory(
            username=role.replace(" ", "-"),
            is_staff=role not in (NO_GROUP, OPERATOR),  # operators work at stations
            groups=groups.get(role),
        )
    client.force_login(user)  # a session, as the admin's users have
    return client


def counts() -> tuple[int, int, int]:
    return (
        DeviceDataRecord.objects.count(),
        DataValue.objects.count(),
        IntegrationMessage.objects.count(),
    )


@pytest.fixture
def existing_record(line):
    """One record already received, so detail and lists have something to show."""
    seeder, _key = gateway_with_key("gw-seed")
    return receive_device_event(make_event(eventId="evt-existing"), sent_by=seeder).record


@pytest.mark.parametrize(("endpoint", "role"), CELLS)
def test_permission_matrix_cell(existing_record, endpoint, role):
    client = client_for(role)
    before = counts()
    path = endpoint.path.format(record_id=existing_record.pk)

    if endpoint.method == "post":
        body = make_event(eventId="evt-matrix")
        if path.endswith("/batch"):
            body = {"events": [body]}
        response = client.post(path, body, format="json")
    else:
        response = client.get(path)

    expected = endpoint.expected[role]
    assert response.status_code == expected, response.content[:500]
    assert b"<html" not in response.content[:200].lower() or not endpoint.json

    if endpoint.json or expected != OK:
        body = response.json()
        assert body["ok"] is (expected == OK)
        if expected == UNAUTHENTICATED:
            assert body["error"]["code"] == "NOT_AUTHENTICATED"
            assert response["WWW-Authenticate"]
        elif expected == FORBIDDEN:
            assert body["error"]["code"] == "PERMISSION_DENIED"
        if expected != OK:
            assert "data" not in body

    if endpoint.method == "post" and expected == OK:
        record_count, value_count, message_count = before
        assert counts() == (record_count + 1, value_count + 1, message_count + 1)
        record = DeviceDataRecord.objects.get(event_id="evt-matrix")
        assert record.sent_by is not None
        answer = response.json()["data"]
        if path.endswith("/batch"):
            assert answer["summary"]["created"] == 1
            answer = answer["results"][0]["data"]
        assert answer["id"] == str(record.pk)
    else:
        assert counts() == before
        assert not DeviceDataRecord.objects.filter(event_id="evt-matrix").exists()


@pytest.mark.parametrize(
    ("role", "can_ingest", "can_read", "kind"),
    [
        (GATEWAY, True, False, "gateway"),
        (QUALITY, False, True, "user"),
        (INTEGRATION_ADMIN, True, True, "user"),
        (SUPERUSER, True, True, "user"),
        (NO_GROUP, False, False, "user"),
        (OPERATOR, False, False, "user"),
    ],
)
def test_whoami_tells_each_role_what_the_matrix_lets_it_do(db, role, can_ingest, can_read, kind):
    data = client_for(role).get("/api/integration/whoami").json()["data"]

    assert (data["canIngest"], data["canRead"], data["kind"]) == (can_ingest, can_read, kind)


@pytest.mark.parametrize("role", [INTEGRATION_ADMIN, SUPERUSER])
def test_a_session_post_without_a_csrf_token_is_refused_and_writes_nothing(line, role):
    """A browser session may ingest only with Django's CSRF token: a page on another
    site cannot make a signed-in admin's browser post events."""
    client = client_for(role, enforce_csrf_checks=True)

    response = client.post(LIST_URL, make_event(), format="json")

    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert "CSRF" in response.json()["error"]["message"]
    assert counts() == (0, 0, 0)


def test_a_gateway_key_needs_no_csrf_token(line):
    """Keys are not cookies: a browser never sends them on its own, so no CSRF check."""
    client = client_for(GATEWAY, enforce_csrf_checks=True)

    response = client.post(LIST_URL, make_event(), format="json")

    assert response.status_code == 200, response.content
    assert counts() == (1, 1, 1)


@pytest.mark.parametrize("role", ROLES[1:])
def test_a_key_header_that_fails_wins_over_a_valid_session(line, role):
    """A bad key is a 401 even from a signed-in browser: credentials that were
    presented and are wrong are never silently replaced by others."""
    client = client_for(role)
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789ab.not-a-valid-secret")

    response = client.post(LIST_URL, make_event(), format="json")

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert counts() == (0, 0, 0)


# The back office's two message buttons (issue 14): done, refused (403), or sent to sign in.
DONE, SIGN_IN = "done", "sign in"
MESSAGE_BUTTONS = {
    "acknowledge": {
        ANONYMOUS: SIGN_IN,
        GATEWAY: SIGN_IN,
        QUALITY: DONE,
        INTEGRATION_ADMIN: DONE,
        SUPERUSER: DONE,
        NO_GROUP: SIGN_IN,
        OPERATOR: SIGN_IN,
    },
    "replay": {
        ANONYMOUS: SIGN_IN,
        GATEWAY: SIGN_IN,
        QUALITY: FORBIDDEN,
        INTEGRATION_ADMIN: DONE,
        SUPERUSER: DONE,
        NO_GROUP: SIGN_IN,
        OPERATOR: SIGN_IN,
    },
}


@pytest.mark.parametrize(
    ("button", "role"),
    [
        pytest.param(button, role, id=f"{button} as {role}")
        for button in MESSAGE_BUTTONS
        for role in ROLES
    ],
)
def test_permission_matrix_of_the_message_buttons(line, button, role):
    seeder, _key = gateway_with_key("gw-seed")
    failed = receive_traffic(seeder).failed
    client = client_for(role)
    url = reverse(f"admin:integration_integrationmessage_{button}", args=[failed.pk])

    response = client.post(url, {"note": "checked"})

    expected = MESSAGE_BUTTONS[button][role]
    failed.refresh_from_db()
    done = failed.acknowledged_at is not None or failed.replays.exists()
    if expected == DONE:
        assert response.status_code == 302 and "/login/" not in response["Location"]
        assert done
    elif expected == SIGN_IN:
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        assert not done
    else:
        assert response.status_code == FORBIDDEN
        assert not done


# The stations API: the unit SN-MATRIX-1 is in station at SPI-01 (so it can be tracked
# out, resolved and asked for its specs); a track-in brings the new unit SN-MATRIX-2.
STATION_ENDPOINTS = [
    Endpoint("POST stations/{code}/track-in", "post", "/api/stations/SPI-01/track-in", TRACK),
    Endpoint("POST stations/{code}/track-out", "post", "/api/stations/SPI-01/track-out", TRACK),
    Endpoint(
        "GET stations/resolve-unit/{sn}",
        "get",
        "/api/stations/resolve-unit/SN-MATRIX-1",
        READ_TRACKS,
    ),
    Endpoint("GET stations/{code}/queue", "get", "/api/stations/SPI-01/queue", READ_TRACKS),
    Endpoint(
        "GET stations/{code}/units/{sn}/data-specs",
        "get",
        "/api/stations/SPI-01/units/SN-MATRIX-1/data-specs",
        READ_TRACKS,
    ),
]
STATION_BODIES = {
    "track-in": {"sn": "SN-MATRIX-2", "runNo": "RUN-TRACK-001"},
    "track-out": {"sn": "SN-MATRIX-1", "runNo": "RUN-TRACK-001", "result": "FAIL"},
}


def station_counts() -> tuple[int, int, int]:
    return (
        Track.objects.count(),
        Track.objects.filter(out_at=None).count(),
        IntegrationMessage.objects.count(),
    )


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [
        pytest.param(endpoint, role, id=f"{endpoint.name} as {role}")
        for endpoint in STATION_ENDPOINTS
        for role in ROLES
    ],
)
def test_permission_matrix_of_the_stations_api(db, endpoint, role):
    from integration.tracking.service import receive_track_in

    build_route_line()
    receive_track_in(
        {"sn": "SN-MATRIX-1", "runNo": "RUN-TRACK-001"}, station_code="SPI-01", sent_by=None
    )
    client = client_for(role)
    before = station_counts()

    if endpoint.method == "post":
        action = endpoint.path.rsplit("/", 1)[1]
        response = client.post(endpoint.path, STATION_BODIES[action], format="json")
    else:
        response = client.get(endpoint.path)

    expected = endpoint.expected[role]
    assert response.status_code == expected, response.content[:500]
    body = response.json()
    assert body["ok"] is (expected == OK)
    if expected == UNAUTHENTICATED:
        assert body["error"]["code"] == "NOT_AUTHENTICATED"
        assert response["WWW-Authenticate"]
    elif expected == FORBIDDEN:
        assert body["error"]["code"] == "PERMISSION_DENIED"
    tracks, open_tracks, messages = before
    if endpoint.method == "post" and expected == OK:
        if endpoint.path.endswith("track-in"):
            assert station_counts() == (tracks + 1, open_tracks + 1, messages + 1)
        else:
            assert station_counts() == (tracks, open_tracks - 1, messages + 1)
        assert IntegrationMessage.objects.latest("pk").sent_by is not None
    else:
        assert station_counts() == before
