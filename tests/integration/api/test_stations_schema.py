"""The stations API's contract as published: the OpenAPI schema (/api/schema/) lists its
five paths, with their bodies, answers and error statuses, as clients generated from it
need them (the schemathesis run of test_fuzz_schema.py sends requests to every path of
it), and docs/api.md names every code the tests see answered, with its status."""

import re

import pytest
from django.conf import settings
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
    stations = {
        path: item for path, item in schema["paths"].items() if path.startswith("/api/stations/")
    }

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


def _documented_codes() -> set[tuple[str, int]]:
    """(code, status) of each row of docs/api.md's table of the stations' refusals."""
    text = (settings.BASE_DIR / "docs" / "api.md").read_text()
    section = text.split("### Refusals, and what is kept of them", 1)[1].split("\n## ", 1)[0]
    pairs = set()
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) != 3 or not cells[0][:1].isdigit():
            continue
        statuses = [int(status) for status in cells[0].split(",")]
        codes = re.findall(r"`([A-Z_]+)`", cells[1])
        pairs |= {(code, status) for code in codes for status in statuses}
    return pairs


def test_the_docs_name_every_code_the_stations_answer_with_its_status():
    from tests.integration.api.test_stations_track_in import REFUSALS
    from tests.integration.api.test_stations_track_out import TRACK_OUT_REFUSALS

    answered = {(code, status) for code, status, *_ in REFUSALS + TRACK_OUT_REFUSALS}
    answered |= {("EVENT_ID_CONFLICT", 409), ("VALIDATION_ERROR", 400), ("UNIT_NOT_FOUND", 404)}
    answered |= {("PAYLOAD_TOO_LARGE", 413), ("UNSUPPORTED_MEDIA_TYPE", 415)}

    assert answered <= _documented_codes()
