"""The unit's journey on its page (integration/unit_journey.py, docs/unit-page.md): its
current step and status, each pass with its times, station, step, result, defect,
inspection override, operator and sender, its failed passes' dispositions, the link to
decide one, and the track-in/out calls among its history and messages."""

import pytest
from django.urls import reverse

from execution.failure_dispositions import dispose_failed_unit
from execution.models import Unit
from execution.tracking import track_in, track_out
from execution.unit_history import Kind
from execution.unit_links import unit_page_url
from integration.tracking.errors import TrackingCallRefused
from integration.tracking.service import receive_track_in, receive_track_out
from tests.factories import UnitFactory, UserFactory

SN = "SN-J-0001"


def call(receive, station, sender, event_id=None, **body):
    payload = {"sn": SN, "runNo": "RUN-TRACK-001", "operatorId": "op-7", **body}
    if event_id:
        payload["eventId"] = event_id
    return receive(payload, station_code=station, sent_by=sender)


@pytest.fixture
def journey(route_line):
    """SN-J-0001 through the boundary, as a station terminal sends it: printed and
    inspected (PASS), failed at the oven with a defect, refused while failed, sent to
    rework at the oven by quality staff, and tracked in there again without an eventId."""
    terminal = UserFactory(username="terminal-3", password=None, groups=["Operators"])
    call(receive_track_in, "SPI-01", terminal, "ti-1")
    call(
        receive_track_out,
        "SPI-01",
        terminal,
        "to-1",
        result="PASS",
        data=[{"specName": "Paste Height", "valueNumber": 120}],
    )
    call(receive_track_in, "OVEN-01", terminal, "ti-2")
    call(
        receive_track_out,
        "OVEN-01",
        terminal,
        "to-2",
        result="FAIL",
        defectCode="VOID",
        defectLocation="U3",
    )
    with pytest.raises(TrackingCallRefused):
        call(receive_track_in, "OVEN-01", terminal)  # UNIT_FAILED, kept as FAILED
    dispose_failed_unit(
        SN,
        disposition="REWORK",
        rework_step_no=20,
        note="Void under U3 reflowed",
        decided_by=UserFactory(username="qe-anna", groups=["Quality staff"]),
    )
    call(receive_track_in, "OVEN-01", terminal)  # no eventId: no record of its sender
    return Unit.objects.get(sn=SN)


def page(client, unit):
    response = client.get(unit_page_url(unit))
    assert response.status_code == 200
    return response


def test_the_page_shows_the_units_status_and_current_step(quality, journey):
    body = page(quality, journey).content.decode()

    assert "In station" in body
    assert "step 20: OP-TRK-REFLOW" in body
    assert "work order WO-1001" in body and "line LINE-1" in body


def test_each_pass_shows_times_station_step_result_defect_operator_and_sender(quality, journey):
    response = page(quality, journey)

    passes = response.context["journey"].passes
    shown = [
        (
            row.track.step_no,
            row.track.station.code,
            row.track.result,
            row.track.defect_code,
            row.track.defect_location,
            row.track.operator_id,
            row.sent_in_by,
            row.sent_out_by,
        )
        for row in passes
    ]
    assert shown == [
        (10, "SPI-01", "PASS", "", "", "op-7", "terminal-3", "terminal-3"),
        (20, "OVEN-01", "FAIL", "VOID", "U3", "op-7", "terminal-3", "terminal-3"),
        (20, "OVEN-01", None, "", "", "op-7", "", ""),
    ]
    assert all(row.track.in_at for row in passes) and passes[1].track.out_at
    body = response.content.decode()
    assert 'id="unit-passes"' in body
    assert body.count('class="mes-pass-row') == 3
    assert "VOID" in body and "U3" in body and "terminal-3" in body and "in station" in body


def test_a_pass_turned_to_fail_by_a_key_value_says_so(quality, route_line):
    run_no, sn = route_line.run.run_no, "SN-J-0002"
    track_in(station_code="SPI-01", sn=sn, run_no=run_no)
    track_out(
        station_code="SPI-01", sn=sn, run_no=run_no, result="PASS", event_id="a", source_ref="a"
    )
    track_in(station_code="OVEN-01", sn=sn, run_no=run_no)
    track_out(
        station_code="OVEN-01", sn=sn, run_no=run_no, result="PASS", event_id="b", source_ref="b"
    )
    track_in(station_code="INSPECT-01", sn=sn, run_no=run_no)
    out = track_out(
        station_code="INSPECT-01",
        sn=sn,
        run_no=run_no,
        result="PASS",
        event_id="c",
        source_ref="c",
        data=[
            {"spec_name": "AOI Result", "value_boolean": False},
            {"spec_name": "Visual Check", "value_boolean": True},
        ],
    )
    assert out.track.inspection_override  # the station said PASS; the AOI said no

    response = page(quality, out.unit)

    last = response.context["journey"].passes[-1]
    assert (last.track.result, last.track.defect_code) == ("FAIL", "INSPECTION_FAIL")
    assert "inspection override" in last.outcome
    assert "yes: PASS → FAIL" in response.content.decode()


def test_the_failed_passes_dispositions_show_who_decided_what_and_why(quality, journey):
    response = page(quality, journey)

    [decision] = response.context["journey"].dispositions
    assert (decision.disposition, decision.rework_step_no) == ("REWORK", 20)
    body = response.content.decode()
    assert 'id="unit-dispositions"' in body
    assert "Void under U3 reflowed" in body and "qe-anna" in body
    assert reverse("admin:execution_failuredisposition_change", args=[decision.pk]) in body


def test_the_history_has_the_disposition_and_the_failed_exit_with_its_defect(quality, journey):
    rows = page(quality, journey).context["page"].rows

    [decided] = [row for row in rows if row.kind == Kind.DISPOSITION]
    assert (decided.status, decided.value, decided.by) == (
        "REWORK",
        "rework at step 20",
        "qe-anna",
    )
    failed_exit = next(row for row in rows if row.kind == Kind.TRACK_OUT and row.status == "FAIL")
    assert failed_exit.note == "defect VOID at U3"
    assert [row.key for row in rows] == sorted(row.key for row in rows)


def test_the_track_in_and_out_messages_are_the_units_messages(quality, journey):
    response = page(quality, journey)

    counts = response.context["counts"]
    # ti-1, to-1, ti-2, to-2 by their records' eventIds; the refused track-in by its sn.
    assert (counts.failed, counts.total) == (1, 5)
    messages = [row for row in response.context["page"].rows if row.kind == Kind.MESSAGE]
    assert {row.event_id for row in messages if row.status == "SUCCESS"} == {
        "track-in:ti-1",
        "track-out:to-1",
        "track-in:ti-2",
        "track-out:to-2",
    }
    [refused] = [row for row in messages if row.status == "FAILED"]
    assert (refused.error_code, refused.by) == ("UNIT_FAILED", "terminal-3")


def test_a_failed_unit_links_quality_staff_to_its_disposition(quality, route_line):
    run_no = route_line.run.run_no
    track_in(station_code="SPI-01", sn=SN, run_no=run_no)
    out = track_out(
        station_code="SPI-01", sn=SN, run_no=run_no, result="FAIL", event_id="x", source_ref="x"
    )

    body = page(quality, out.unit).content.decode()

    url = reverse("admin:execution_failuredisposition_dispose", args=[out.unit.pk])
    assert f'href="{url}" id="unit-dispose"' in body
    assert "waiting for a disposition" in body


def test_people_who_may_not_decide_see_no_disposition_link(integration, route_line):
    run_no = route_line.run.run_no
    track_in(station_code="SPI-01", sn=SN, run_no=run_no)
    out = track_out(
        station_code="SPI-01", sn=SN, run_no=run_no, result="FAIL", event_id="x", source_ref="x"
    )

    response = page(integration, out.unit)

    assert response.context["dispose_url"] is None
    assert 'id="unit-dispose"' not in response.content.decode()


def test_a_decided_unit_has_no_disposition_link_any_more(quality, journey):
    response = page(quality, journey)

    assert journey.status == Unit.Status.IN_STATION  # reworked, and in station again
    assert response.context["dispose_url"] is None
    assert 'id="unit-dispose"' not in response.content.decode()


def test_a_unit_not_tracked_in_yet_says_so(quality, route_line):
    unit = UnitFactory(sn="SN-NEW", run=route_line.run)

    response = page(quality, unit)

    assert "not tracked in yet" in response.content.decode()
    assert response.context["journey"].passes == []


def test_the_page_stays_bounded_in_queries_with_a_journey(
    quality, journey, django_assert_max_num_queries
):
    with django_assert_max_num_queries(22):
        response = quality.get(unit_page_url(journey))

    assert len(response.context["journey"].passes) == 3
