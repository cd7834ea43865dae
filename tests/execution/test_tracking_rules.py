"""The state machine's rules the stations API relies on (execution/tracking.py,
execution/holds.py): a failed unit's disposition and its refusals, rework, holds opened
by a track-out and their release, and when a run is completed."""

import pytest

from execution.failure_dispositions import dispose_failed_unit
from execution.holds import close_hold
from execution.models import DataSpec, FailureDisposition, Hold, Run, Track, Unit
from execution.tracking import TrackingRefused, track_in, track_out
from tests.factories import DataSpecFactory, DataValueFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db

SN = "SN-RULE-0001"
VISUAL_OK = [{"spec_name": "Visual Check", "value_boolean": True}]


def person():
    return UserFactory(username="qe-1")


def _in(line, station, sn=SN):
    return track_in(station_code=station.code, sn=sn, run_no=line.run.run_no)


def _out(line, station, result="PASS", sn=SN, data=None, **kwargs):
    key = f"{sn}-{station.code}-{Track.objects.count()}"
    return track_out(
        station_code=station.code,
        sn=sn,
        run_no=line.run.run_no,
        result=result,
        event_id=key,
        source_ref=f"track-out:{key}",
        data=data or [],
        **kwargs,
    )


def _through(line, sn=SN, *, last_step=True):
    """Pass unit `sn` through steps 10 and 20, and 30 unless `last_step` is False."""
    for station in (line.spi, line.reflow):
        _in(line, station, sn)
        _out(line, station, sn=sn)
    if last_step:
        _in(line, line.inspection, sn)
        _out(line, line.inspection, sn=sn, data=VISUAL_OK)


def _run_status(line) -> str:
    return Run.objects.get(pk=line.run.pk).status


@pytest.fixture
def final_height(route_line) -> DataSpec:
    """A spec of the last step whose alarm holds the unit (above 2.0)."""
    spec = DataSpecFactory(
        operation=route_line.visual.operation,
        name="Final Height",
        spec={"max": 1.5},
        alarm={"max": 2.0, "action": "HOLD"},
    )
    route_line.steps[2].data_specs.add(spec)
    return spec


def _held_at_last_step(line, result="PASS"):
    _through(line, last_step=False)
    _in(line, line.inspection)
    out = _out(
        line,
        line.inspection,
        result,
        data=[*VISUAL_OK, {"spec_name": "Final Height", "value_number": 2.5}],
    )
    assert out.unit.status == Unit.Status.ON_HOLD and out.hold.caused_by_event
    return out


# --- a failed unit's disposition ---


def test_a_disposition_keeps_who_when_why_and_the_failed_pass(route_line):
    _in(route_line, route_line.spi)
    failed = _out(route_line, route_line.spi, "FAIL").track
    person = UserFactory(username="qe-1")

    decision = dispose_failed_unit(
        SN, disposition="REWORK", rework_step_no=10, note="  reprint  ", decided_by=person
    )

    assert (decision.unit.sn, decision.track, decision.rework_step_no) == (SN, failed, 10)
    assert (decision.note, decision.decided_by, decision.disposition) == (
        "reprint",
        person,
        "REWORK",
    )
    assert decision.decided_at is not None


def test_rework_may_send_a_unit_back_to_an_earlier_step_at_that_steps_stations(route_line):
    _through(route_line, last_step=False)
    _in(route_line, route_line.inspection)
    _out(route_line, route_line.inspection, "FAIL")
    dispose_failed_unit(
        SN, disposition="REWORK", rework_step_no=20, note="reflow again", decided_by=person()
    )

    with pytest.raises(TrackingRefused) as refused:
        _in(route_line, route_line.inspection)
    again = _in(route_line, route_line.reflow)

    assert refused.value.code == "STATION_MISMATCH" and refused.value.details["stepNo"] == 20
    assert (again.track.step_no, again.unit.status) == (20, Unit.Status.IN_STATION)


@pytest.mark.parametrize(
    ("arrange", "arguments", "code"),
    [
        pytest.param(None, {}, "UNIT_NOT_FOUND", id="unknown unit"),
        pytest.param("in station", {}, "UNIT_NOT_FAILED", id="unit in station"),
        pytest.param("failed", {"rework_step_no": 15}, "STEP_NOT_IN_ROUTE", id="step 15"),
        pytest.param("failed", {"rework_step_no": None}, "STEP_NOT_IN_ROUTE", id="no step"),
    ],
)
def test_a_disposition_the_rules_refuse_changes_nothing(route_line, arrange, arguments, code):
    if arrange:
        _in(route_line, route_line.spi)
    if arrange == "failed":
        _out(route_line, route_line.spi, "FAIL")
    before = Unit.objects.filter(sn=SN).values_list("status", "current_step_no").first()

    with pytest.raises(TrackingRefused) as refused:
        dispose_failed_unit(SN, disposition="REWORK", note="why", decided_by=person(), **arguments)

    assert refused.value.code == code
    assert Unit.objects.filter(sn=SN).values_list("status", "current_step_no").first() == before
    assert not FailureDisposition.objects.exists()


@pytest.mark.parametrize(
    ("disposition", "note"), [("RELEASE", "fine"), ("REWORK", "  "), ("SCRAP", "")]
)
def test_a_disposition_needs_a_known_kind_and_a_note(route_line, disposition, note):
    _in(route_line, route_line.spi)
    _out(route_line, route_line.spi, "FAIL")

    with pytest.raises(ValueError):
        dispose_failed_unit(
            SN, disposition=disposition, rework_step_no=10, note=note, decided_by=person()
        )

    assert Unit.objects.get(sn=SN).status == Unit.Status.OUT_FAILED


# --- holds opened by a track-out ---


def test_a_failed_pass_that_opens_a_hold_stays_failed_after_its_release(route_line, final_height):
    out = _held_at_last_step(route_line, "FAIL")
    assert Hold.objects.get().unit_status_before == Unit.Status.OUT_FAILED

    close_hold(out.hold.hold_id, disposition="RELEASE", note="measured again", closed_by=None)

    assert Unit.objects.get(sn=SN).status == Unit.Status.OUT_FAILED
    with pytest.raises(TrackingRefused) as refused:
        _in(route_line, route_line.inspection)
    assert refused.value.code == "UNIT_FAILED"


def test_a_unit_released_during_its_pass_is_tracked_out_as_usual(route_line, final_height):
    _through(route_line, last_step=False)
    _in(route_line, route_line.inspection)
    unit = Unit.objects.get(sn=SN)
    alarmed = DataValueFactory(  # as a device event's, on the pass
        spec=final_height,
        track=unit.tracks.get(out_at=None),
        value_number=2.5,
        judge="FAIL",
        alarmed=True,
    )
    hold = Hold.objects.create(
        unit=unit,
        spec=final_height,
        first_value=alarmed,
        limits={},
        event_id="dev-1",
        opened_at=alarmed.collected_at,
        unit_status_before=Unit.Status.IN_STATION,
    )
    Unit.objects.filter(pk=unit.pk).update(status=Unit.Status.ON_HOLD)
    close_hold(hold.pk, disposition="RELEASE", note="false alarm", closed_by=None)

    out = _out(route_line, route_line.inspection, data=VISUAL_OK)

    assert (out.unit.status, out.hold) == (Unit.Status.DONE, None)
    assert _run_status(route_line) == Run.Status.COMPLETED


def test_releasing_the_hold_of_a_runs_last_unit_completes_the_run(route_line, final_height):
    out = _held_at_last_step(route_line)
    assert Hold.objects.get().unit_status_before == Unit.Status.DONE
    assert _run_status(route_line) == Run.Status.IN_PROGRESS  # held: not finished yet

    close_hold(out.hold.hold_id, disposition="RELEASE", note="within tolerance", closed_by=None)

    assert Unit.objects.get(sn=SN).status == Unit.Status.DONE
    run = Run.objects.get(pk=route_line.run.pk)
    assert run.status == Run.Status.COMPLETED and run.completed_at is not None


def test_a_run_with_a_unit_on_hold_is_completed_once_that_unit_is_scrapped(
    route_line, final_height
):
    _through(route_line, "SN-RULE-0002", last_step=False)
    out = _held_at_last_step(route_line)
    _in(route_line, route_line.inspection, "SN-RULE-0002")
    _out(route_line, route_line.inspection, sn="SN-RULE-0002", data=VISUAL_OK)
    assert _run_status(route_line) == Run.Status.IN_PROGRESS

    close_hold(out.hold.hold_id, disposition="SCRAP", note="lifted", closed_by=None)

    assert Unit.objects.get(sn=SN).status == Unit.Status.SCRAPPED
    assert _run_status(route_line) == Run.Status.COMPLETED


def test_a_run_whose_units_are_all_scrapped_is_completed(route_line):
    for sn in (SN, "SN-RULE-0002"):
        _in(route_line, route_line.spi, sn)
        _out(route_line, route_line.spi, "FAIL", sn=sn)

    dispose_failed_unit(SN, disposition="SCRAP", note="burnt", decided_by=person())
    assert _run_status(route_line) == Run.Status.IN_PROGRESS
    dispose_failed_unit("SN-RULE-0002", disposition="SCRAP", note="burnt", decided_by=person())

    assert _run_status(route_line) == Run.Status.COMPLETED


def test_a_unit_made_beforehand_that_never_started_keeps_its_run_open(route_line):
    UnitFactory(sn="SN-RULE-0002", run=route_line.run)

    _through(route_line)

    assert _run_status(route_line) == Run.Status.IN_PROGRESS
