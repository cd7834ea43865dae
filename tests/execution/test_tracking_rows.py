"""What a track-out reads of its pass in one statement (execution/tracking_rows.py), and
what a refusal leaves behind, on PostgreSQL and SQLite alike: values a device wrote on the
pass before count, a hold opened before is named, a step gone from the route still closes
the pass, and a refused call writes nothing and leaves its caller's transaction usable."""

import pytest
from django.db import transaction
from django.utils import timezone

from execution.models import DataValue, Hold, PassResult, RouteStep, Track, Unit
from execution.tracking import TrackingRefused, track_in, track_out
from integration.models import IntegrationMessage
from integration.tracking.errors import TrackingCallRefused
from integration.tracking.service import receive_track_in
from tests.factories import DataValueFactory, UserFactory

pytestmark = pytest.mark.django_db

SN = "SN-ROWS-0001"


def _in(line, station, sn=SN):
    return track_in(station_code=station.code, sn=sn, run_no=line.run.run_no)


def _out(line, station, data=None, key="k", result="PASS"):
    return track_out(
        station_code=station.code, sn=SN, run_no=line.run.run_no, result=result,
        event_id=key, source_ref=f"track-out:{key}", data=data or [],
    )  # fmt: skip


def at_inspection(line) -> Track:
    """The unit through printing and reflow, in station at the manual inspection."""
    for station, key in ((line.spi, "a"), (line.reflow, "b")):
        _in(line, station)
        _out(line, station, key=key)
    return _in(line, line.inspection).track


def test_a_required_value_written_on_the_pass_before_lets_a_pass_through(route_line):
    track = at_inspection(route_line)
    DataValueFactory(spec=route_line.visual, track_id=track.pk, value_number=None,
                     value_boolean=True, station=route_line.inspection, run=route_line.run,
                     source="MANUAL")  # fmt: skip

    out = _out(route_line, route_line.inspection, key="c")

    assert (out.track.result, out.unit.status) == (PassResult.PASS, Unit.Status.DONE)
    assert out.values == []


def test_a_key_value_failed_on_the_pass_before_turns_a_pass_into_fail(route_line):
    track = at_inspection(route_line)
    DataValueFactory(spec=route_line.aoi_result, track_id=track.pk, value_number=None,
                     value_boolean=False, judge=DataValue.Judge.FAIL,
                     station=route_line.inspection, run=route_line.run)  # fmt: skip

    out = _out(
        route_line, route_line.inspection, key="c",
        data=[{"spec_name": "Visual Check", "value_boolean": True}],
    )  # fmt: skip

    assert out.track.result == PassResult.FAIL and out.track.inspection_override
    assert out.track.defect_code == "INSPECTION_FAIL"
    assert out.unit.status == Unit.Status.OUT_FAILED
    assert Track.objects.get(pk=track.pk).result == PassResult.FAIL


def test_a_unit_held_before_its_track_out_stays_held_and_the_answer_names_the_hold(route_line):
    track = _in(route_line, route_line.spi).track
    value = DataValueFactory(spec=route_line.paste_height, track_id=track.pk, alarmed=True,
                             station=route_line.spi, run=route_line.run)  # fmt: skip
    opened_at = timezone.now().replace(microsecond=123456)
    hold = Hold.objects.create(
        unit_id=track.unit_id, spec=route_line.paste_height, first_value=value,
        event_id="evt-hold", opened_at=opened_at, unit_status_before=Unit.Status.IN_STATION,
    )  # fmt: skip
    Unit.objects.filter(pk=track.unit_id).update(status=Unit.Status.ON_HOLD)

    out = _out(
        route_line, route_line.spi, data=[{"spec_name": "Paste Height", "value_number": 120}]
    )

    assert out.unit.status == Unit.Status.ON_HOLD and out.next_step_no == 20
    assert (out.hold.hold_id, out.hold.opened_at, out.hold.caused_by_event) == (
        hold.pk,
        opened_at,
        False,
    )
    hold.refresh_from_db()
    assert hold.unit_status_before == Unit.Status.QUEUED  # where a release sends it
    assert Unit.objects.get(pk=track.unit_id).current_step_no == 20


def test_a_pass_whose_step_left_the_route_is_closed_and_the_unit_queued_at_the_next(route_line):
    _in(route_line, route_line.spi)
    RouteStep.objects.filter(route_version=route_line.run.route_version, step_no=10).delete()

    out = _out(route_line, route_line.spi)

    assert (out.track.result, out.next_step_no, out.unit.status) == ("PASS", 20, "QUEUED")
    assert Track.objects.get().out_at is not None


def test_a_refused_track_in_writes_nothing_and_leaves_the_callers_transaction_usable(route_line):
    with transaction.atomic():
        # An unknown unit at a station that cannot do the first step: refused before the
        # unit is created.
        with pytest.raises(TrackingRefused) as refused:
            _in(route_line, route_line.inspection)
        assert refused.value.code == "STATION_MISMATCH"
        assert not Unit.objects.filter(sn=SN).exists()
        # The transaction goes on: the same unit is tracked in where it fits.
        assert _in(route_line, route_line.spi).track.step_no == 10
    assert Track.objects.get().unit.sn == SN


def test_a_refused_call_by_its_event_id_keeps_only_its_failed_message(route_line):
    operator = UserFactory(username="op-rows")
    call = {"sn": SN, "runNo": route_line.run.run_no, "eventId": "ti-refused"}

    with pytest.raises(TrackingCallRefused) as refused:
        receive_track_in(call, station_code=route_line.inspection.code, sent_by=operator)

    assert refused.value.code == "STATION_MISMATCH"
    assert not Unit.objects.filter(sn=SN).exists() and not Track.objects.exists()
    kept = IntegrationMessage.objects.get()
    assert (kept.status, kept.error_code, kept.sent_by) == ("FAILED", "STATION_MISMATCH", operator)
    # Sent again where it fits: written, and the failed attempt resolved.
    outcome = receive_track_in(call, station_code=route_line.spi.code, sent_by=operator)
    assert outcome.is_duplicate is False
    kept.refresh_from_db()
    assert kept.resolved_at is not None
