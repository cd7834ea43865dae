"""The execution fields in the back office (docs/back-office.md, "Where a unit is"):
stations tracked by their machine, a step's station type and allowed stations, a run's
work order, line and times, a unit's current step, a pass's defect and inspection
override; the filters by run and unit status, by a unit tracked in or never, and by open
pass; and the forms that never move a unit the rules own."""

import pytest
from django.urls import reverse
from django.utils import timezone

from execution.models import Run, Station, Track, Unit
from execution.tracking import track_in
from tests.factories import RunFactory, StationFactory, TrackFactory, UnitFactory
from tests.route_line import fail_at_first_step


def change_url(model: str, pk: int) -> str:
    return reverse(f"admin:execution_{model}_change", args=[pk])


def list_url(model: str) -> str:
    return reverse(f"admin:execution_{model}_changelist")


def listed(client, model: str, query: str = "") -> list:
    response = client.get(list_url(model) + query)
    assert response.status_code == 200, response.get("Location")
    return list(response.context["cl"].result_list)


def failed_at_spi(line, sn="SN-F-0001"):
    """A unit of the route line that failed its first step (OUT_FAILED)."""
    return fail_at_first_step(line, sn)


# --- stations -------------------------------------------------------------------------------


def test_a_station_page_shows_and_saves_whether_its_machine_tracks_units(integration, db):
    station = StationFactory(code="AOI-9", cfx_handle="Vendor.AOI.9")
    url = change_url("station", station.pk)
    assert 'name="tracked_by_machine"' in integration.get(url).content.decode()

    response = integration.post(
        url,
        {
            "code": "AOI-9",
            "name": station.name,
            "station_type": Station.StationType.AUTO,
            "line_code": "LINE-1",
            "cfx_handle": "Vendor.AOI.9",
            "tracked_by_machine": "on",
        },
    )

    assert response.status_code == 302
    assert Station.objects.get(pk=station.pk).tracked_by_machine is True


def test_the_station_list_filters_stations_tracked_by_their_machine(integration, db):
    StationFactory(code="OVEN-CFX", tracked_by_machine=True)
    StationFactory(code="MANUAL-1")

    tracked = listed(integration, "station", "?tracked_by_machine__exact=1")

    assert [station.code for station in tracked] == ["OVEN-CFX"]


# --- route steps ----------------------------------------------------------------------------


def not_in_use(line):
    """The line's route version named by no run: its steps may be edited."""
    Run.objects.filter(pk=line.run.pk).update(route_version=None)


def step_form(step, **changes) -> dict:
    return {
        "route_version": step.route_version_id,
        "step_no": step.step_no,
        "operation": step.operation_id,
        "data_specs": [spec.pk for spec in step.data_specs.all()],
        "station_type": step.station_type,
        "allowed_stations": [station.pk for station in step.allowed_stations.all()],
        **changes,
    }


def test_a_route_step_saves_its_station_type_and_allowed_stations(integration, route_line):
    not_in_use(route_line)
    step = route_line.steps[1]  # reflow: AUTO, OVEN-01 only
    url = change_url("routestep", step.pk)

    response = integration.post(
        url, step_form(step, allowed_stations=[route_line.reflow.pk, route_line.reflow_spare.pk])
    )

    assert response.status_code == 302
    assert set(step.allowed_stations.values_list("code", flat=True)) == {"OVEN-01", "OVEN-02"}
    assert listed(integration, "routestep", "?station_type__exact=AUTO") == [
        route_line.steps[0],
        route_line.steps[1],
    ]


def test_a_route_step_refuses_allowed_stations_of_another_type(integration, route_line):
    not_in_use(route_line)
    step = route_line.steps[1]
    url = change_url("routestep", step.pk)

    response = integration.post(url, step_form(step, allowed_stations=[route_line.inspection.pk]))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["allowed_stations"]
    assert "INSPECT-01 (MANUAL)" in error and "station type AUTO" in error
    assert list(step.allowed_stations.values_list("code", flat=True)) == ["OVEN-01"]


def test_the_route_version_page_edits_each_steps_station_type_and_stations(integration, route_line):
    version = route_line.run.route_version
    not_in_use(route_line)
    url = change_url("routeversion", version.pk)
    data = {"code": version.code, "version_no": version.version_no}
    data.update({"steps-TOTAL_FORMS": "3", "steps-INITIAL_FORMS": "3"})
    for number, step in enumerate(route_line.steps):
        for name, value in step_form(step, id=step.pk).items():
            data[f"steps-{number}-{name}"] = value
    data["steps-2-station_type"] = ""  # the inspection step: any type of station

    response = integration.post(url, data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    route_line.steps[2].refresh_from_db()
    assert route_line.steps[2].station_type == ""
    body = integration.get(url).content.decode()
    assert 'name="steps-1-allowed_stations"' in body


# --- runs -----------------------------------------------------------------------------------


def test_a_run_page_edits_work_order_and_line_and_shows_its_times_read_only(
    integration, route_line
):
    run = route_line.run
    started = timezone.now()
    Run.objects.filter(pk=run.pk).update(started_at=started)
    url = change_url("run", run.pk)

    response = integration.post(
        url,
        {
            "run_no": run.run_no,
            "wo_no": "WO-2002",
            "line_code": "LINE-2",
            "route_version": run.route_version_id,
            "status": Run.Status.AUTHORIZED,
            "started_at": "2020-01-01 00:00:00",  # read-only: ignored
        },
    )

    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.wo_no, run.line_code, run.started_at) == ("WO-2002", "LINE-2", started)
    page = integration.get(url).content.decode()
    assert 'name="started_at"' not in page and 'name="completed_at"' not in page
    assert "Started at" in page and "Completed at" in page


def test_the_run_list_shows_work_order_and_line_and_filters_by_status(integration, route_line):
    RunFactory(run_no="RUN-DONE", status=Run.Status.COMPLETED)

    authorized = listed(integration, "run", "?status__exact=AUTHORIZED")
    body = integration.get(list_url("run")).content.decode()

    assert [run.run_no for run in authorized] == ["RUN-TRACK-001"]
    assert "WO-1001" in body and "LINE-1" in body


# --- units ----------------------------------------------------------------------------------


def unit_form(unit, **changes) -> dict:
    return {
        "sn": unit.sn,
        "run": unit.run_id or "",
        "status": unit.status,
        "current_step_no": unit.current_step_no or "",
        **changes,
    }


def test_a_queued_units_current_step_is_edited_on_its_form(integration, route_line):
    unit = UnitFactory(sn="SN-Q-1", run=route_line.run, status=Unit.Status.QUEUED)

    response = integration.post(change_url("unit", unit.pk), unit_form(unit, current_step_no=20))

    assert response.status_code == 302
    assert Unit.objects.get(pk=unit.pk).current_step_no == 20


def test_a_unit_in_station_keeps_its_status_and_step_whatever_the_form_says(
    integration, route_line
):
    moved = track_in(station_code="SPI-01", sn="SN-IN-1", run_no=route_line.run.run_no)
    url = change_url("unit", moved.unit.pk)
    assert 'name="current_step_no"' not in integration.get(url).content.decode()

    integration.post(url, unit_form(moved.unit, status="QUEUED", current_step_no=30))

    unit = Unit.objects.get(pk=moved.unit.pk)
    assert (unit.status, unit.current_step_no) == (Unit.Status.IN_STATION, 10)


def test_a_failed_unit_moves_only_by_a_disposition_not_by_its_form(integration, route_line):
    failed = failed_at_spi(route_line)

    integration.post(change_url("unit", failed.unit.pk), unit_form(failed.unit, status="REWORK"))

    assert Unit.objects.get(pk=failed.unit.pk).status == Unit.Status.OUT_FAILED


@pytest.mark.parametrize("status", ["IN_STATION", "OUT_FAILED", "ON_HOLD"])
def test_nobody_sets_a_status_that_comes_with_a_pass_or_a_hold_by_hand(
    integration, route_line, status
):
    unit = UnitFactory(sn="SN-Q-2", run=route_line.run, status=Unit.Status.QUEUED)

    response = integration.post(change_url("unit", unit.pk), unit_form(unit, status=status))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert Unit.objects.get(pk=unit.pk).status == Unit.Status.QUEUED


def test_the_unit_list_shows_the_current_step_and_filters_failed_units(integration, route_line):
    failed_at_spi(route_line)
    UnitFactory(sn="SN-Q-3", run=route_line.run, status=Unit.Status.QUEUED, current_step_no=20)

    failed = listed(integration, "unit", "?status__exact=OUT_FAILED")

    assert [unit.sn for unit in failed] == ["SN-F-0001"]
    assert failed[0].current_step_no == 10
    body = integration.get(list_url("unit")).content.decode()
    assert "Current step no" in body


def test_the_unit_list_filters_units_tracked_in_or_never(integration, route_line):
    failed_at_spi(route_line)  # one pass
    UnitFactory(sn="SN-BY-HAND", run=route_line.run, status=Unit.Status.DONE)

    tracked = listed(integration, "unit", "?tracked=yes")
    never = listed(integration, "unit", "?tracked=no")

    assert [unit.sn for unit in tracked] == ["SN-F-0001"]
    assert [unit.sn for unit in never] == ["SN-BY-HAND"]


# --- passes ---------------------------------------------------------------------------------


def test_a_pass_page_shows_its_defect_and_keeps_the_inspection_override_read_only(
    integration, route_line
):
    failed = failed_at_spi(route_line)
    Track.objects.filter(pk=failed.track.pk).update(inspection_override=True)
    url = change_url("track", failed.track.pk)
    shown = integration.get(url)
    page = shown.content.decode()
    values = shown.context["inline_admin_formsets"][0].formset.prefix
    assert 'value="BRIDGE"' in page and 'value="U7"' in page
    assert 'name="inspection_override"' not in page

    form = {
        "unit": failed.unit.pk,
        "step_no": 10,
        "station": route_line.spi.pk,
        "source": failed.track.source,
        "in_at_0": timezone.localtime(failed.track.in_at).strftime("%Y-%m-%d"),
        "in_at_1": timezone.localtime(failed.track.in_at).strftime("%H:%M:%S"),
        "out_at_0": timezone.localtime(failed.track.out_at).strftime("%Y-%m-%d"),
        "out_at_1": timezone.localtime(failed.track.out_at).strftime("%H:%M:%S"),
        "result": "FAIL",
        "defect_code": "SOLDER_BRIDGE",
        "defect_location": "U7 pins 3-4",
        "operator_id": "",
        "inspection_override": "",  # read-only: ignored
        f"{values}-TOTAL_FORMS": "0",
        f"{values}-INITIAL_FORMS": "0",
    }
    response = integration.post(url, form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    track = Track.objects.get(pk=failed.track.pk)
    assert (track.defect_code, track.defect_location) == ("SOLDER_BRIDGE", "U7 pins 3-4")
    assert track.inspection_override is True


def test_a_pass_page_cannot_reopen_the_pass_or_move_it_to_another_unit(integration, route_line):
    failed = failed_at_spi(route_line)
    other = UnitFactory(sn="SN-OTHER", run=route_line.run)
    url = change_url("track", failed.track.pk)
    values = integration.get(url).context["inline_admin_formsets"][0].formset.prefix
    form = {
        "unit": other.pk,
        "out_at_0": "",
        "out_at_1": "",
        "result": "",
        "defect_code": "BRIDGE",
        "defect_location": "U7",
        f"{values}-TOTAL_FORMS": "0",
        f"{values}-INITIAL_FORMS": "0",
    }
    response = integration.post(url, form)

    assert response.status_code == 302
    track = Track.objects.get(pk=failed.track.pk)
    assert (track.unit_id, track.result) == (failed.unit.pk, "FAIL")
    assert track.out_at == failed.track.out_at


def test_a_second_open_pass_typed_in_the_admin_is_a_form_error_not_a_500(integration, route_line):
    track_in(station_code="SPI-01", sn="SN-IN-3", run_no=route_line.run.run_no)
    unit = Unit.objects.get(sn="SN-IN-3")
    now = timezone.localtime()
    form = {
        "unit": unit.pk,
        "step_no": 10,
        "station": route_line.spi.pk,
        "source": "MANUAL",
        "in_at_0": now.strftime("%Y-%m-%d"),
        "in_at_1": now.strftime("%H:%M:%S"),
        "result": "",
        "defect_code": "",
        "defect_location": "",
        "operator_id": "",
        "data_values-TOTAL_FORMS": "0",
        "data_values-INITIAL_FORMS": "0",
    }
    response = integration.post(reverse("admin:execution_track_add"), form)

    assert response.status_code == 200
    assert "track_one_open_per_unit" in str(response.context["adminform"].form.errors)
    assert Track.objects.filter(unit=unit).count() == 1


def test_the_pass_list_shows_defects_and_filters_units_in_station(integration, route_line):
    failed_at_spi(route_line)
    track_in(station_code="SPI-01", sn="SN-IN-2", run_no=route_line.run.run_no)

    open_passes = listed(integration, "track", "?open=yes")
    closed = listed(integration, "track", "?open=no")
    body = integration.get(list_url("track")).content.decode()

    assert [track.unit.sn for track in open_passes] == ["SN-IN-2"]
    assert [track.unit.sn for track in closed] == ["SN-F-0001"]
    assert "BRIDGE" in body and "Inspection override" in body


def test_the_pass_list_filters_passes_turned_to_fail_by_inspection(integration, db):
    station = StationFactory(code="AOI-7")
    overridden = TrackFactory(station=station, inspection_override=True, result="FAIL")
    TrackFactory(station=station)

    found = listed(integration, "track", "?inspection_override__exact=1")

    assert found == [overridden]


def test_a_route_version_used_by_a_run_cannot_be_changed_in_the_admin(integration, route_line):
    step = route_line.steps[0]
    version_url = change_url("routeversion", step.route_version_id)

    page = integration.get(version_url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert integration.get(change_url("routestep", step.pk)).context["has_change_permission"] is (
        False
    )
    new_step = integration.post(
        reverse("admin:execution_routestep_add"),
        {
            "route_version": step.route_version_id,
            "step_no": 40,
            "operation": step.operation_id,
            "station_type": "",
        },
    )
    assert new_step.status_code == 200
    assert "used by a run" in str(new_step.context["adminform"].form.errors)
    assert step.route_version.steps.count() == 3
