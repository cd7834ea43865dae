"""A unit through its whole route by track-in and track-out (execution/tracking.py)."""

import pytest
from django.utils import timezone

from execution.failure_dispositions import dispose_failed_unit
from execution.holds import HoldCause, close_hold, hold_units
from execution.models import FailureDisposition, Hold, PassResult, Run, Track, Unit
from execution.tracking import TrackingRefused, track_in, track_out
from tests.factories import DataValueFactory, UnitFactory, UserFactory

pytestmark = pytest.mark.django_db


def _in(line, station, sn="SN-T-0001", **kwargs):
    return track_in(station_code=station.code, sn=sn, run_no=line.run.run_no, **kwargs)


def _out(line, station, result="PASS", sn="SN-T-0001", data=None, key="k-1", **kwargs):
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


def test_a_unit_passes_every_step_and_its_run_completes(route_line):
    line = route_line
    first = _in(line, line.spi, wo_no="WO-1001", operator_id="op-7")
    assert (first.unit.status, first.track.step_no) == (Unit.Status.IN_STATION, 10)
    assert Run.objects.get(pk=line.run.pk).status == Run.Status.IN_PROGRESS
    out = _out(line, line.spi, data=[{"spec_name": "Paste Height", "value_number": 120.0}])
    assert (out.unit.status, out.next_step_no) == (Unit.Status.QUEUED, 20)
    assert [value.judge for value in out.values] == ["PASS"]
    _in(line, line.reflow)
    _out(line, line.reflow, key="k-2")
    _in(line, line.inspection)
    last = _out(
        line,
        line.inspection,
        key="k-3",
        data=[{"spec_name": "Visual Check", "value_boolean": True}],
    )
    assert last.unit.status == Unit.Status.DONE
    assert last.next_step_no is None
    run = Run.objects.get(pk=line.run.pk)
    assert run.status == Run.Status.COMPLETED and run.completed_at is not None
    assert list(
        Track.objects.filter(unit__sn="SN-T-0001")
        .order_by("in_at")
        .values_list("step_no", "result")
    ) == [(10, "PASS"), (20, "PASS"), (30, "PASS")]


def test_a_failed_unit_goes_on_after_rework(route_line):
    line = route_line
    _in(line, line.spi)
    out = _out(line, line.spi, result="FAIL", defect_location="U7")
    assert out.unit.status == Unit.Status.OUT_FAILED
    assert (out.track.defect_code, out.track.defect_location) == ("STATION_FAIL", "U7")
    with pytest.raises(TrackingRefused) as refused:
        _in(line, line.spi)
    assert refused.value.code == "UNIT_FAILED"
    person = UserFactory()
    decision = dispose_failed_unit(
        "SN-T-0001", disposition="REWORK", rework_step_no=10, note="reprint", decided_by=person
    )
    assert decision.track == out.track
    again = _in(line, line.spi)
    assert again.track.step_no == 10
    assert FailureDisposition.objects.count() == 1


def test_the_rules_refuse_in_order(route_line):
    line = route_line
    cases = [
        (dict(station_code="NOPE"), "STATION_NOT_FOUND"),
        (dict(run_no="NOPE"), "RUN_NOT_FOUND"),
        (dict(wo_no="WO-OTHER"), "RUN_WORK_ORDER_MISMATCH"),
        (dict(station_code=line.inspection.code), "STATION_MISMATCH"),
    ]
    for overrides, code in cases:
        arguments = dict(station_code=line.spi.code, sn="SN-T-0009", run_no=line.run.run_no)
        with pytest.raises(TrackingRefused) as refused:
            track_in(**{**arguments, **overrides})
        assert refused.value.code == code
    assert not Unit.objects.filter(sn="SN-T-0009").exists()


def test_a_hold_opened_by_a_track_out_refuses_the_next_track_in(route_line):
    line = route_line
    _in(line, line.spi)
    _out(line, line.spi)
    _in(line, line.reflow)
    out = _out(
        line,
        line.reflow,
        key="k-2",
        data=[{"spec_name": "Peak Temperature", "value_number": 260.0}],
    )
    assert out.unit.status == Unit.Status.ON_HOLD and out.hold.caused_by_event
    hold = Hold.objects.get()
    assert hold.unit_status_before == Unit.Status.QUEUED
    with pytest.raises(TrackingRefused) as refused:
        _in(line, line.inspection)
    assert refused.value.code == "UNIT_ON_HOLD"


def test_a_failed_key_value_on_the_pass_turns_pass_into_fail(route_line):
    line = route_line
    for station, key in ((line.spi, "a"), (line.reflow, "b")):
        _in(line, station)
        _out(line, station, key=key)
    _in(line, line.inspection)
    out = _out(
        line,
        line.inspection,
        key="c",
        data=[
            {"spec_name": "AOI Result", "value_boolean": False},
            {"spec_name": "Visual Check", "value_boolean": True},
        ],
        operator_id="op-1",
    )
    assert out.track.result == PassResult.FAIL and out.track.inspection_override
    assert out.unit.status == Unit.Status.OUT_FAILED


def test_a_pass_without_required_data_is_refused(route_line):
    line = route_line
    for station, key in ((line.spi, "a"), (line.reflow, "b")):
        _in(line, station)
        _out(line, station, key=key)
    _in(line, line.inspection)
    with pytest.raises(TrackingRefused) as refused:
        _out(line, line.inspection, key="c")
    assert refused.value.code == "REQUIRED_DATA_MISSING"
    assert refused.value.details == {"specs": ["Visual Check"]}


def _held_in_station(line):
    """The unit in station at the oven, held by an alarmed peak sent as a device event."""
    _in(line, line.spi)
    _out(line, line.spi)
    _in(line, line.reflow)
    track = Track.objects.get(unit__sn="SN-T-0001", out_at=None)
    value = DataValueFactory(
        spec=line.peak, track=track, value_number=260.0, judge="FAIL", alarmed=True
    )
    hold_units([HoldCause(track.unit_id, value, "evt-hot")], timezone.now())
    return Hold.objects.get(closed_at=None)


def test_a_hold_sent_to_rework_in_station_ends_the_pass_and_the_unit_starts_again(route_line):
    line = route_line
    hold = _held_in_station(line)
    close_hold(hold.pk, disposition="REWORK", note="reflow again", closed_by=UserFactory())
    ended = Track.objects.get(unit__sn="SN-T-0001", step_no=20)
    assert (ended.result, ended.defect_code) == ("FAIL", "HOLD_REWORK")
    assert ended.out_at is not None
    again = _in(line, line.reflow)
    assert again.track.step_no == 20 and again.unit.status == Unit.Status.IN_STATION


def test_a_hold_that_scraps_the_last_unit_completes_its_run(route_line):
    line = route_line
    hold = _held_in_station(line)
    close_hold(hold.pk, disposition="SCRAP", note="burnt", closed_by=UserFactory())
    assert Unit.objects.get(sn="SN-T-0001").status == Unit.Status.SCRAPPED
    assert not Track.objects.filter(unit__sn="SN-T-0001", out_at=None).exists()
    assert Run.objects.get(pk=line.run.pk).status == Run.Status.COMPLETED


def test_a_held_unit_tracked_out_is_released_to_where_the_track_out_sent_it(route_line):
    line = route_line
    hold = _held_in_station(line)
    out = _out(line, line.reflow, key="k-2")
    assert out.unit.status == Unit.Status.ON_HOLD and out.hold.hold_id == hold.pk
    assert not out.hold.caused_by_event
    close_hold(hold.pk, disposition="RELEASE", note="fine", closed_by=UserFactory())
    unit = Unit.objects.get(sn="SN-T-0001")
    assert (unit.status, unit.current_step_no) == (Unit.Status.QUEUED, 30)


def test_a_unit_registered_without_a_run_joins_the_run_of_its_first_track_in(route_line):
    line = route_line
    UnitFactory(sn="SN-T-0001", run=None)
    first = _in(line, line.spi)
    assert first.unit.run_id == line.run.pk and first.track.step_no == 10
