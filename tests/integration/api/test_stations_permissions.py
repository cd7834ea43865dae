"""Who may call the stations API (docs/api.md "Stations"): operators (the `track_units`
permission) post and read, quality staff read only, a gateway posts only when given
`track_units`; everyone else is refused before anything is written. The role matrix of
every /api/ endpoint is test_permission_matrix.py; these are the cases it has no
column for, and the credentials as stations really send them."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from execution.models import Track
from integration.models import IntegrationMessage
from integration.tracking.service import receive_track_in
from tests.factories import UserFactory, gateway_with_key
from tests.integration.api.stations_api import STATIONS, accepted, written

pytestmark = pytest.mark.django_db

RUN = "RUN-TRACK-001"
IN_STATION = "SN-PERM-1"  # in station at SPI-01
CALLS = [
    ("post", f"{STATIONS}/SPI-01/track-in", {"sn": "SN-PERM-2", "runNo": RUN}),
    ("post", f"{STATIONS}/SPI-01/track-out", {"sn": IN_STATION, "runNo": RUN, "result": "FAIL"}),
    ("get", f"{STATIONS}/resolve-unit/{IN_STATION}", None),
    ("get", f"{STATIONS}/SPI-01/queue", None),
    ("get", f"{STATIONS}/SPI-01/units/{IN_STATION}/data-specs", None),
]
POSTS = [call for call in CALLS if call[0] == "post"]
GETS = [call for call in CALLS if call[0] == "get"]


def _id(call):
    return f"{call[0].upper()} {call[1].removeprefix(STATIONS)}"


@pytest.fixture
def unit_in_station(route_line):
    receive_track_in({"sn": IN_STATION, "runNo": RUN}, station_code="SPI-01", sent_by=None)


def _call(client, call):
    method, path, body = call
    if method == "post":
        return client.post(path, body, format="json")
    return client.get(path)


def _gateway(*, may_track: bool) -> APIClient:
    user, key = gateway_with_key("gw-station")
    if may_track:
        user.user_permissions.add(Permission.objects.get(codename="track_units"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.user = user
    return client


def _signed_in(*groups, is_staff=False) -> APIClient:
    user = UserFactory(username="person", is_staff=is_staff, groups=list(groups))
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


def _refused(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert "data" not in response.json()


@pytest.mark.parametrize("call", CALLS, ids=_id)
def test_anonymous_calls_are_401_and_write_nothing(unit_in_station, call):
    before = written()

    response = _call(APIClient(), call)

    _refused(response, 401, "NOT_AUTHENTICATED")
    assert response["WWW-Authenticate"]
    assert written() == before


@pytest.mark.parametrize("call", CALLS, ids=_id)
def test_a_user_who_may_neither_track_nor_view_tracks_is_refused_everything(unit_in_station, call):
    client = _signed_in()
    before = written()

    _refused(_call(client, call), 403, "PERMISSION_DENIED")

    assert written() == before


@pytest.mark.parametrize("call", CALLS, ids=_id)
def test_a_gateway_without_track_units_is_refused_everything(unit_in_station, call):
    before = written()

    _refused(_call(_gateway(may_track=False), call), 403, "PERMISSION_DENIED")

    assert written() == before


@pytest.mark.parametrize("call", CALLS, ids=_id)
def test_operators_may_post_and_read(unit_in_station, call):
    client = _signed_in("Operators")

    accepted(_call(client, call))

    if call[0] == "post":
        assert IntegrationMessage.objects.latest("pk").sent_by == client.user


@pytest.mark.parametrize("call", GETS, ids=_id)
def test_quality_staff_may_read(unit_in_station, call):
    accepted(_call(_signed_in("Quality staff", is_staff=True), call))


@pytest.mark.parametrize("call", POSTS, ids=_id)
def test_quality_staff_may_not_track_units(unit_in_station, call):
    before = written()

    _refused(_call(_signed_in("Quality staff", is_staff=True), call), 403, "PERMISSION_DENIED")

    assert written() == before


@pytest.mark.parametrize("call", CALLS, ids=_id)
def test_a_gateway_given_track_units_may_post_and_read(unit_in_station, call):
    gateway = _gateway(may_track=True)

    accepted(_call(gateway, call))

    if call[0] == "post":
        assert IntegrationMessage.objects.latest("pk").sent_by == gateway.user


def test_a_gateways_track_in_needs_no_csrf_token_and_is_manual_as_any_rest_call(unit_in_station):
    gateway = _gateway(may_track=True)
    gateway.handler.enforce_csrf_checks = True

    answer = accepted(_call(gateway, POSTS[0]))

    assert Track.objects.get(pk=answer["trackId"]).source == "MANUAL"


def test_an_operators_browser_session_must_send_the_csrf_token(unit_in_station):
    """A page on another site cannot make a signed-in operator's browser track units."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="op-browser", groups=["Operators"]))
    before = written()

    response = _call(client, POSTS[0])

    _refused(response, 403, "PERMISSION_DENIED")
    assert "CSRF" in response.json()["error"]["message"]
    assert written() == before


def test_a_method_a_path_lacks_is_a_405_even_for_who_may_not_call_it(unit_in_station):
    client = _signed_in()

    _refused(client.get(f"{STATIONS}/SPI-01/track-in"), 405, "METHOD_NOT_ALLOWED")
    _refused(client.post(f"{STATIONS}/SPI-01/queue", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
