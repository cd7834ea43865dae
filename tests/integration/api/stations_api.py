"""Helpers of the stations API's tests (docs/api.md "Stations"): calls as a station client
makes them, and the checks every refusal shares (its code, status and kept message)."""

from execution.models import DataValue, Track, Unit
from integration.models import IntegrationMessage, TrackingRecord

STATIONS = "/api/stations"


def post(client, station: str, action: str, body, **headers):
    """POST a track-in or track-out body (JSON) to the station of the URL."""
    return client.post(f"{STATIONS}/{station}/{action}", body, format="json", **headers)


def track_in(client, station: str, sn: str, run_no: str, **fields):
    return post(client, station, "track-in", {"sn": sn, "runNo": run_no, **fields})


def track_out(client, station: str, sn: str, run_no: str, result: str = "PASS", **fields):
    return post(
        client, station, "track-out", {"sn": sn, "runNo": run_no, "result": result, **fields}
    )


def accepted(response) -> dict:
    """The `data` of a 200, failing with the body otherwise."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    return body["data"]


VISUAL_OK = [{"specName": "Visual Check", "valueBoolean": True}]


def walk_to(client, line, sn: str, step_no: int) -> None:
    """Pass unit `sn` through the route_line's steps before `step_no` (by the API), so it
    waits there, QUEUED."""
    stations = {10: line.spi.code, 20: line.reflow.code, 30: line.inspection.code}
    for step, station in stations.items():
        if step >= step_no:
            return
        accepted(track_in(client, station, sn, line.run.run_no))
        data = VISUAL_OK if step == 30 else []
        accepted(track_out(client, station, sn, line.run.run_no, data=data))


def refused(response, status: int, code: str, entity_type: str) -> IntegrationMessage:
    """Assert a refusal of a well-formed call: the status, the code and the FAILED message
    kept for it (named by details.messageId); returns that message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["ok"] is False and "data" not in body
    error = body["error"]
    assert error["code"] == code, error
    assert error["message"]
    kept = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    assert kept.status == IntegrationMessage.Status.FAILED
    assert kept.entity_type == entity_type
    assert kept.system == IntegrationMessage.System.STATION
    assert kept.error_code == code
    assert kept.resolved_at is None
    return kept


def malformed(response) -> dict:
    """Assert a 400 VALIDATION_ERROR; returns its error."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error


def written() -> tuple[int, int, int, int, int]:
    """What calls write: (tracks, tracks still open, values, records, messages)."""
    return (
        Track.objects.count(),
        Track.objects.filter(out_at=None).count(),
        DataValue.objects.count(),
        TrackingRecord.objects.count(),
        IntegrationMessage.objects.count(),
    )


def unit_state(sn: str) -> tuple[str, int | None] | None:
    unit = Unit.objects.filter(sn=sn).first()
    return None if unit is None else (unit.status, unit.current_step_no)
