"""POST /api/stations/{stationCode}/track-in (docs/api.md "Stations"): the answer, what it
writes, and every refusal with its code and status, kept as a FAILED message."""

import pytest

from execution.models import Run, Station, Track, Unit
from integration.models import IntegrationMessage
from tests.factories import RouteVersionFactory, RunFactory, StationFactory, UnitFactory
from tests.integration.api.stations_api import (
    accepted,
    malformed,
    post,
    refused,
    track_in,
    unit_state,
    walk_to,
    written,
)

pytestmark = pytest.mark.django_db

SN = "SN-IN-0001"


def test_a_new_unit_is_created_in_the_run_and_tracked_in_at_the_first_step(route_line, operator):
    line = route_line

    answer = accepted(
        track_in(operator, "SPI-01", SN, line.run.run_no, woNo="WO-1001", operatorId="op-7")
    )

    track = Track.objects.get(unit__sn=SN)
    assert answer == {
        "status": "IN_STATION",
        "trackId": str(track.pk),
        "unitSn": SN,
        "runNo": line.run.run_no,
        "stepNo": 10,
        "stationCode": "SPI-01",
        "inAt": track.in_at.isoformat().replace("+00:00", "Z"),
        "isDuplicate": False,
    }
    unit = Unit.objects.get(sn=SN)
    assert (unit.run_id, unit.status, unit.current_step_no) == (line.run.pk, "IN_STATION", 10)
    assert (track.station, track.source, track.operator_id, track.out_at) == (
        line.spi,
        "MANUAL",
        "op-7",
        None,
    )
    run = Run.objects.get(pk=line.run.pk)
    assert run.status == Run.Status.IN_PROGRESS and run.started_at == track.in_at
    message = IntegrationMessage.objects.get()
    assert (message.status, message.entity_type, message.system) == (
        "SUCCESS",
        "TRACK_IN",
        "STATION",
    )


def test_a_unit_queued_at_a_later_step_is_tracked_in_there(route_line, operator):
    line = route_line
    walk_to(operator, line, SN, 20)
    started = Run.objects.get(pk=line.run.pk).started_at

    answer = accepted(track_in(operator, "OVEN-01", SN, line.run.run_no))

    assert (answer["stepNo"], answer["stationCode"]) == (20, "OVEN-01")
    assert unit_state(SN) == ("IN_STATION", 20)
    # The run started with its first track-in; later ones leave that time alone.
    assert Run.objects.get(pk=line.run.pk).started_at == started


def test_a_unit_made_before_its_first_track_in_starts_at_the_first_step(route_line, operator):
    UnitFactory(sn=SN, run=route_line.run)  # QUEUED, no step yet (as the replaced system made)

    answer = accepted(track_in(operator, "SPI-01", SN, route_line.run.run_no))

    assert answer["stepNo"] == 10 and unit_state(SN) == ("IN_STATION", 10)


def test_a_run_and_station_without_line_or_work_order_take_any(route_line, operator):
    """A blank line or work order on either side is no mismatch (docs/api.md)."""
    Run.objects.filter(pk=route_line.run.pk).update(line_code="", wo_no="")
    StationFactory(code="SPI-L2", station_type=Station.StationType.AUTO, line_code="LINE-2")

    accepted(track_in(operator, "SPI-L2", SN, route_line.run.run_no, woNo="WO-ANY"))

    assert unit_state(SN) == ("IN_STATION", 10)


# Each refusal: how to bring it about (given the line and an operator's client), the
# station and body to send, the status and the code. Nothing moves.


def _other_run(line, operator):
    other = RunFactory(run_no="RUN-OTHER", route_version=line.run.route_version)
    UnitFactory(sn=SN, run=other)


def _in_station(line, operator):
    accepted(track_in(operator, "SPI-01", SN, line.run.run_no))


def _unit_in_state(status, step_no=10):
    def arrange(line, operator):
        UnitFactory(sn=SN, run=line.run, status=status, current_step_no=step_no)

    arrange.__name__ = f"unit_{status.lower()}"
    return arrange


def _station_on_line_2(line, operator):
    StationFactory(code="SPI-L2", station_type=Station.StationType.AUTO, line_code="LINE-2")


def _run_status(status):
    def arrange(line, operator):
        Run.objects.filter(pk=line.run.pk).update(status=status)

    arrange.__name__ = f"run_{status.lower()}"
    return arrange


def _run_without_route(line, operator):
    RunFactory(run_no="RUN-NO-ROUTE", route_version=None, status=Run.Status.AUTHORIZED)


def _route_without_steps(line, operator):
    RunFactory(
        run_no="RUN-NO-ROUTE",
        route_version=RouteVersionFactory(code="ROUTE-EMPTY"),
        status=Run.Status.AUTHORIZED,
    )


def _queued_at_reflow(line, operator):
    walk_to(operator, line, SN, 20)


def _nothing(line, operator):
    pass


REFUSALS = [
    ("STATION_NOT_FOUND", 404, _nothing, "NOPE-01", {}),
    ("RUN_NOT_FOUND", 422, _nothing, "SPI-01", {"runNo": "RUN-NOPE"}),
    ("ROUTE_VERSION_NOT_READY", 422, _run_without_route, "SPI-01", {"runNo": "RUN-NO-ROUTE"}),
    ("ROUTE_VERSION_NOT_READY", 422, _route_without_steps, "SPI-01", {"runNo": "RUN-NO-ROUTE"}),
    ("RUN_NOT_AUTHORIZED", 422, _run_status(Run.Status.PREP), "SPI-01", {}),
    ("RUN_NOT_AUTHORIZED", 422, _run_status(Run.Status.COMPLETED), "SPI-01", {}),
    ("RUN_NOT_AUTHORIZED", 422, _run_status(Run.Status.ON_HOLD), "SPI-01", {}),
    ("RUN_WORK_ORDER_MISMATCH", 422, _nothing, "SPI-01", {"woNo": "WO-9999"}),
    ("STATION_LINE_MISMATCH", 422, _station_on_line_2, "SPI-L2", {}),
    ("UNIT_RUN_MISMATCH", 422, _other_run, "SPI-01", {}),
    ("UNIT_ALREADY_IN_STATION", 409, _in_station, "SPI-01", {}),
    ("UNIT_ALREADY_DONE", 409, _unit_in_state(Unit.Status.DONE, 30), "SPI-01", {}),
    ("UNIT_ON_HOLD", 409, _unit_in_state(Unit.Status.ON_HOLD), "SPI-01", {}),
    ("UNIT_SCRAPPED", 409, _unit_in_state(Unit.Status.SCRAPPED), "SPI-01", {}),
    ("UNIT_FAILED", 409, _unit_in_state(Unit.Status.OUT_FAILED), "SPI-01", {}),
    ("STATION_MISMATCH", 422, _nothing, "INSPECT-01", {}),  # step 10 wants an AUTO station
    ("STATION_MISMATCH", 422, _queued_at_reflow, "OVEN-02", {}),  # step 20 allows OVEN-01
]


@pytest.mark.parametrize(
    ("code", "status", "arrange", "station", "fields"),
    [pytest.param(*case, id=f"{case[0]}-{case[2].__name__.strip('_')}") for case in REFUSALS],
)
def test_a_refused_track_in_answers_its_code_keeps_the_call_and_moves_nothing(
    route_line, operator, code, status, arrange, station, fields
):
    arrange(route_line, operator)
    before, state = written(), unit_state(SN)
    run_before = Run.objects.values_list("status", "started_at").get(pk=route_line.run.pk)
    body = {"sn": SN, "runNo": route_line.run.run_no, "operatorId": "op-7", **fields}

    response = post(operator, station, "track-in", body)

    kept = refused(response, status, code, "TRACK_IN")
    assert kept.payload == {**body, "stationCode": station, "source": "MANUAL"}
    assert kept.sent_by == operator.user
    tracks, open_tracks, values, records, messages = before
    assert written() == (tracks, open_tracks, values, records, messages + 1)
    assert unit_state(SN) == state
    assert Run.objects.values_list("status", "started_at").get(pk=route_line.run.pk) == run_before


def test_station_mismatch_names_the_stations_that_can_do_the_step(route_line, operator):
    walk_to(operator, route_line, SN, 20)

    wrong_type = post(operator, "INSPECT-01", "track-in", {"sn": SN, "runNo": "RUN-TRACK-001"})
    not_allowed = post(operator, "OVEN-02", "track-in", {"sn": SN, "runNo": "RUN-TRACK-001"})

    for response in (wrong_type, not_allowed):
        details = response.json()["error"]["details"]
        assert (details["stepNo"], details["stations"]) == (20, ["OVEN-01"])
        assert "OVEN-01" in response.json()["error"]["message"]


def test_station_mismatch_names_only_stations_of_the_runs_line(route_line, operator):
    """A station of the right type on another line would be refused too
    (STATION_LINE_MISMATCH): it is not one that fits."""
    StationFactory(code="SPI-L2", station_type=Station.StationType.AUTO, line_code="LINE-2")
    StationFactory(code="SPI-ANY", station_type=Station.StationType.AUTO, line_code="")

    response = post(operator, "INSPECT-01", "track-in", {"sn": SN, "runNo": "RUN-TRACK-001"})

    details = refused(response, 422, "STATION_MISMATCH", "TRACK_IN")
    stations = response.json()["error"]["details"]["stations"]
    assert stations == ["OVEN-01", "OVEN-02", "SPI-01", "SPI-ANY"]
    assert details.error_message.endswith("OVEN-01, OVEN-02, SPI-01, SPI-ANY")


def test_the_rules_answer_the_first_failure_in_order(route_line, operator):
    """An unknown station is found before an unknown run, a run before the unit."""
    UnitFactory(sn=SN, run=route_line.run, status=Unit.Status.SCRAPPED)

    unknown_both = post(operator, "NOPE-01", "track-in", {"sn": SN, "runNo": "RUN-NOPE"})
    unknown_run = post(operator, "SPI-01", "track-in", {"sn": SN, "runNo": "RUN-NOPE"})

    assert unknown_both.json()["error"]["code"] == "STATION_NOT_FOUND"
    assert unknown_run.json()["error"]["code"] == "RUN_NOT_FOUND"


# Malformed calls: 400, nothing stored.

MALFORMED = [
    pytest.param({"runNo": "RUN-TRACK-001"}, "sn", id="no sn"),
    pytest.param({"sn": SN}, "runNo", id="no runNo"),
    pytest.param({"sn": "", "runNo": "RUN-TRACK-001"}, "sn", id="blank sn"),
    pytest.param({"sn": 42, "runNo": "RUN-TRACK-001"}, "sn", id="sn a number"),
    pytest.param({"sn": SN, "runNo": ["RUN-TRACK-001"]}, "runNo", id="runNo a list"),
    pytest.param({"sn": SN, "runNo": "RUN-TRACK-001", "eventId": 7}, "eventId", id="eventId 7"),
    pytest.param({"sn": "x" * 101, "runNo": "RUN-TRACK-001"}, "sn", id="sn too long"),
    pytest.param([{"sn": SN, "runNo": "RUN-TRACK-001"}], "non_field_errors", id="a list"),
    pytest.param("SN-IN-0001", "non_field_errors", id="a string"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_a_malformed_track_in_is_a_400_and_stores_nothing(route_line, operator, body, field):
    response = post(operator, "SPI-01", "track-in", body)

    error = malformed(response)
    assert field in error["details"], error
    assert written() == (0, 0, 0, 0, 0)
    assert not Unit.objects.exists()


def test_an_empty_body_is_a_400(route_line, operator):
    response = operator.post("/api/stations/SPI-01/track-in", b"", content_type="application/json")

    malformed(response)
    assert written() == (0, 0, 0, 0, 0)


def test_a_body_that_is_not_json_is_a_415_and_stores_nothing(route_line, operator):
    response = operator.post(
        "/api/stations/SPI-01/track-in", "sn=SN-IN-0001", content_type="text/plain"
    )

    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert written() == (0, 0, 0, 0, 0)


def test_a_body_over_the_limit_is_a_413_and_stores_nothing(route_line, operator, settings):
    settings.INGEST_MAX_BODY_BYTES = 1024
    body = {"sn": SN, "runNo": route_line.run.run_no, "note": "x" * 2000}

    response = post(operator, "SPI-01", "track-in", body)

    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert written() == (0, 0, 0, 0, 0)


def test_only_post_is_allowed(route_line, operator):
    response = operator.get("/api/stations/SPI-01/track-in")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
