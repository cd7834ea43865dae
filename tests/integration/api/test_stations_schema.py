"""The stations API in the OpenAPI schema (/api/schema/): its five paths, with their
bodies, answers and error statuses, as clients generated from it need them. (The
schemathesis run of test_fuzz_schema.py sends requests to every path of it.)"""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

STATION_PATHS = {
    "/api/stations/{station_code}/track-in": "post",
    "/api/stations/{station_code}/track-out": "post",
    "/api/stations/resolve-unit/{sn}": "get",
    "/api/stations/{station_code}/queue": "get",
    "/api/stations/{station_code}/units/{sn}/data-specs": "get",
}


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def _answer_schema(schema, operation):
    """The success answer's `data` schema, with its reference followed."""
    envelope = operation["responses"]["200"]["content"]["application/json"]["schema"]
    data = envelope["properties"]["data"]
    if "$ref" in data:
        data = schema["components"]["schemas"][data["$ref"].rsplit("/", 1)[1]]
    return data


def test_the_schema_lists_the_five_station_paths_with_their_methods(schema):
    stations = {path: item for path, item in schema["paths"].items() if "/stations/" in path}

    assert set(stations) == set(STATION_PATHS)
    for path, method in STATION_PATHS.items():
        operations = {name for name in stations[path] if name != "parameters"}
        assert operations == {method}, path


@pytest.mark.parametrize(
    "path", ["/api/stations/{station_code}/track-in", "/api/stations/{station_code}/track-out"]
)
def test_track_in_and_out_document_their_body_header_and_refusals(schema, path):
    operation = schema["paths"][path]["post"]

    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"sn", "runNo"} <= set(body["required"])
    assert "eventId" in body["properties"]
    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert {"200", "400", "401", "403", "404", "409", "413", "415", "422"} <= set(
        operation["responses"]
    )
    assert "isDuplicate" in _answer_schema(schema, operation)["properties"]


def test_the_reads_document_their_answers_and_404(schema):
    expected = {
        "/api/stations/resolve-unit/{sn}": {"sn", "runNo", "status", "openTrack", "hold"},
        "/api/stations/{station_code}/queue": {"station", "queue"},
        "/api/stations/{station_code}/units/{sn}/data-specs": {"sn", "stepNo", "specs"},
    }
    for path, fields in expected.items():
        operation = schema["paths"][path]["get"]
        assert fields <= set(_answer_schema(schema, operation)["properties"]), path
        assert operation["responses"]["404"]["description"], path
