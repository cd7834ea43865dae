"""A unit through its route by the stations API alone (docs/api.md "Stations")."""

import pytest
from rest_framework.test import APIClient

from execution.models import Run, Unit
from integration.models import IntegrationMessage, TrackingRecord
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(db):
    client = APIClient()
    client.force_authenticate(UserFactory(username="op-7", groups=["Operators"]))
    return client


def _post(client, station, action, body, **headers):
    return client.post(f"/api/stations/{station}/{action}", body, format="json", **headers)


def test_a_unit_goes_through_its_route_by_the_api_and_re_sends_answer_the_same(
    route_line, operator_client
):
    line, run_no, sn = route_line, route_line.run.run_no, "SN-API-0001"
    answer = _post(
        operator_client, "SPI-01", "track-in", {"sn": sn, "runNo": run_no, "eventId": "ti-1"}
    )
    assert answer.status_code == 200, answer.content
    first = answer.json()["data"]
    assert (first["status"], first["stepNo"], first["isDuplicate"]) == ("IN_STATION", 10, False)
    again = _post(
        operator_client, "SPI-01", "track-in", {"sn": sn, "runNo": run_no, "eventId": "ti-1"}
    )
    assert again.json()["data"] == {**first, "isDuplicate": True}
    assert again["Idempotent-Replayed"] == "true"
    conflict = _post(
        operator_client, "SPI-01", "track-in", {"sn": sn, "runNo": "OTHER", "eventId": "ti-1"}
    )
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "EVENT_ID_CONFLICT")
    twice = _post(operator_client, "SPI-01", "track-in", {"sn": sn, "runNo": run_no})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "UNIT_ALREADY_IN_STATION")
    kept = IntegrationMessage.objects.get(pk=twice.json()["error"]["details"]["messageId"])
    assert (kept.status, kept.entity_type, kept.payload["stationCode"]) == (
        "FAILED",
        "TRACK_IN",
        "SPI-01",
    )

    paste = [{"specName": "Paste Height", "valueNumber": 120}]
    out = _post(
        operator_client,
        "SPI-01",
        "track-out",
        {"sn": sn, "runNo": run_no, "result": "PASS", "data": paste},
        HTTP_IDEMPOTENCY_KEY="to-1",
    )
    assert out.status_code == 200, out.content
    assert out.json()["data"]["nextStepNo"] == 20
    for station, key in (("OVEN-01", "2"), ("INSPECT-01", "3")):
        assert (
            _post(operator_client, station, "track-in", {"sn": sn, "runNo": run_no}).status_code
            == 200
        )
        body = {"sn": sn, "runNo": run_no, "result": "PASS", "eventId": f"to-{key}"}
        if station == "INSPECT-01":
            body["data"] = [{"specName": "Visual Check", "valueBoolean": True}]
        assert _post(operator_client, station, "track-out", body).status_code == 200
    assert Unit.objects.get(sn=sn).status == Unit.Status.DONE
    assert Run.objects.get(pk=line.run.pk).status == Run.Status.COMPLETED
    assert TrackingRecord.objects.count() == 4
    position = operator_client.get(f"/api/stations/resolve-unit/{sn}").json()["data"]
    assert (position["status"], position["openTrack"]) == ("DONE", None)
