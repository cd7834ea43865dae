"""Holds (docs/holds.md): an alarmed value with the HOLD action holds its unit in
the write's transaction; the unit's events are still taken and their answers name the
hold; a disposition closes it and sets the unit's status."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from execution.holds import HoldNotOpen, close_hold
from execution.models import DataSpec, DataValue, Hold, HoldValue, Unit
from integration.models import DeviceDataRecord
from tests.conftest import make_event, requires_postgresql
from tests.factories import TrackFactory, UnitFactory, UserFactory, gateway_with_key
from tests.integration.ingestion.test_concurrency import post_concurrently
from tests.postgres import backends_waiting_on_a_lock, row_locked

DEVICE_DATA = "/api/integration/device-data"
BATCH = "/api/integration/device-data/batch"


def post(client, event):
    """The answer's `data` (the envelope's body) and its status."""
    return Answer(client.post(DEVICE_DATA, event, format="json"))


class Answer:
    def __init__(self, response):
        self.status_code = response.status_code
        self.body = response.json()

    def json(self):
        return self.body.get("data", self.body)


def hot(event_id, value=260, **overrides):
    """An event whose Peak Temperature is outside the alarm limits (235–255, HOLD)."""
    return make_event(
        eventId=event_id, data=[{"specName": "Peak Temperature", "valueNumber": value}], **overrides
    )


def quality_engineer():
    return UserFactory(username="qe-1", is_staff=True, groups=["Quality staff"])


# --- opening a hold -----------------------------------------------------------------------------


def test_an_alarmed_value_with_the_hold_action_puts_its_unit_on_hold(line, gateway_client):
    response = post(gateway_client, hot("evt-hot"))

    assert response.status_code == 200, response.json()
    line.unit.refresh_from_db()
    assert line.unit.status == Unit.Status.ON_HOLD
    hold = Hold.objects.get()
    value = DataValue.objects.get()
    assert (hold.unit, hold.spec, hold.first_value_id, hold.event_id) == (
        line.unit,
        line.peak,
        value.pk,
        "evt-hot",
    )
    assert hold.limits == {"spec": line.peak.spec, "alarm": line.peak.alarm}
    assert hold.is_open and hold.unit_status_before == Unit.Status.QUEUED
    assert list(hold.values.all()) == [value]
    answer = response.json()
    assert answer["hold"]["id"] == str(hold.pk)
    assert answer["hold"]["causedByThisEvent"] is True
    assert answer["values"][0]["alarmed"] is True


def test_a_value_within_the_alarm_limits_holds_nothing(line, gateway_client):
    # 252 fails the spec (240–250) but is within the alarm limits (235–255).
    response = post(gateway_client, hot("evt-warm", 252))

    assert response.json()["values"][0]["judge"] == "FAIL"
    assert response.json()["hold"] is None
    assert not Hold.objects.exists()
    line.unit.refresh_from_db()
    assert line.unit.status == Unit.Status.QUEUED


def test_an_alarm_only_action_holds_nothing(line, gateway_client):
    DataSpec.objects.filter(pk=line.peak.pk).update(
        alarm={"min": 235, "max": 255, "action": "ALARM_ONLY"}
    )

    response = post(gateway_client, hot("evt-alarm-only"))

    assert response.json()["values"][0]["alarmed"] is True
    assert response.json()["hold"] is None
    assert not Hold.objects.exists()


def test_a_second_alarmed_value_adds_to_the_open_hold(line, gateway_client):
    post(gateway_client, hot("evt-hot-1"))
    second = post(gateway_client, hot("evt-hot-2", 230, eventTime="2026-01-24T10:05:00Z"))

    hold = Hold.objects.get()
    assert second.json()["hold"] == {
        "id": str(hold.pk),
        "openedAt": hold.opened_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "causedByThisEvent": True,
    }
    assert list(hold.hold_values.values_list("event_id", flat=True)) == ["evt-hot-1", "evt-hot-2"]
    assert hold.event_id == "evt-hot-1"


def test_events_of_a_held_unit_are_still_written_and_their_answers_name_the_hold(
    line, gateway_client
):
    post(gateway_client, hot("evt-hot"))

    calm = post(gateway_client, hot("evt-calm", 245))

    assert calm.status_code == 200
    assert calm.json()["values"][0]["judge"] == "PASS"
    hold = Hold.objects.get()
    assert calm.json()["hold"]["id"] == str(hold.pk)
    assert calm.json()["hold"]["causedByThisEvent"] is False
    assert DeviceDataRecord.objects.filter(event_id="evt-calm").exists()
    assert hold.hold_values.count() == 1  # a value within limits is not a cause


def test_a_resent_event_names_the_hold_its_original_caused_and_adds_nothing(line, gateway_client):
    first = post(gateway_client, hot("evt-hot"))
    again = post(gateway_client, hot("evt-hot"))

    assert again.json()["isDuplicate"] is True
    assert again.json()["hold"] == first.json()["hold"]
    assert HoldValue.objects.count() == 1


def test_a_resent_event_of_a_held_unit_names_the_hold_as_its_original_did(line, gateway_client):
    post(gateway_client, hot("evt-hot"))
    first = post(gateway_client, hot("evt-calm", 245))

    again = post(gateway_client, hot("evt-calm", 245))

    assert first.json()["hold"]["causedByThisEvent"] is False
    assert again.json()["isDuplicate"] is True
    assert again.json()["hold"] == first.json()["hold"]


def test_a_repeat_within_a_batch_names_the_same_hold_as_its_original(line, gateway_client):
    post(gateway_client, hot("evt-hot"))
    events = [hot("evt-calm", 245), hot("evt-calm", 245)]

    response = gateway_client.post(BATCH, {"events": events}, format="json")

    results = response.json()["data"]["results"]
    assert [result["status"] for result in results] == ["CREATED", "DUPLICATE"]
    assert results[0]["data"]["hold"] is not None
    assert results[1]["data"]["hold"] == results[0]["data"]["hold"]


def test_a_resent_event_written_before_the_hold_names_no_hold(line, gateway_client):
    first = post(gateway_client, hot("evt-before", 245))
    post(gateway_client, hot("evt-hot"))

    again = post(gateway_client, hot("evt-before", 245))

    assert first.json()["hold"] is None
    assert again.json()["isDuplicate"] is True and again.json()["hold"] is None


def test_a_scrapped_unit_is_not_held_again_and_its_value_is_kept(line, gateway_client):
    Unit.objects.filter(pk=line.unit.pk).update(status=Unit.Status.SCRAPPED)

    response = post(gateway_client, hot("evt-after-scrap"))

    assert response.status_code == 200
    assert response.json()["values"][0]["alarmed"] is True
    assert response.json()["hold"] is None
    assert not Hold.objects.exists()
    assert Unit.objects.get(pk=line.unit.pk).status == Unit.Status.SCRAPPED


def test_a_unit_in_rework_is_held_again_by_an_alarm(line, gateway_client):
    Unit.objects.filter(pk=line.unit.pk).update(status=Unit.Status.REWORK)

    post(gateway_client, hot("evt-after-rework"))

    assert Hold.objects.get().unit_status_before == Unit.Status.REWORK
    assert Unit.objects.get(pk=line.unit.pk).status == Unit.Status.ON_HOLD


def test_a_batch_with_two_alarmed_events_of_one_unit_opens_one_hold(line, gateway_client):
    events = [hot("evt-b1"), hot("evt-b2", 261, eventTime="2026-01-24T10:01:00Z")]

    response = gateway_client.post(BATCH, {"events": events}, format="json")

    results = response.json()["data"]["results"]
    assert [result["status"] for result in results] == ["CREATED", "CREATED"]
    hold = Hold.objects.get()
    assert {result["data"]["hold"]["id"] for result in results} == {str(hold.pk)}
    assert hold.hold_values.count() == 2


def test_a_carriers_alarmed_value_holds_no_unit(line, gateway_client):
    from tests.factories import CarrierTrackFactory

    carrier_track = CarrierTrackFactory(station=line.station, step_no=40)
    event = hot(
        "evt-carrier", carrierTrackId=str(carrier_track.pk), operationId=str(line.operation.pk)
    )
    for key in ("runNo", "unitSn"):
        event.pop(key)

    response = post(gateway_client, event)

    assert response.status_code == 200, response.json()
    assert response.json()["values"][0]["alarmed"] is True
    assert response.json()["hold"] is None
    assert not Hold.objects.exists()


# --- closing a hold -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "status_after"),
    [
        (Hold.Disposition.RELEASE, Unit.Status.QUEUED),
        (Hold.Disposition.REWORK, Unit.Status.REWORK),
        (Hold.Disposition.SCRAP, Unit.Status.SCRAPPED),
    ],
)
def test_a_disposition_closes_the_hold_and_sets_the_units_status(
    line, gateway_client, disposition, status_after
):
    post(gateway_client, hot("evt-hot"))
    hold = Hold.objects.get()
    person = quality_engineer()

    closed = close_hold(hold.pk, disposition=disposition, note=" checked ", closed_by=person)

    hold.refresh_from_db()
    line.unit.refresh_from_db()
    assert line.unit.status == status_after
    assert (hold.disposition, hold.note, hold.closed_by) == (disposition, "checked", person)
    assert hold.closed_at is not None and not hold.is_open
    assert closed.pk == hold.pk


def test_a_release_restores_the_status_the_unit_had_before_the_hold(line, gateway_client):
    Unit.objects.filter(pk=line.unit.pk).update(status=Unit.Status.IN_STATION)
    post(gateway_client, hot("evt-hot"))

    close_hold(
        Hold.objects.get().pk, disposition="RELEASE", note="ok", closed_by=quality_engineer()
    )

    line.unit.refresh_from_db()
    assert line.unit.status == Unit.Status.IN_STATION


def test_a_closed_hold_cannot_be_closed_again(line, gateway_client):
    post(gateway_client, hot("evt-hot"))
    hold = Hold.objects.get()
    person = quality_engineer()
    close_hold(hold.pk, disposition="SCRAP", note="burnt", closed_by=person)

    with pytest.raises(HoldNotOpen):
        close_hold(hold.pk, disposition="RELEASE", note="oops", closed_by=person)

    line.unit.refresh_from_db()
    assert line.unit.status == Unit.Status.SCRAPPED


@pytest.mark.parametrize(("disposition", "note"), [("RELEASE", "  "), ("PARDON", "fine")])
def test_a_disposition_needs_a_known_kind_and_a_note(line, gateway_client, disposition, note):
    post(gateway_client, hot("evt-hot"))
    hold = Hold.objects.get()

    with pytest.raises(ValueError):
        close_hold(hold.pk, disposition=disposition, note=note, closed_by=quality_engineer())

    assert Hold.objects.get().is_open


def test_an_alarm_after_a_release_opens_a_new_hold(line, gateway_client):
    post(gateway_client, hot("evt-hot-1"))
    first = Hold.objects.get()
    close_hold(first.pk, disposition="RELEASE", note="ok", closed_by=quality_engineer())

    response = post(gateway_client, hot("evt-hot-2", eventTime="2026-01-24T10:09:00Z"))

    second = Hold.objects.exclude(pk=first.pk).get()
    assert response.json()["hold"]["id"] == str(second.pk)
    assert second.is_open and second.unit_status_before == Unit.Status.QUEUED
    line.unit.refresh_from_db()
    assert line.unit.status == Unit.Status.ON_HOLD


def test_a_unit_can_have_only_one_open_hold(line, gateway_client):
    from django.db import IntegrityError, transaction

    post(gateway_client, hot("evt-hot"))
    hold = Hold.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        Hold.objects.create(
            unit=line.unit,
            spec=line.peak,
            first_value_id=hold.first_value_id,
            event_id="evt-other",
            opened_at=hold.opened_at,
            unit_status_before="QUEUED",
        )


# --- production's path: concurrent requests and a locked unit ------------------------------------


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_alarmed_events_of_one_unit_open_one_hold_with_every_value(line):
    _, key = gateway_with_key("gw-hold-race")
    payloads = [
        hot(f"evt-race-{n}", 256 + n, eventTime=f"2026-01-24T10:{n:02d}:00Z") for n in range(12)
    ]

    results = post_concurrently(payloads, key)

    assert [status for status, _ in results] == [200] * 12
    hold = Hold.objects.get()
    assert {body["data"]["hold"]["id"] for _, body in results} == {str(hold.pk)}
    assert hold.hold_values.count() == 12
    assert Unit.objects.get(pk=line.unit.pk).status == Unit.Status.ON_HOLD


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_events_of_many_units_each_hold_their_own_unit(line):
    _, key = gateway_with_key("gw-hold-many")
    payloads = []
    for n in range(10):
        unit = UnitFactory(sn=f"SN-H{n}", run=line.run)
        TrackFactory(unit=unit, step_no=40, station=line.station)
        payloads.append(hot(f"evt-many-{n}", unitSn=unit.sn))

    results = post_concurrently(payloads, key)

    assert [status for status, _ in results] == [200] * 10
    assert Hold.objects.filter(closed_at=None).count() == 10
    assert Unit.objects.filter(status=Unit.Status.ON_HOLD).count() == 10
    holds = {str(hold.pk): hold.unit.sn for hold in Hold.objects.select_related("unit")}
    assert [holds[body["data"]["hold"]["id"]] for _, body in results] == [
        payload["unitSn"] for payload in payloads
    ]


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_unit_locked_by_another_session_answers_503_and_writes_nothing_then_takes_it(
    line, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 300
    _, key = gateway_with_key("gw-hold-lock")
    with row_locked("execution_unit", line.unit.pk):
        started = time.monotonic()
        [(status, body)] = post_concurrently([hot("evt-locked")], key)
        waited = time.monotonic() - started

    assert status == 503, body
    assert body["error"]["details"]["written"] == "nothing"
    assert waited < 5
    assert not DeviceDataRecord.objects.exists()
    assert not DataValue.objects.exists() and not Hold.objects.exists()

    [(status, body)] = post_concurrently([hot("evt-locked")], key)

    assert status == 200 and body["data"]["isDuplicate"] is False
    assert Hold.objects.get().event_id == "evt-locked"


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_disposition_waits_its_turn_for_a_unit_locked_by_another_session(line):
    """A person closing a hold while an event adds to it: both lock the unit's row first,
    so they take turns and the value is in the closed hold or opens a new one."""
    _, key = gateway_with_key("gw-hold-turns")
    post_concurrently([hot("evt-first")], key)
    hold = Hold.objects.get()
    person = quality_engineer()
    outcome = {}

    with row_locked("execution_unit", line.unit.pk):

        def close():
            try:
                outcome["hold"] = close_hold(
                    hold.pk, disposition="RELEASE", note="ok", closed_by=person
                )
            except DatabaseError as error:
                outcome["error"] = error
            finally:
                from django.db import connection

                connection.close()

        closer = threading.Thread(target=close)
        closer.start()
        assert backends_waiting_on_a_lock()
    closer.join(timeout=10)

    assert "hold" in outcome, outcome
    assert Unit.objects.get(pk=line.unit.pk).status == Unit.Status.QUEUED


def test_the_open_hold_gauges_count_held_units_and_the_oldest_wait(line, gateway_client):
    from integration.database_metrics import scrape_database

    assert re.search(r"^mes_open_holds 0\.0$", scrape_database().decode(), re.MULTILINE)
    post(gateway_client, hot("evt-hot"))
    Hold.objects.update(opened_at=timezone.now() - timedelta(hours=5))

    text = scrape_database().decode()

    assert re.search(r"^mes_open_holds 1\.0$", text, re.MULTILINE), text
    waited = float(re.search(r"^mes_oldest_open_hold_seconds (\S+)$", text, re.MULTILINE)[1])
    assert 5 * 3600 <= waited < 5 * 3600 + 60
