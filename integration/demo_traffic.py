"""The demo's received traffic: one unit's passes measured at every station, one event
sent twice and one refused, so the demo unit's page shows every kind of row.

Sent through the ingestion service, as a gateway would. Safe to run again: events
already written are not sent again (a re-send would add a DUPLICATE each time), and
the refused event is sent only while no attempt of it is kept.
"""

from contextlib import suppress
from datetime import timedelta

from execution.demo import DEMO_RUN_NO
from execution.models import Track
from integration.ingestion.errors import EventRefused
from integration.ingestion.service import receive_device_event
from integration.models import DeviceDataRecord, IntegrationMessage, business_key_for

DEMO_TRAFFIC_UNIT = "SN-DEMO-0002"

# step no → the items measured there (specs by name, as the demo line binds them)
MEASURED = {
    10: [
        {"specName": "Squeegee Pressure", "valueNumber": 8.2},
        {"specName": "Print Speed", "valueNumber": 55},
    ],
    20: [
        {"specName": "Paste Height", "valueNumber": 163},  # FAIL, inside its alarm limits
        {"specName": "Paste Volume", "valueNumber": 101},
    ],
    30: [
        {"specName": "Placement Count", "valueNumber": 412},
        {"specName": "Pickup Errors", "valueNumber": 1},
    ],
    40: [
        {"specName": "Peak Temperature", "valueNumber": 246.5},
        {"specName": "Conveyor Speed", "valueNumber": 80},
    ],
    50: [
        {"specName": "AOI Result", "valueText": "PASS"},
        {"specName": "Defect Map", "valueJson": {"defects": []}},
    ],
}
# Time Above Liquidus is defined for the reflow operation but bound to no step.
REFUSED_ITEMS = [{"specName": "Time Above Liquidus", "valueNumber": 62}]


def demo_event(event_id: str, track: Track, items: list) -> dict:
    return {
        "eventId": event_id,
        "eventTime": (track.in_at + timedelta(seconds=3)).isoformat(),
        "source": "AUTO",
        "runNo": DEMO_RUN_NO,
        "unitSn": DEMO_TRAFFIC_UNIT,
        "stationCode": track.station.code,
        "stepNo": track.step_no,
        "equipmentId": f"EQ-{track.station.code}",
        "data": items,
    }


def send_demo_traffic(gateway) -> None:
    """Send the demo unit's events as `gateway`, once."""
    # station: each event's station code.
    tracks = {
        track.step_no: track
        for track in Track.objects.filter(unit__sn=DEMO_TRAFFIC_UNIT).select_related("station")
    }
    events = {
        f"demo-{DEMO_TRAFFIC_UNIT}-step-{step_no}": demo_event(
            f"demo-{DEMO_TRAFFIC_UNIT}-step-{step_no}", tracks[step_no], items
        )
        for step_no, items in MEASURED.items()
    }
    written = set(
        DeviceDataRecord.objects.filter(event_id__in=events).values_list("event_id", flat=True)
    )
    for event_id, event in events.items():
        if event_id not in written:
            receive_device_event(event, sent_by=gateway)
    first = next(iter(events))
    if first not in written:
        receive_device_event(events[first], sent_by=gateway)  # a gateway's retry: DUPLICATE

    refused_id = f"demo-{DEMO_TRAFFIC_UNIT}-unbound-spec"
    if not IntegrationMessage.objects.filter(business_key=business_key_for(refused_id)).exists():
        # Refused and kept as a FAILED message (SPEC_NOT_BOUND), as intended.
        with suppress(EventRefused):
            receive_device_event(demo_event(refused_id, tracks[40], REFUSED_ITEMS), sent_by=gateway)
