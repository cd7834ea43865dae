"""The hash that tells a re-send of a track-in or track-out from another call under the
same id (integration/tracking/service.py: exactly once by eventId)."""

import hashlib
import json
from datetime import UTC, datetime


def call_hash(kind: str, station_code: str, call: dict) -> str:
    """The hash that tells a re-send from another call under the same id: the validated
    call without its id, keys sorted. A re-send may spell the same call differently: an
    optional field absent, null or empty, a number as 120 or 120.0, an instant in any
    offset are each one (as device data's canonical event, ingestion/event_hash.py)."""
    body = {}
    for key, value in call.items():
        if key == "event_id" or value is None or value == "" or value == []:
            continue
        if key == "data":
            # An item's own fields: absent and null alike; its valueJson is data, kept as sent.
            value = [{name: v for name, v in item.items() if v is not None} for item in value]
        body[key] = _canonical(value)
    text = json.dumps([kind, station_code, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value):
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value
