"""The canonical event and its hash: what makes a re-send a duplicate (docs/ingestion.md, rule 2).

A record keeps the hash of the event it was written from and the version of
these rules that made it (`DeviceDataRecord.payload_hash_version`). A re-send
is compared with the hash of its own version, so a change of the rules never
turns the re-send of an older event into a conflict.

- Version 1 (records written before 2026-11-30): nulls were dropped and keys
  named like ids (`track_id`, …) made strings at any depth, inside `valueJson`
  too, so `{"alarm": null}` and `{}` inside a reading were one event.
- Version 2: the normalisation applies to the event's own fields and each
  item's own fields only (absent = null, ids as strings, numbers by value,
  instants in UTC). What a gateway sends inside `valueJson` is data, compared
  as JSON: key order does not matter, numbers compare by value (`3` and `3.0`
  are one JSON number), and nothing else is rewritten: nulls, strings and
  types stay as sent.
"""

import hashlib
import json
from datetime import datetime

CURRENT_VERSION = 2
KNOWN_VERSIONS = {1, 2}

ID_FIELDS = {"spec_id", "track_id", "carrier_track_id", "operation_id"}
# The item fields that hold a gateway's own JSON: its reading, its own limits.
DATA_FIELDS = {"value_json", "sender_limits"}


def _number(value: int | float):
    # 245 and 245.0 are the same reading; integers beyond a float's precision stay exact.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _v1(value, key: str | None = None):
    if value is None:
        return None
    if key in ID_FIELDS:
        return str(value)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _v1(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_v1(item) for item in value]
    return value


def _json(value):
    """A gateway's JSON as data: only numbers are put in one form."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


def _field(key: str, value):
    """One of the event's or an item's own fields, normalised."""
    if key in ID_FIELDS:
        return str(value)
    if key in DATA_FIELDS:
        return _json(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return value


def _v2(event: dict) -> dict:
    canonical = {}
    for key, value in event.items():
        if value is None or key == "meta":
            continue
        if key == "data":
            canonical[key] = [
                {k: _field(k, v) for k, v in item.items() if v is not None} for item in value
            ]
        else:
            canonical[key] = _field(key, value)
    return canonical


def canonical_event_hash(event: dict, version: int = CURRENT_VERSION) -> str:
    """SHA-256 of the validated event without `meta`, in the canonical JSON form of
    `version`, with sorted keys and no whitespace."""
    if version == 1:
        canonical = _v1({key: value for key, value in event.items() if key != "meta"})
    elif version == 2:
        canonical = _v2(event)
    else:
        raise ValueError(f"No canonical event of version {version}.")
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
