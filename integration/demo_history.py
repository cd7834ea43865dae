"""The demo reflow history: peak temperatures of the history run's boards, as sent by a gateway.

`manage.py seed_demo` sends these events through the ingestion service (one code
path writes data), so the records, messages and values are what a real oven
gateway would have left. The process: about 245 °C with a little spread, then
drifting up over the last boards (Nelson rules 2 and 3 fire on the SPC chart),
all within the spec (240-250) and the alarm limits, so no board is held.
Seeded values are fixed (a seeded generator); events already recorded are not
sent again, so seeding twice writes nothing new.
"""

import random
from datetime import timedelta

from execution.demo import (
    DEMO_HISTORY_RUN_NO,
    DEMO_HISTORY_UNITS,
    history_in_at,
    history_unit_sn,
)
from integration.ingestion.service import receive_device_events
from integration.models import DeviceDataRecord

OVEN = "REFLOW-01-OVEN"
DRIFT_BOARDS = 14  # the last boards, heating up 0.3 °C each
REFLOW_STEP = 40


def peak_temperatures() -> list[float]:
    """One peak temperature per history board, in board order."""
    generator = random.Random(14)
    readings = []
    for number in range(1, DEMO_HISTORY_UNITS + 1):
        drift = max(0, number - (DEMO_HISTORY_UNITS - DRIFT_BOARDS)) * 0.3
        readings.append(round(245 + generator.gauss(0, 0.9) + drift, 1))
    return readings


def history_event_id(number: int) -> str:
    return f"demo-peak-{number:04d}"


def history_events() -> list[dict]:
    """The history run's reflow events, oldest first."""
    events = []
    for number, reading in enumerate(peak_temperatures(), start=1):
        measured_at = history_in_at(number) + timedelta(minutes=1)
        events.append(
            {
                "eventId": history_event_id(number),
                "eventTime": measured_at.isoformat(),
                "source": "AUTO",
                "runNo": DEMO_HISTORY_RUN_NO,
                "unitSn": history_unit_sn(number),
                "stationCode": "REFLOW-01",
                "stepNo": REFLOW_STEP,
                "equipmentId": OVEN,
                "data": [{"specName": "Peak Temperature", "valueNumber": reading}],
            }
        )
    return events


def seed_demo_history(gateway) -> int:
    """Send the history events not recorded yet, as `gateway`; returns how many were sent."""
    events = history_events()
    recorded = set(
        DeviceDataRecord.objects.filter(
            event_id__in=[event["eventId"] for event in events]
        ).values_list("event_id", flat=True)
    )
    missing = [event for event in events if event["eventId"] not in recorded]
    if missing:
        receive_device_events(missing, sent_by=gateway)
    return len(missing)
