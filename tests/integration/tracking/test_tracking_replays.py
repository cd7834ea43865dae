"""A FAILED track-in or track-out without an eventId is replayed once: nothing else tells
its re-send from a new call (docs/execution.md, "Exactly once")."""

import pytest

from execution.failure_dispositions import dispose_failed_unit
from execution.models import Run, Track
from integration.ingestion.errors import MessageNotReplayable
from integration.tracking.errors import TrackingCallRefused
from integration.tracking.service import (
    receive_track_in,
    receive_track_out,
    replay_tracking_message,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_replayed_call_without_an_id_is_not_taken_a_second_time(route_line):
    operator = UserFactory(username="op-9", groups=["Operators"])
    run = route_line.run
    at_spi = {"station_code": "SPI-01", "sent_by": operator}
    Run.objects.filter(pk=run.pk).update(status=Run.Status.PREP)
    with pytest.raises(TrackingCallRefused) as refused:
        receive_track_in({"sn": "SN-R", "runNo": run.run_no}, **at_spi)
    failed = refused.value.failed_message
    Run.objects.filter(pk=run.pk).update(status=Run.Status.AUTHORIZED)
    replay_tracking_message(failed, replayed_by=operator)
    failed.refresh_from_db()
    assert failed.resolved_at is not None
    # The unit fails its step and is sent back to it: a stale track-in would fit again.
    receive_track_out({"sn": "SN-R", "runNo": run.run_no, "result": "FAIL"}, **at_spi)
    dispose_failed_unit(
        "SN-R", disposition="REWORK", rework_step_no=10, note="again", decided_by=operator
    )

    with pytest.raises(MessageNotReplayable, match="taken once"):
        replay_tracking_message(failed, replayed_by=operator)

    assert Track.objects.filter(unit__sn="SN-R").count() == 1


def test_a_replay_that_finds_its_message_resolved_meanwhile_is_refused(route_line):
    operator = UserFactory(username="op-10", groups=["Operators"])
    run = route_line.run
    Run.objects.filter(pk=run.pk).update(status=Run.Status.PREP)
    with pytest.raises(TrackingCallRefused) as refused:
        receive_track_in(
            {"sn": "SN-S", "runNo": run.run_no}, station_code="SPI-01", sent_by=operator
        )
    Run.objects.filter(pk=run.pk).update(status=Run.Status.AUTHORIZED)
    stale = refused.value.failed_message  # as a second admin's page loaded it
    fresh = type(stale).objects.get(pk=stale.pk)
    replay_tracking_message(fresh, replayed_by=operator)
    assert stale.resolved_at is None  # this copy does not know

    with pytest.raises(MessageNotReplayable, match="taken once"):
        replay_tracking_message(stale, replayed_by=operator)

    assert Track.objects.filter(unit__sn="SN-S").count() == 1
