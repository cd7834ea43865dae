"""Tracking by the machine (docs/cfx.md): a station's IPC-CFX WorkStarted tracks its units
in and WorkCompleted tracks them out, in process, through the consumer's write function
(as test_cfx_mapping.py does), on SQLite and PostgreSQL alike. The real broker is in
test_cfx_tracking_live.py."""

import json

import pytest
from django.core.cache import cache
from django.core.management import call_command

from execution.models import DataValue, Run, Track, Unit
from integration.models import Gateway, IntegrationMessage, TrackingRecord
from integration.tracking.service import replay_tracking_message
from integration.transports.broker import DatabaseUnavailable
from integration.transports.cfx.ingest import Delivery, write_group
from integration.transports.cfx.track_calls import NOTHING_OPEN
from tests.cfx_route import (
    SPI_HANDLE,
    body_of,
    route_messages,
    units_processed,
    work_completed,
    work_started,
)
from tests.factories import UnitFactory, gateway_with_key
from tests.integration.transports.test_cfx_mapping import fixture_body
from tests.postgres import needs_postgresql, row_locked

WORK_STARTED = "CFX.Production.WorkStarted"
WORK_COMPLETED = "CFX.Production.WorkCompleted"
FIXTURE_WS_UID = "6a3d9c1e-2f47-4b80-9e15-0c7b5a8d3f10"
FIXTURE_WC_UID = "7b4eac2f-3058-4c91-8f26-1d8c6b9e4a21"
TRANSACTION = "4d1c0b6e-5a8f-4e21-9b37-c2d8e0f1a6b4"


def write(*messages):
    """One group of deliveries: each a CFX message (a dict) or a body (bytes)."""
    bodies = [m if isinstance(m, bytes) else body_of(m) for m in messages]
    return write_group([Delivery(body) for body in bodies], "gw-cfx")


def tracking_of(outcomes) -> dict:
    counts = {}
    for outcome in outcomes:
        for what, n in outcome.tracking.items():
            counts[what] = counts.get(what, 0) + n
    return counts


def unit(sn: str) -> Unit:
    return Unit.objects.get(sn=sn)


def paste_readings(*sns: str) -> dict:
    return {sn: {"PasteHeight": 120.0 + n} for n, sn in enumerate(sns)}


def test_a_work_started_tracks_each_of_its_units_in_at_the_machines_station(
    cfx_route_line, cfx_tracking_gateway
):
    (outcome,) = write(fixture_body("work_started.json"))
    assert outcome.envelopes == {WORK_STARTED: 1}
    assert outcome.tracking == {"track-in CREATED": 2}
    for n, sn in enumerate(["PCB-M-0001", "PCB-M-0002"], start=1):
        record = TrackingRecord.objects.get(kind="TRACK_IN", event_id=f"cfx-{FIXTURE_WS_UID}-{n}")
        assert (record.unit_sn, record.station_code, record.sent_by) == (
            sn,
            "SPI-M1",
            cfx_tracking_gateway,
        )
        track = record.track
        assert (track.step_no, track.source, track.out_at) == (10, "AUTO", None)
        assert (unit(sn).status, unit(sn).current_step_no) == ("IN_STATION", 10)
        message = IntegrationMessage.objects.get(business_key=record.business_key)
        # The unit's own run, looked up: CFX names none.
        assert message.payload["runNo"] == cfx_route_line.run.run_no
        assert message.payload["source"] == "AUTO"
        assert message.payload["meta"]["cfx"]["position"] == n
        assert message.payload["meta"]["cfx"]["positionName"] == f"CIRCUIT{n}"
    cfx_route_line.run.refresh_from_db()
    assert cfx_route_line.run.status == Run.Status.IN_PROGRESS


def test_a_work_completed_naming_no_units_tracks_out_those_its_work_started_started(
    cfx_route_line, cfx_tracking_gateway
):
    write(fixture_body("work_started.json"))
    write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings("PCB-M-0001", "PCB-M-0002")))
    # The fixture's WorkCompleted writes the TransactionID in small letters, its
    # WorkStarted in capitals: the same GUID.
    (outcome,) = write(fixture_body("work_completed.json"))
    assert outcome.tracking == {"track-out CREATED": 2}
    for n, sn in enumerate(["PCB-M-0001", "PCB-M-0002"], start=1):
        record = TrackingRecord.objects.get(kind="TRACK_OUT", event_id=f"cfx-{FIXTURE_WC_UID}-{n}")
        assert record.unit_sn == sn
        assert (record.track.result, record.track.out_at is not None) == ("PASS", True)
        assert (unit(sn).status, unit(sn).current_step_no) == ("QUEUED", 20)


def test_readings_between_start_and_completion_land_on_the_open_pass(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    write(work_started(SPI_HANDLE, TRANSACTION, sns))
    (readings,) = write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings(*sns)))
    assert readings.events == {"CREATED": 2}
    (completed,) = write(work_completed(SPI_HANDLE, TRANSACTION))
    assert completed.tracking == {"track-out CREATED": 2}
    for n, sn in enumerate(sns):
        (track,) = Track.objects.filter(unit__sn=sn)
        (value,) = DataValue.objects.filter(track=track)
        assert (value.spec, value.value_number, value.judge) == (
            cfx_route_line.paste_height,
            120.0 + n,
            "PASS",
        )
        assert track.result == "PASS"


def test_the_start_the_readings_and_the_completion_in_one_group_are_written_in_order(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    outcomes = write(
        work_started(SPI_HANDLE, TRANSACTION, sns),
        units_processed(SPI_HANDLE, TRANSACTION, paste_readings(*sns)),
        work_completed(SPI_HANDLE, TRANSACTION),
    )
    assert [o.events for o in outcomes] == [{}, {"CREATED": 2}, {}]
    assert tracking_of(outcomes) == {"track-in CREATED": 2, "track-out CREATED": 2}
    assert DataValue.objects.filter(track__station=cfx_route_line.spi).count() == 2
    assert {unit(sn).status for sn in sns} == {"QUEUED"}


def test_a_pass_needs_its_required_readings_else_the_track_out_is_kept_failed(
    cfx_route_line, cfx_tracking_gateway
):
    write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]))
    (outcome,) = write(work_completed(SPI_HANDLE, TRANSACTION))
    assert outcome.tracking == {"track-out FAILED": 1}
    failed = IntegrationMessage.objects.get(entity_type="TRACK_OUT", status="FAILED")
    assert failed.error_code == "REQUIRED_DATA_MISSING"
    assert unit("PCB-M-0001").status == "IN_STATION"  # its pass stays open


@pytest.mark.parametrize(
    "result, defect_code",
    [
        ("Failed", "CFX_FAILED"),
        ("Aborted", "CFX_ABORTED"),
        ("Skipped", "CFX_SKIPPED"),
        ("Exploded", "CFX_RESULT_UNKNOWN"),
    ],
)
def test_work_not_completed_fails_its_units_for_a_person_to_decide(
    cfx_route_line, cfx_tracking_gateway, result, defect_code
):
    write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]))
    (outcome,) = write(work_completed(SPI_HANDLE, TRANSACTION, result))
    assert outcome.tracking == {"track-out CREATED": 1}
    (track,) = Track.objects.filter(unit__sn="PCB-M-0001")
    assert (track.result, track.defect_code) == ("FAIL", defect_code)
    assert unit("PCB-M-0001").status == "OUT_FAILED"


def test_a_work_completed_naming_its_units_tracks_those_out_each_failed_by_its_own_status(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    write(work_started(SPI_HANDLE, TRANSACTION, sns))
    write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings(*sns)))
    completed = work_completed(SPI_HANDLE, TRANSACTION, sns=sns, statuses=["Pass", "Fail"])
    (outcome,) = write(completed)
    assert outcome.tracking == {"track-out CREATED": 2}
    passed, failed = (Track.objects.get(unit__sn=sn) for sn in sns)
    assert (passed.result, unit(sns[0]).status) == ("PASS", "QUEUED")
    assert (failed.result, failed.defect_code) == ("FAIL", "CFX_UNIT_FAILED")
    assert unit(sns[1]).status == "OUT_FAILED"


def test_a_work_completed_without_a_matching_start_closes_nothing_and_is_counted(
    cfx_route_line, cfx_tracking_gateway
):
    (outcome,) = write(work_completed(SPI_HANDLE, TRANSACTION))
    assert outcome.envelopes == {WORK_COMPLETED: 1}
    assert outcome.tracking == {NOTHING_OPEN: 1}
    assert not Track.objects.exists()
    # Naming a unit never started: its track-out is refused and kept for a replay.
    (named,) = write(work_completed(SPI_HANDLE, TRANSACTION, sns=["PCB-M-0001"]))
    assert named.tracking == {"track-out FAILED": 1}
    failed = IntegrationMessage.objects.get(entity_type="TRACK_OUT", status="FAILED")
    assert failed.error_code == "TRACK_NOT_FOUND"


def test_a_work_completed_closes_only_its_own_transactions_passes(
    cfx_route_line, cfx_tracking_gateway
):
    write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]))
    write(work_started(SPI_HANDLE, "another-transaction", ["PCB-M-0002"]))
    write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings("PCB-M-0001")))
    (outcome,) = write(work_completed(SPI_HANDLE, TRANSACTION))
    assert outcome.tracking == {"track-out CREATED": 1}
    assert (unit("PCB-M-0001").status, unit("PCB-M-0002").status) == ("QUEUED", "IN_STATION")


def test_a_redelivered_sequence_writes_one_track_per_unit_and_one_set_of_values(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    sequence = [
        work_started(SPI_HANDLE, TRANSACTION, sns),
        units_processed(SPI_HANDLE, TRANSACTION, paste_readings(*sns)),
        work_completed(SPI_HANDLE, TRANSACTION),
    ]
    first = write(*sequence)
    again = write(*sequence)
    assert tracking_of(first) == {"track-in CREATED": 2, "track-out CREATED": 2}
    assert tracking_of(again) == {"track-in DUPLICATE": 2, NOTHING_OPEN: 1}
    assert again[1].events == {"DUPLICATE": 2}
    assert Track.objects.count() == 2 and DataValue.objects.count() == 2
    assert {unit(sn).status for sn in sns} == {"QUEUED"}


def test_a_redelivered_work_completed_naming_its_units_is_answered_as_first_given(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    write(work_started(SPI_HANDLE, TRANSACTION, sns))
    write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings(*sns)))
    completed = work_completed(SPI_HANDLE, TRANSACTION, sns=sns)
    assert tracking_of(write(completed)) == {"track-out CREATED": 2}
    assert tracking_of(write(completed)) == {"track-out DUPLICATE": 2}
    assert Track.objects.filter(result="PASS").count() == 2
    assert not IntegrationMessage.objects.filter(status="FAILED").exists()


def test_a_unit_taken_through_its_whole_route_by_cfx_alone_ends_done(
    cfx_route_line, cfx_tracking_gateway
):
    sns = ["PCB-M-0001", "PCB-M-0002"]
    outcomes = write(*route_messages(sns, {"PCB-M-0001": "Completed", "PCB-M-0002": "Failed"}))
    done, failed = unit("PCB-M-0001"), unit("PCB-M-0002")
    assert (done.status, done.current_step_no) == ("DONE", 30)
    tracks = list(Track.objects.filter(unit=done).order_by("step_no"))
    assert [(t.step_no, t.station.code, t.result) for t in tracks] == [
        (10, "SPI-M1", "PASS"),
        (20, "OVEN-M1", "PASS"),
        (30, "AOI-M1", "PASS"),
    ]
    values = {v.track.step_no: v for v in DataValue.objects.filter(track__unit=done)}
    assert (values[10].spec, values[10].value_number) == (cfx_route_line.paste_height, 120.0)
    assert (values[20].spec, values[20].value_number) == (cfx_route_line.peak, 245.0)
    assert (values[30].spec, values[30].value_text) == (cfx_route_line.aoi_result, "Passed")
    assert all(v.judge == "PASS" for v in values.values())
    assert (failed.status, failed.current_step_no) == ("OUT_FAILED", 30)
    last = Track.objects.get(unit=failed, step_no=30)
    assert (last.result, last.defect_code) == ("FAIL", "CFX_FAILED")
    assert tracking_of(outcomes) == {"track-in CREATED": 6, "track-out CREATED": 6}


def test_an_inspection_failed_as_a_key_value_fails_a_completed_pass(
    cfx_route_line, cfx_tracking_gateway
):
    messages = route_messages(["PCB-M-0001"], {"PCB-M-0001": "Completed"})
    inspected = messages[-2]["MessageBody"]["InspectedUnits"][0]
    inspected["OverallResult"] = "Failed"  # the AOI found a defect, its work completed
    write(*messages)
    last = Track.objects.get(unit__sn="PCB-M-0001", step_no=30)
    assert (last.result, last.inspection_override) == ("FAIL", True)
    assert unit("PCB-M-0001").status == "OUT_FAILED"


def test_an_unknown_unit_is_refused_kept_failed_and_tracked_by_a_replay_once_known(
    cfx_route_line, cfx_tracking_gateway, integration_admin
):
    (outcome,) = write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-NEW-9", "PCB-M-0001"]))
    assert outcome.tracking == {"track-in FAILED": 1, "track-in CREATED": 1}
    assert not Unit.objects.filter(sn="PCB-NEW-9").exists()  # no run to create it in
    failed = IntegrationMessage.objects.get(entity_type="TRACK_IN", status="FAILED")
    assert failed.error_code == "UNIT_NOT_FOUND" and "runNo" not in failed.payload
    assert failed.sent_by == cfx_tracking_gateway
    # The unit becomes known (a REST track-in elsewhere, a planner): a replay takes its run.
    UnitFactory(sn="PCB-NEW-9", run=cfx_route_line.run)
    replayed = replay_tracking_message(failed, replayed_by=integration_admin)
    assert replayed.answer["runNo"] == cfx_route_line.run.run_no
    assert unit("PCB-NEW-9").status == "IN_STATION"
    failed.refresh_from_db()
    assert failed.resolved_at is not None
    # Its WorkCompleted now finds it among the transaction's passes.
    write(units_processed(SPI_HANDLE, TRANSACTION, paste_readings("PCB-M-0001", "PCB-NEW-9")))
    (completed,) = write(work_completed(SPI_HANDLE, TRANSACTION))
    assert completed.tracking == {"track-out CREATED": 2}


def test_a_unit_the_rules_refuse_is_kept_failed_and_the_others_are_written(
    cfx_route_line, cfx_tracking_gateway
):
    held = cfx_route_line.units[1]
    held.status = Unit.Status.ON_HOLD
    held.save(update_fields=["status"])
    (outcome,) = write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001", held.sn]))
    assert outcome.tracking == {"track-in CREATED": 1, "track-in FAILED": 1}
    failed = IntegrationMessage.objects.get(status="FAILED")
    assert (failed.error_code, failed.payload["sn"]) == ("UNIT_ON_HOLD", held.sn)


def test_a_conflicting_or_malformed_call_is_counted_and_the_delivery_settled(
    cfx_route_line, cfx_tracking_gateway
):
    started = work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"])
    write(started)
    # The same UniqueID naming another unit: its eventId was written with another body.
    started["MessageBody"]["Units"][0]["UnitIdentifier"] = "PCB-M-0002"
    (conflict,) = write(started)
    assert conflict.tracking == {"track-in CONFLICT": 1}
    assert IntegrationMessage.objects.filter(status="CONFLICT").count() == 1
    (malformed,) = write(work_started(SPI_HANDLE, "t-2", ["X" * 101]))
    assert malformed.tracking == {"track-in INVALID": 1}
    assert unit("PCB-M-0002").status == "QUEUED"


def test_stations_not_tracked_by_their_machine_ignore_work_messages(
    cfx_route_line, cfx_tracking_gateway
):
    cfx_route_line.spi.tracked_by_machine = False
    cfx_route_line.spi.save()
    (outcome,) = write(
        json.dumps(
            [
                work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]),
                work_completed(SPI_HANDLE, TRANSACTION),
            ]
        ).encode()
    )
    assert outcome.envelopes == {"ignored message type": 2}
    assert outcome.tracking == {}
    assert not Track.objects.exists() and not IntegrationMessage.objects.exists()


def test_units_arriving_and_departing_are_counted_and_track_nothing(
    cfx_route_line, cfx_tracking_gateway
):
    (outcome,) = write(fixture_body("units_arrived_departed.json"))
    assert outcome.envelopes == {"ignored message type": 2}
    assert not Track.objects.exists()


def test_a_cfx_gateway_that_may_not_track_is_refused_kept_failed_and_replayable(
    cfx_route_line, cfx_gateway, integration_admin
):
    (outcome,) = write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]))
    assert outcome.tracking == {"track-in FAILED": 1}
    failed = IntegrationMessage.objects.get(status="FAILED")
    assert failed.error_code == "PERMISSION_DENIED"
    assert "manage.py allow_tracking gw-cfx" in failed.error_message
    assert not Track.objects.exists()
    # Replayed as it came (the integration admin's call): the rules decide then.
    replayed = replay_tracking_message(failed, replayed_by=integration_admin)
    assert replayed.answer["stationCode"] == "SPI-M1"
    failed.refresh_from_db()
    assert failed.resolved_at is not None


def test_allow_tracking_lets_the_cfx_gateway_track_once_its_cached_permissions_expire(
    cfx_route_line, cfx_gateway
):
    (refused,) = write(work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"]))
    assert refused.tracking == {"track-in FAILED": 1}
    call_command("allow_tracking", "gw-cfx")
    cache.clear()  # what 30 s do to the permissions a consumer has cached
    (allowed,) = write(work_started(SPI_HANDLE, "t-2", ["PCB-M-0001"]))
    assert allowed.tracking == {"track-in CREATED": 1}
    call_command("allow_tracking", "gw-cfx", "--withdraw")
    cache.clear()
    (withdrawn,) = write(work_started(SPI_HANDLE, "t-3", ["PCB-M-0002"]))
    assert withdrawn.tracking == {"track-in FAILED": 1}


def test_create_gateway_with_track_units_makes_an_account_that_may_track(db):
    call_command("create_gateway", "gw-cfx-line-2", "--track-units")
    call_command("create_gateway", "gw-rest-only")
    assert Gateway.objects.get(username="gw-cfx-line-2").has_perm("execution.track_units")
    assert not Gateway.objects.get(username="gw-rest-only").has_perm("execution.track_units")


@needs_postgresql("a second session holds the unit's row, as a long transaction would")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_track_in_the_database_cannot_take_now_settles_nothing(cfx_route_line, settings):
    user, _key = gateway_with_key("gw-cfx")
    call_command("allow_tracking", "gw-cfx")
    settings.INGEST_LOCK_TIMEOUT_MS = 200
    started = work_started(SPI_HANDLE, TRANSACTION, ["PCB-M-0001"])
    with (
        row_locked("execution_unit", cfx_route_line.units[0].pk),
        pytest.raises(DatabaseUnavailable),
    ):
        write(started)
    assert not Track.objects.exists()
    assert not IntegrationMessage.objects.filter(status="FAILED").exists()
    # Delivered again once the database can take it: written once.
    (outcome,) = write(started)
    assert outcome.tracking == {"track-in CREATED": 1}
