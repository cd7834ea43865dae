"""A device event whose value decides its unit's state (a KEY value judged FAIL, or an
alarm that holds) is written under the unit's lock, as track-out takes it: a track-out at
the same moment comes before it or sees it (docs/execution.md, "Locks"). Other values
are written without waiting for the unit.

Needs PostgreSQL: a second session holds the unit's row as a track-out in progress does.
"""

import threading

import pytest
from django.db import connection

from execution.models import DataValue, Unit
from execution.tracking import track_in, track_out
from integration.ingestion.service import receive_device_event
from tests.factories import UserFactory
from tests.postgres import backends_waiting_on_a_lock, needs_postgresql, row_locked

pytestmark = [
    pytest.mark.postgres_only,
    needs_postgresql("a second session holds the unit's row lock"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SN = "SN-KEY-0001"


@pytest.fixture
def at_inspection(route_line):
    """The unit in station at the inspection step, whose AOI Result is a KEY spec."""
    run_no = route_line.run.run_no
    for station, key in (("SPI-01", "a"), ("OVEN-01", "b")):
        track_in(station_code=station, sn=SN, run_no=run_no)
        track_out(
            station_code=station, sn=SN, run_no=run_no, result="PASS",
            event_id=key, source_ref=f"track-out:{key}",
        )  # fmt: skip
    track_in(station_code="INSPECT-01", sn=SN, run_no=run_no)
    return Unit.objects.get(sn=SN)


def aoi_event(event_id: str, passed: bool) -> dict:
    return {
        "eventId": event_id,
        "eventTime": "2026-01-24T10:00:00Z",
        "source": "AUTO",
        "unitSn": SN,
        "stationCode": "INSPECT-01",
        "data": [{"specName": "AOI Result", "valueBoolean": passed}],
    }


def send_in_thread(event: dict, sender) -> dict:
    done = {}

    def run():
        try:
            done["outcome"] = receive_device_event(event, sent_by=sender)
        except Exception as error:  # noqa: BLE001  (the test reads it)
            done["error"] = error
        finally:
            connection.close()

    done["thread"] = threading.Thread(target=run, daemon=True)
    done["thread"].start()
    return done


def test_a_failed_key_value_waits_for_its_unit_and_a_passed_one_does_not(at_inspection):
    gateway = UserFactory(username="gw-aoi")
    with row_locked("execution_unit", at_inspection.pk):
        passed = send_in_thread(aoi_event("aoi-pass", True), gateway)
        passed["thread"].join(10)
        assert passed.get("outcome") is not None, passed.get("error")

        failed = send_in_thread(aoi_event("aoi-fail", False), gateway)
        assert backends_waiting_on_a_lock(), "the failing KEY value did not wait for its unit"
        assert not DataValue.objects.filter(judge="FAIL").exists()
    failed["thread"].join(10)

    assert failed.get("outcome") is not None, failed.get("error")
    assert DataValue.objects.filter(judge="FAIL", spec__item_type="KEY").count() == 1
