"""The API's edges (docs/api.md): unknown URLs, methods not allowed, the schema and docs pages.

Records are written through the real ingestion service, then read back over HTTP.
"""

import pytest
from rest_framework.test import APIClient

from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event
from tests.integration.api.read_api_shop import (
    LIST_URL,
)

# --- The API's edges -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/integration/nope",
        "/api/integration/device-data/",
        "/api/integration/device-data/1/values",
        "/api/v2/integration/device-data",
    ],
)
def test_an_unknown_url_under_api_is_a_json_not_found_not_an_html_page(shop, quality_client, path):
    response = quality_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert b"<html" not in response.content.lower()


def test_an_unknown_url_under_api_is_a_json_not_found_for_anonymous_clients_too(db):
    response = APIClient().get("/api/integration/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_posting_to_a_url_with_a_trailing_slash_is_not_found_and_writes_nothing(
    line, gateway_client
):
    response = gateway_client.post(f"{LIST_URL}/", make_event(), format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert not DeviceDataRecord.objects.exists()
    assert not IntegrationMessage.objects.exists()


@pytest.mark.parametrize("client_fixture", ["quality_client", "integration_admin_client"])
def test_delete_on_the_device_data_list_is_method_not_allowed_and_deletes_nothing(
    shop, request, client_fixture
):
    client = request.getfixturevalue(client_fixture)

    response = client.delete(LIST_URL)

    assert response.status_code == 405, response.content
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert DeviceDataRecord.objects.count() == 5


@pytest.mark.parametrize("method", ["delete", "put", "patch"])
def test_changing_a_record_over_the_api_is_method_not_allowed_and_changes_nothing(
    shop, integration_admin_client, method
):
    record = shop.records["evt-a"]

    response = getattr(integration_admin_client, method)(
        f"{LIST_URL}/{record.pk}", {"source": "MANUAL"}, format="json"
    )

    assert response.status_code == 405, response.content
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    record.refresh_from_db()
    assert record.source == "AUTO"
    assert DeviceDataRecord.objects.count() == 5


def test_the_openapi_schema_is_served_without_credentials_and_describes_the_api(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/integration/device-data",
        "/api/integration/device-data/{record_id}",
        "/api/integration/messages",
        "/api/integration/whoami",
    ):
        assert path in schema["paths"], path


def test_the_docs_page_is_served_without_credentials_and_from_no_cdn(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "/api/schema/" in html
    for host in ("cdn.", "jsdelivr", "unpkg"):
        assert host not in html, host
