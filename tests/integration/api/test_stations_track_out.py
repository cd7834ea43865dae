"""POST /api/stations/{stationCode}/track-out (docs/api.md "Stations"): the data written
with the pass, PASS and FAIL, holds, the inspection override, a failed unit's way on, the
run's completion, device events on the open pass, and every refusal."""

import pytest

from execution.failure_dispositions import dispose_failed_unit
from execution.models import DataSpec, DataValue, Hold, Run, Track, Unit
from integration.models import DeviceDataRecord
from tests.factories import DataSpecFactory, RunFactory, UnitFactory, UserFactory
from tests.integration.api.stations_api import (
    VISUAL_OK,
    accepted,
    malformed,
    post,
    refused,
    track_in,
    track_out,
    unit_state,
    walk_to,
    written,
)

pytestmark = pytest.mark.django_db

SN = "SN-OUT-0001"
RUN = "RUN-TRACK-001"


def _device_event(gateway_client, event_id, station, data, **fields):
    """A gateway's device event naming the unit and station only: no stepNo, no runNo."""
    event = {
        "eventId": event_id,
        "eventTime": "2026-01-24T10:00:00Z",
        "source": "AUTO",
        "unitSn": SN,
        "stationCode": station,
        "data": data,
        **fields,
    }
    response = gateway_client.post("/api/integration/device-data", event, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_a_pass_writes_its_data_on_the_pass_and_queues_the_unit_at_the_next_step(
    route_line, operator
):
    accepted(track_in(operator, "SPI-01", SN, RUN))

    answer = accepted(
        track_out(
            operator,
            "SPI-01",
            SN,
            RUN,
            operatorId="op-7",
            eventId="to-1",
            data=[{"specName": "Paste Height", "valueNumber": 120}],
        )
    )

    track = Track.objects.get(unit__sn=SN)
    value = DataValue.objects.get()
    assert answer == {
        "status": "QUEUED",
        "trackId": str(track.pk),
        "unitSn": SN,
        "runNo": RUN,
        "stationCode": "SPI-01",
        "stepNo": 10,
        "nextStepNo": 20,
        "result": "PASS",
        "inspectionOverride": False,
        "defectCode": None,
        "defectLocation": None,
        "outAt": track.out_at.isoformat().replace("+00:00", "Z"),
        "values": [
            {
                "specId": str(route_line.paste_height.pk),
                "specName": "Paste Height",
                "judge": "PASS",
                "alarmed": False,
            }
        ],
        "hold": None,
        "isDuplicate": False,
    }
    assert (track.result, track.defect_code, track.inspection_override) == ("PASS", "", False)
    assert unit_state(SN) == ("QUEUED", 20)
    assert (value.track, value.spec, value.value_number) == (track, route_line.paste_height, 120)
    assert (value.source, value.source_ref) == ("MANUAL", "track-out:to-1")
    assert value.limits == {"spec": {"min": 100, "max": 150}, "alarm": None}
    assert (value.station, value.run_id) == (route_line.spi, route_line.run.pk)
    assert value.meta == {"eventId": "to-1", "operatorId": "op-7"}
    assert value.collected_at == track.out_at


def test_the_values_keep_the_limits_they_were_judged_against(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    paste = [{"specName": "Paste Height", "valueNumber": 160}]
    accepted(track_out(operator, "SPI-01", SN, RUN, data=paste))
    DataSpec.objects.filter(pk=route_line.paste_height.pk).update(spec={"min": 100, "max": 200})

    value = DataValue.objects.get()

    assert value.judge == "FAIL"
    assert value.limits["spec"] == {"min": 100, "max": 150}


def test_the_last_pass_finishes_the_unit_and_the_run(route_line, operator):
    walk_to(operator, route_line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))

    answer = accepted(track_out(operator, "INSPECT-01", SN, RUN, data=VISUAL_OK))

    assert (answer["status"], answer["nextStepNo"]) == ("DONE", None)
    assert unit_state(SN) == ("DONE", 30)
    run = Run.objects.get(pk=route_line.run.pk)
    assert run.status == Run.Status.COMPLETED
    assert run.completed_at == Track.objects.get(unit__sn=SN, step_no=30).out_at


def test_the_run_goes_on_while_another_of_its_units_is_unfinished(route_line, operator):
    UnitFactory(sn="SN-OUT-0002", run=route_line.run)
    walk_to(operator, route_line, SN, 40)  # through all three steps

    assert unit_state(SN) == ("DONE", 30)
    assert Run.objects.get(pk=route_line.run.pk).status == Run.Status.IN_PROGRESS


def test_a_fail_keeps_its_defect_and_leaves_the_unit_failed(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))

    answer = accepted(
        track_out(operator, "SPI-01", SN, RUN, "FAIL", defectCode="BRIDGE", defectLocation="U7")
    )

    assert (answer["status"], answer["result"], answer["nextStepNo"]) == (
        "OUT_FAILED",
        "FAIL",
        None,
    )
    assert (answer["defectCode"], answer["defectLocation"]) == ("BRIDGE", "U7")
    track = Track.objects.get()
    assert (track.result, track.defect_code, track.defect_location) == ("FAIL", "BRIDGE", "U7")
    assert unit_state(SN) == ("OUT_FAILED", 10)


def test_a_fail_without_a_defect_code_is_a_station_fail_and_needs_no_required_data(
    route_line, operator
):
    walk_to(operator, route_line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))

    answer = accepted(track_out(operator, "INSPECT-01", SN, RUN, "FAIL"))

    assert (answer["defectCode"], answer["defectLocation"]) == ("STATION_FAIL", None)
    assert Track.objects.get(step_no=30).defect_code == "STATION_FAIL"


def test_a_failed_unit_goes_on_after_a_rework_disposition(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    accepted(track_out(operator, "SPI-01", SN, RUN, "FAIL"))
    refused(track_in(operator, "SPI-01", SN, RUN), 409, "UNIT_FAILED", "TRACK_IN")

    dispose_failed_unit(
        SN, disposition="REWORK", rework_step_no=10, note="reprint", decided_by=UserFactory()
    )
    assert unit_state(SN) == ("REWORK", 10)

    again = accepted(track_in(operator, "SPI-01", SN, RUN))
    assert (again["status"], again["stepNo"]) == ("IN_STATION", 10)
    accepted(track_out(operator, "SPI-01", SN, RUN))
    assert unit_state(SN) == ("QUEUED", 20)
    assert list(Track.objects.order_by("pk").values_list("step_no", "result")) == [
        (10, "FAIL"),
        (10, "PASS"),
    ]


def test_scrapping_the_last_unfinished_unit_completes_the_run(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    walk_to(operator, route_line, "SN-OUT-0002", 40)  # the run's other unit is DONE
    accepted(track_out(operator, "SPI-01", SN, RUN, "FAIL"))
    assert Run.objects.get(pk=route_line.run.pk).status == Run.Status.IN_PROGRESS

    dispose_failed_unit(SN, disposition="SCRAP", note="burnt", decided_by=UserFactory())

    assert unit_state(SN) == ("SCRAPPED", 10)
    run = Run.objects.get(pk=route_line.run.pk)
    assert run.status == Run.Status.COMPLETED and run.completed_at is not None
    refused(track_in(operator, "SPI-01", SN, RUN), 422, "RUN_NOT_AUTHORIZED", "TRACK_IN")


def test_a_hold_alarmed_value_holds_the_unit_and_refuses_its_next_track_in(route_line, operator):
    walk_to(operator, route_line, SN, 20)
    accepted(track_in(operator, "OVEN-01", SN, RUN))

    answer = accepted(
        track_out(
            operator,
            "OVEN-01",
            SN,
            RUN,
            eventId="to-hot",
            data=[{"specName": "Peak Temperature", "valueNumber": 260}],
        )
    )

    hold = Hold.objects.get()
    assert answer["status"] == "ON_HOLD"
    assert answer["hold"] == {
        "id": str(hold.pk),
        "openedAt": hold.opened_at.isoformat().replace("+00:00", "Z"),
        "causedByThisEvent": True,
    }
    assert answer["values"][0] | {"specId": None} == {
        "specId": None,
        "specName": "Peak Temperature",
        "judge": "FAIL",
        "alarmed": True,
    }
    assert (hold.unit.sn, hold.unit_status_before, hold.event_id) == (SN, "QUEUED", "to-hot")
    assert unit_state(SN) == ("ON_HOLD", 30)
    refused(track_in(operator, "INSPECT-01", SN, RUN), 409, "UNIT_ON_HOLD", "TRACK_IN")


def test_a_unit_held_during_its_pass_stays_held_after_its_track_out(
    route_line, operator, gateway_client
):
    walk_to(operator, route_line, SN, 20)
    accepted(track_in(operator, "OVEN-01", SN, RUN))
    hot = [{"specName": "Peak Temperature", "valueNumber": 260}]
    assert _device_event(gateway_client, "dev-hot", "OVEN-01", hot)["hold"]["causedByThisEvent"]

    answer = accepted(track_out(operator, "OVEN-01", SN, RUN))

    assert answer["status"] == "ON_HOLD" and answer["hold"]["causedByThisEvent"] is False
    assert (answer["result"], answer["nextStepNo"]) == ("PASS", 30)
    # The hold's release sends the unit where the track-out did.
    assert Hold.objects.get().unit_status_before == "QUEUED"
    assert unit_state(SN) == ("ON_HOLD", 30)


def test_device_data_naming_unit_and_station_only_lands_on_the_open_pass(
    route_line, operator, gateway_client
):
    walk_to(operator, route_line, SN, 20)
    accepted(track_in(operator, "OVEN-01", SN, RUN))
    open_pass = Track.objects.get(unit__sn=SN, out_at=None)

    answer = _device_event(
        gateway_client, "dev-1", "OVEN-01", [{"specName": "Peak Temperature", "valueNumber": 245}]
    )

    assert answer["trackId"] == str(open_pass.pk)
    assert DeviceDataRecord.objects.get(event_id="dev-1").track_id == open_pass.pk
    value = DataValue.objects.get(spec=route_line.peak)
    assert (value.track, value.source, value.judge) == (open_pass, "AUTO", "PASS")


def test_a_failed_key_value_sent_as_device_data_turns_the_pass_into_a_fail(
    route_line, operator, gateway_client
):
    walk_to(operator, route_line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))
    aoi = [{"specName": "AOI Result", "valueBoolean": False}]
    assert _device_event(gateway_client, "aoi-1", "INSPECT-01", aoi)["values"][0]["judge"] == "FAIL"

    answer = accepted(track_out(operator, "INSPECT-01", SN, RUN, "PASS", data=VISUAL_OK))

    assert (answer["result"], answer["inspectionOverride"]) == ("FAIL", True)
    assert (answer["status"], answer["defectCode"]) == ("OUT_FAILED", "INSPECTION_FAIL")
    track = Track.objects.get(step_no=30)
    assert (track.result, track.inspection_override, track.defect_code) == (
        "FAIL",
        True,
        "INSPECTION_FAIL",
    )
    assert unit_state(SN) == ("OUT_FAILED", 30)
    assert Run.objects.get(pk=route_line.run.pk).status == Run.Status.IN_PROGRESS


def test_a_passed_key_value_leaves_the_pass_a_pass(route_line, operator, gateway_client):
    walk_to(operator, route_line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))
    _device_event(
        gateway_client, "aoi-1", "INSPECT-01", [{"specName": "AOI Result", "valueBoolean": True}]
    )

    answer = accepted(track_out(operator, "INSPECT-01", SN, RUN, data=VISUAL_OK))

    assert (answer["result"], answer["inspectionOverride"], answer["status"]) == (
        "PASS",
        False,
        "DONE",
    )


def test_a_required_value_sent_earlier_on_the_pass_counts_for_a_pass(
    route_line, operator, gateway_client
):
    walk_to(operator, route_line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))
    _device_event(
        gateway_client, "visual-1", "INSPECT-01", VISUAL_OK, source="MANUAL", operatorId="op-7"
    )

    answer = accepted(track_out(operator, "INSPECT-01", SN, RUN))

    assert (answer["result"], answer["status"], answer["values"]) == ("PASS", "DONE", [])


# Refusals: each answered with its code, kept as a FAILED TRACK_OUT message; the pass stays
# open, no value is written and the unit stays where it was.


def _in_at_spi(line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))


def _in_at_inspection(line, operator):
    walk_to(operator, line, SN, 30)
    accepted(track_in(operator, "INSPECT-01", SN, RUN))


def _queued(line, operator):
    walk_to(operator, line, SN, 20)


def _in_another_run(line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    RunFactory(run_no="RUN-OTHER", route_version=line.run.route_version)


def _unbound_spec(line, operator):
    _in_at_inspection(line, operator)
    DataSpecFactory(operation=line.visual.operation, name="Unbound Note")


def _nothing(line, operator):
    pass


PASTE = {"specName": "Paste Height", "valueNumber": 120}
TRACK_OUT_REFUSALS = [
    ("STATION_NOT_FOUND", 404, _in_at_spi, "NOPE-01", {}),
    ("RUN_NOT_FOUND", 422, _in_at_spi, "SPI-01", {"runNo": "RUN-NOPE"}),
    ("UNIT_NOT_FOUND", 422, _nothing, "SPI-01", {}),
    ("UNIT_RUN_MISMATCH", 422, _in_another_run, "SPI-01", {"runNo": "RUN-OTHER"}),
    ("TRACK_NOT_FOUND", 409, _queued, "OVEN-01", {}),
    ("TRACK_NOT_FOUND", 409, _in_at_spi, "OVEN-01", {}),
    ("REQUIRED_DATA_MISSING", 422, _in_at_inspection, "INSPECT-01", {}),
    ("SPEC_NOT_FOUND", 422, _in_at_spi, "SPI-01", {"data": [{"specName": "Nope"}]}),
    (
        "VALUE_TYPE_MISMATCH",
        422,
        _in_at_spi,
        "SPI-01",
        {"data": [{"specName": "Paste Height", "valueText": "high"}]},
    ),
    (
        "SPEC_NOT_BOUND",
        422,
        _unbound_spec,
        "INSPECT-01",
        {"data": [*VISUAL_OK, {"specName": "Unbound Note", "valueNumber": 1}]},
    ),
]


@pytest.mark.parametrize(
    ("code", "status", "arrange", "station", "fields"),
    [
        pytest.param(*case, id=f"{case[0]}-{case[2].__name__.strip('_')}")
        for case in TRACK_OUT_REFUSALS
    ],
)
def test_a_refused_track_out_answers_its_code_keeps_the_call_and_moves_nothing(
    route_line, operator, code, status, arrange, station, fields
):
    arrange(route_line, operator)
    before, state = written(), unit_state(SN)
    body = {"sn": SN, "runNo": RUN, "result": "PASS", **fields}

    response = post(operator, station, "track-out", body)

    kept = refused(response, status, code, "TRACK_OUT")
    assert kept.payload == {**body, "stationCode": station, "source": "MANUAL"}
    tracks, open_tracks, values, records, messages = before
    assert written() == (tracks, open_tracks, values, records, messages + 1)
    assert unit_state(SN) == state


def test_a_refused_item_is_named_with_every_other_in_details_items(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    data = [
        PASTE,
        {"specName": "Nope", "valueNumber": 1},
        {"specName": "Paste Height", "valueBoolean": True},
    ]

    response = post(
        operator, "SPI-01", "track-out", {"sn": SN, "runNo": RUN, "result": "PASS", "data": data}
    )

    refused(response, 422, "SPEC_NOT_FOUND", "TRACK_OUT")
    items = response.json()["error"]["details"]["items"]
    assert [(item["index"], item["code"]) for item in items] == [
        (1, "SPEC_NOT_FOUND"),
        (2, "VALUE_TYPE_MISMATCH"),
    ]
    assert all(item["message"] for item in items)
    assert not DataValue.objects.exists()


def test_required_data_missing_names_the_specs(route_line, operator):
    _in_at_inspection(route_line, operator)

    response = post(operator, "INSPECT-01", "track-out", {"sn": SN, "runNo": RUN, "result": "PASS"})

    error = response.json()["error"]
    assert error["details"]["specs"] == ["Visual Check"]
    assert "Visual Check" in error["message"]


def test_track_not_found_says_where_the_unit_is_in_station(route_line, operator):
    _in_at_spi(route_line, operator)

    response = post(operator, "OVEN-01", "track-out", {"sn": SN, "runNo": RUN, "result": "PASS"})

    assert "SPI-01 (step 10)" in response.json()["error"]["message"]


# Malformed calls: 400, nothing stored.

TRACK_OUT_MALFORMED = [
    pytest.param({"sn": SN, "runNo": RUN}, "result", id="no result"),
    pytest.param({"sn": SN, "runNo": RUN, "result": "MAYBE"}, "result", id="result MAYBE"),
    pytest.param({"sn": SN, "runNo": RUN, "result": "pass"}, "result", id="result lowercase"),
    pytest.param({"sn": SN, "runNo": RUN, "result": True}, "result", id="result true"),
    pytest.param({"runNo": RUN, "result": "PASS"}, "sn", id="no sn"),
    pytest.param({"sn": SN, "result": "PASS"}, "runNo", id="no runNo"),
    pytest.param(
        {"sn": SN, "runNo": RUN, "result": "PASS", "data": PASTE}, "data", id="data object"
    ),
    pytest.param(
        {"sn": SN, "runNo": RUN, "result": "PASS", "data": [{"valueNumber": 1}]},
        "data",
        id="item without spec",
    ),
    pytest.param(
        {
            "sn": SN,
            "runNo": RUN,
            "result": "PASS",
            "data": [{"specName": "Paste Height", "valueNumber": "1"}],
        },
        "data",
        id="number as text",
    ),
    pytest.param({"sn": SN, "runNo": RUN, "result": "PASS", "data": ["x"]}, "data", id="item text"),
    pytest.param(
        {"sn": SN, "runNo": RUN, "result": "PASS", "defectCode": 5}, "defectCode", id="defectCode 5"
    ),
    pytest.param([], "non_field_errors", id="a list"),
    pytest.param(0, "non_field_errors", id="a number"),
]


@pytest.mark.parametrize(("body", "field"), TRACK_OUT_MALFORMED)
def test_a_malformed_track_out_is_a_400_and_stores_nothing(route_line, operator, body, field):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    before = written()

    response = post(operator, "SPI-01", "track-out", body)

    error = malformed(response)
    assert field in error["details"], error
    assert written() == before
    assert unit_state(SN) == ("IN_STATION", 10)


def test_a_track_out_over_the_body_limit_is_a_413(route_line, operator, settings):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    before = written()
    settings.INGEST_MAX_BODY_BYTES = 2048
    data = [PASTE] * 100

    response = post(
        operator, "SPI-01", "track-out", {"sn": SN, "runNo": RUN, "result": "PASS", "data": data}
    )

    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert written() == before


def test_a_json_null_track_out_is_a_400(route_line, operator):
    response = operator.post(
        "/api/stations/SPI-01/track-out", b"null", content_type="application/json"
    )

    malformed(response)
    assert written() == (0, 0, 0, 0, 0)


def test_a_track_out_that_is_not_json_is_a_415(route_line, operator):
    response = operator.post(
        "/api/stations/SPI-01/track-out", "<xml/>", content_type="application/xml"
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert written() == (0, 0, 0, 0, 0)
    assert not Unit.objects.exists()
