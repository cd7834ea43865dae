"""The master-data API (docs/api.md "Master data"): PUT by business key, answered in the
envelope, every call logged as an IntegrationMessage (PLM or ERP), refusals kept FAILED
with their code, and only people and gateways given the master-data permissions."""

import time

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from execution.master_data import import_bundle
from execution.models import RouteStep, Run, Station, Unit
from integration.models import IntegrationMessage
from tests.factories import TrackFactory, UserFactory, gateway_with_key
from tests.integration.api.stations_api import accepted
from tests.master_data_bundle import example_bundle, put_line, section

pytestmark = pytest.mark.django_db

BASE = "/api/master-data"
Status = IntegrationMessage.Status


def _signed_in(*groups) -> APIClient:
    client = APIClient()
    client.force_login(UserFactory(username="md-person", is_staff=True, groups=list(groups)))
    return client


@pytest.fixture
def admin_client() -> APIClient:
    return _signed_in("Integration admins")


def put(client, path: str, body):
    return client.put(f"{BASE}/{path}", body, format="json")


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    return body["error"]


def _station():
    return section("stations")[0]


def test_a_station_is_created_and_its_call_logged_as_a_plm_message(admin_client):
    data = accepted(put(admin_client, "stations/EX-PRINTER-01", _station()))

    assert (data["entity"], data["key"], data["action"]) == ("STATION", "EX-PRINTER-01", "created")
    assert Station.objects.get(code="EX-PRINTER-01").line_code == "SMT-EX"
    message = IntegrationMessage.objects.get(pk=data["messageId"])
    assert (message.system, message.entity_type, message.status) == ("PLM", "STATION", "SUCCESS")
    assert message.business_key == "master-data:STATION:EX-PRINTER-01"
    assert message.payload["name"] == "Stencil printer"


def test_the_whole_example_line_goes_in_by_the_api_and_again_changes_nothing(admin_client):
    first = put_line(admin_client)
    again = put_line(admin_client)

    assert {answer["action"] for answer in first} == {"created"}
    assert {answer["action"] for answer in again} == {"unchanged"}
    assert first[-1]["unitsCreated"] == 200
    assert again[-1]["unitsUnchanged"] == 200
    assert Unit.objects.filter(run__run_no="RUN-EX-001").count() == 200
    assert RouteStep.objects.count() == 5
    systems = IntegrationMessage.objects.values_list("entity_type", "system").distinct()
    assert set(systems) == {
        ("STATION", "PLM"),
        ("OPERATION", "PLM"),
        ("ROUTE", "PLM"),
        ("RUN", "ERP"),
    }
    assert IntegrationMessage.objects.filter(status=Status.SUCCESS).count() == 2 * len(first)


def test_a_change_to_a_route_version_in_use_is_a_409_kept_as_a_failed_message(admin_client):
    put_line(admin_client)
    route = section("routes")[0]

    response = put(admin_client, "routes/ROUTE-SMT-EX/versions/1", {"steps": route["steps"][:2]})

    error = refused(response, 409, "ROUTE_VERSION_IN_USE")
    message = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    assert (message.status, message.error_code) == (Status.FAILED, "ROUTE_VERSION_IN_USE")
    assert message.payload == {"steps": route["steps"][:2], "code": "ROUTE-SMT-EX", "version": 1}
    assert RouteStep.objects.count() == 5


def test_moving_a_tracked_serial_is_a_409_naming_it(admin_client):
    put_line(admin_client)
    TrackFactory(unit=Unit.objects.get(sn="SN-EX-0003"))
    run = section("runs")[0] | {"runNo": "RUN-EX-002", "serials": ["SN-EX-0003"]}

    error = refused(put(admin_client, "runs/RUN-EX-002", run), 409, "UNIT_HAS_TRACKS")

    assert error["details"]["field"] == "serials[0]"
    assert "SN-EX-0003" in error["message"]
    assert not Run.objects.filter(run_no="RUN-EX-002").exists()


def test_a_bad_limit_is_a_400_naming_the_spec_and_kept(admin_client):
    operation = section("operations")[0]
    operation["specs"][1]["alarm"] = {"action": "STOP"}

    error = refused(put(admin_client, "operations/EX-OP-PRINT", operation), 400, "VALIDATION_ERROR")

    assert error["details"]["field"] == "specs[1].alarm"
    assert error["message"].startswith("specs[1].alarm:")
    message = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    assert (message.status, message.entity_type) == (Status.FAILED, "OPERATION")


def test_an_unknown_reference_is_a_422(admin_client):
    route = section("routes")[0]

    response = put(admin_client, "routes/ROUTE-SMT-EX/versions/1", {"steps": route["steps"]})

    error = refused(response, 422, "OPERATION_NOT_FOUND")
    assert error["details"]["field"] == "steps[0].operationCode"


def test_a_body_naming_another_key_than_the_url_is_refused(admin_client):
    response = put(admin_client, "stations/EX-OTHER", _station())

    error = refused(response, 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "code"
    assert not Station.objects.exists()


def test_a_success_resolves_the_failed_attempts_of_the_same_item(admin_client):
    refused(put(admin_client, "stations/EX-PRINTER-01", {"name": "x"}), 400, "VALIDATION_ERROR")

    accepted(put(admin_client, "stations/EX-PRINTER-01", _station()))

    failed = IntegrationMessage.objects.get(status=Status.FAILED)
    assert failed.resolved_at is not None


def test_a_body_that_is_not_an_object_is_a_400_and_not_json_a_415(admin_client):
    refused(put(admin_client, "stations/EX-PRINTER-01", ["a list"]), 400, "VALIDATION_ERROR")
    response = admin_client.put(
        f"{BASE}/stations/EX-PRINTER-01", "name=x", content_type="text/plain"
    )
    refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("anonymous", 401, "NOT_AUTHENTICATED"),
        ("quality staff", 403, "PERMISSION_DENIED"),
        ("operator", 403, "PERMISSION_DENIED"),
        ("gateway", 403, "PERMISSION_DENIED"),
    ],
)
def test_only_holders_of_the_master_data_permissions_may_put(who, status, code):
    client = APIClient()
    if who == "quality staff":
        client = _signed_in("Quality staff")
    elif who == "operator":
        client = _signed_in("Operators")
    elif who == "gateway":
        _user, key = gateway_with_key("gw-erp")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    refused(put(client, "stations/EX-PRINTER-01", _station()), status, code)

    assert not Station.objects.exists()
    assert not IntegrationMessage.objects.exists()


def test_a_gateway_given_the_permissions_may_put():
    user, key = gateway_with_key("gw-plm")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_station", "change_station"])
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    data = accepted(put(client, "stations/EX-PRINTER-01", _station()))

    assert IntegrationMessage.objects.get(pk=data["messageId"]).sent_by == user


def test_the_schema_documents_the_four_puts_and_their_refusals():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = {
        "/api/master-data/stations/{code}",
        "/api/master-data/operations/{code}",
        "/api/master-data/routes/{code}/versions/{version_no}",
        "/api/master-data/runs/{run_no}",
    }
    assert paths <= set(schema["paths"])
    for path in paths:
        operation = schema["paths"][path]["put"]
        assert {"200", "400", "401", "403", "409", "415", "422"} <= set(operation["responses"])


def test_the_back_office_does_not_replay_a_failed_master_data_message(admin_client):
    error = refused(
        put(admin_client, "stations/EX-PRINTER-01", {"name": "x"}), 400, "VALIDATION_ERROR"
    )
    failed = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_login(root)

    url = reverse("admin:integration_integrationmessage_replay", args=[failed.pk])
    response = client.post(url)

    said = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("is master data" in text for text in said), said
    assert IntegrationMessage.objects.count() == 1
    assert not Station.objects.exists()


def test_the_calls_are_listed_and_shown_in_the_back_office(admin_client):
    put_line(admin_client)
    refused(
        put(admin_client, "routes/ROUTE-SMT-EX/versions/1", {"steps": []}), 400, "VALIDATION_ERROR"
    )
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_login(root)

    listed = client.get(
        reverse("admin:integration_integrationmessage_changelist"), {"system": "ERP"}
    )
    assert listed.status_code == 200
    assert "master-data:RUN:RUN-EX-001" in listed.content.decode()
    for message in IntegrationMessage.objects.filter(entity_type__in=["RUN", "ROUTE"]):
        url = reverse("admin:integration_integrationmessage_change", args=[message.pk])
        page = client.get(url)
        assert page.status_code == 200, message
        assert message.business_key in page.content.decode()


def test_a_run_of_a_thousand_serials_goes_in_by_one_put(admin_client):
    put_line(admin_client)
    run = section("runs")[0] | {"runNo": "RUN-EX-1000"}
    run["serials"] = [f"SN-K-{number:05d}" for number in range(1, 1001)]

    started = time.perf_counter()
    data = accepted(put(admin_client, "runs/RUN-EX-1000", run))
    seconds = time.perf_counter() - started

    print(f"\n1,000 serials in one PUT: {seconds:.2f} s")  # measured, not asserted
    assert data["unitsCreated"] == 1000
    assert Unit.objects.filter(run__run_no="RUN-EX-1000").count() == 1000


def test_the_api_and_the_example_file_give_the_same_master_data(admin_client):
    put_line(admin_client)

    outcomes = import_bundle(example_bundle())

    assert len(outcomes) == 12  # 5 stations, 5 operations, 1 route, 1 run
    assert {outcome.action for outcome in outcomes} == {"unchanged"}
