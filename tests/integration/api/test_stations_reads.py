"""What a station asks before it acts (docs/api.md "Stations"): where a unit is
(resolve-unit), the units in station here (queue) and what to collect (data-specs). Reads
write nothing, not even a message."""

import pytest

from execution.models import Hold, Track
from integration.models import IntegrationMessage
from tests.factories import DataSpecFactory, UnitFactory
from tests.integration.api.stations_api import (
    STATIONS,
    accepted,
    track_in,
    track_out,
    walk_to,
)

pytestmark = pytest.mark.django_db

SN = "SN-READ-0001"
RUN = "RUN-TRACK-001"


def _not_found(response, code: str):
    assert response.status_code == 404, response.content
    body = response.json()
    assert (body["ok"], body["error"]["code"]) == (False, code)
    assert "details" not in body["error"]  # nothing is kept for a read


def _utc(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- resolve-unit ---


def test_resolve_unit_says_where_a_unit_in_station_is(route_line, operator):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    track = Track.objects.get()

    answer = accepted(operator.get(f"{STATIONS}/resolve-unit/{SN}"))

    assert answer == {
        "sn": SN,
        "runNo": RUN,
        "woNo": "WO-1001",
        "status": "IN_STATION",
        "currentStepNo": 10,
        "openTrack": {
            "trackId": str(track.pk),
            "stepNo": 10,
            "stationCode": "SPI-01",
            "inAt": _utc(track.in_at),
        },
        "hold": None,
    }


def test_resolve_unit_of_a_queued_unit_has_no_open_pass(route_line, operator):
    walk_to(operator, route_line, SN, 20)

    answer = accepted(operator.get(f"{STATIONS}/resolve-unit/{SN}"))

    assert (answer["status"], answer["currentStepNo"], answer["openTrack"]) == ("QUEUED", 20, None)


def test_resolve_unit_names_the_open_hold(route_line, operator):
    walk_to(operator, route_line, SN, 20)
    accepted(track_in(operator, "OVEN-01", SN, RUN))
    hot = [{"specName": "Peak Temperature", "valueNumber": 260}]
    accepted(track_out(operator, "OVEN-01", SN, RUN, data=hot))
    hold = Hold.objects.get()

    answer = accepted(operator.get(f"{STATIONS}/resolve-unit/{SN}"))

    assert answer["status"] == "ON_HOLD"
    assert answer["hold"] == {"id": str(hold.pk), "openedAt": _utc(hold.opened_at)}


def test_resolve_unit_of_a_unit_without_a_run_or_work_order(route_line, operator):
    UnitFactory(sn=SN, run=None)

    answer = accepted(operator.get(f"{STATIONS}/resolve-unit/{SN}"))

    assert (answer["runNo"], answer["woNo"], answer["currentStepNo"]) == (None, None, None)


def test_resolve_unit_of_an_unknown_unit_is_a_404(route_line, operator):
    _not_found(operator.get(f"{STATIONS}/resolve-unit/SN-NOPE"), "UNIT_NOT_FOUND")

    assert not IntegrationMessage.objects.exists()


# --- queue ---


def test_the_queue_lists_the_units_in_station_there_first_in_first(route_line, operator):
    for sn in ("SN-Q-3", "SN-Q-1", "SN-Q-2"):
        accepted(track_in(operator, "SPI-01", sn, RUN))
    accepted(track_out(operator, "SPI-01", "SN-Q-1", RUN))  # gone on to the oven
    accepted(track_in(operator, "OVEN-01", "SN-Q-1", RUN))  # in station elsewhere

    answer = accepted(operator.get(f"{STATIONS}/SPI-01/queue"))

    assert answer["station"] == {"code": "SPI-01", "name": "Station SPI-01"}
    assert [entry["sn"] for entry in answer["queue"]] == ["SN-Q-3", "SN-Q-2"]
    first = Track.objects.get(unit__sn="SN-Q-3")
    assert answer["queue"][0] == {
        "sn": "SN-Q-3",
        "runNo": RUN,
        "woNo": "WO-1001",
        "status": "IN_STATION",
        "currentStepNo": 10,
        "trackId": str(first.pk),
        "inAt": _utc(first.in_at),
    }
    oven = accepted(operator.get(f"{STATIONS}/OVEN-01/queue"))
    assert [entry["sn"] for entry in oven["queue"]] == ["SN-Q-1"]


def test_the_queue_of_an_idle_station_is_empty(route_line, operator):
    answer = accepted(operator.get(f"{STATIONS}/INSPECT-01/queue"))

    assert answer["queue"] == []


def test_the_queue_of_an_unknown_station_is_a_404(route_line, operator):
    _not_found(operator.get(f"{STATIONS}/NOPE-01/queue"), "STATION_NOT_FOUND")


# --- data-specs ---


def test_data_specs_are_the_specs_of_the_units_current_step(route_line, operator):
    walk_to(operator, route_line, SN, 30)

    answer = accepted(operator.get(f"{STATIONS}/INSPECT-01/units/{SN}/data-specs"))

    assert (answer["sn"], answer["stepNo"], answer["operationCode"]) == (
        SN,
        30,
        "OP-TRK-INSPECT",
    )
    assert answer["operationName"] == "Operation OP-TRK-INSPECT"
    line = route_line
    assert answer["specs"] == [
        {
            "id": str(line.aoi_result.pk),
            "name": "AOI Result",
            "itemType": "KEY",
            "dataType": "BOOLEAN",
            "method": "AUTO",
            "isRequired": False,
            "spec": {"expected": True},
            "alarm": None,
        },
        {
            "id": str(line.visual.pk),
            "name": "Visual Check",
            "itemType": line.visual.item_type,
            "dataType": "BOOLEAN",
            "method": "MANUAL",
            "isRequired": True,
            "spec": {"expected": True},
            "alarm": None,
        },
    ]


def test_data_specs_of_a_unit_in_station_give_its_alarm_limits(route_line, operator):
    walk_to(operator, route_line, SN, 20)
    accepted(track_in(operator, "OVEN-01", SN, RUN))

    answer = accepted(operator.get(f"{STATIONS}/OVEN-01/units/{SN}/data-specs"))

    [peak] = answer["specs"]
    assert (answer["stepNo"], peak["name"]) == (20, "Peak Temperature")
    assert peak["alarm"] == {"min": 235, "max": 255, "action": "HOLD"}


def test_data_specs_of_a_unit_not_yet_started_are_its_first_steps(route_line, operator):
    UnitFactory(sn=SN, run=route_line.run)

    answer = accepted(operator.get(f"{STATIONS}/SPI-01/units/{SN}/data-specs"))

    assert answer["stepNo"] == 10
    assert [spec["name"] for spec in answer["specs"]] == ["Paste Height"]


def test_a_step_binding_no_spec_collects_its_operations_active_specs(route_line, operator):
    printing = route_line.steps[0]
    printing.data_specs.clear()
    DataSpecFactory(operation=printing.operation, name="Squeegee Pressure")
    DataSpecFactory(operation=printing.operation, name="Retired Check", is_active=False)
    UnitFactory(sn=SN, run=route_line.run)

    answer = accepted(operator.get(f"{STATIONS}/SPI-01/units/{SN}/data-specs"))

    assert [spec["name"] for spec in answer["specs"]] == ["Paste Height", "Squeegee Pressure"]


def test_data_specs_of_an_unknown_station_or_unit_are_a_404(route_line, operator):
    UnitFactory(sn=SN, run=route_line.run)

    _not_found(operator.get(f"{STATIONS}/NOPE-01/units/{SN}/data-specs"), "STATION_NOT_FOUND")
    _not_found(operator.get(f"{STATIONS}/SPI-01/units/SN-NOPE/data-specs"), "UNIT_NOT_FOUND")
    assert not IntegrationMessage.objects.exists()
