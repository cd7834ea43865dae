"""A message's payload stored once: the fields its record already holds are not repeated.

Nearly every message belongs to a record (SUCCESS, DUPLICATE, CONFLICT), and its
payload's `data`, `meta` and envelope fields are the record's own columns, so
storing them twice was a third of the database. A message keeps only the
fields whose JSON differs from its record's (always `eventTime`, whose text the
record does not keep), and `record_fields`, a bit per field of RECORD_FIELDS
taken from the record. `payload_as_received` puts them back: the same JSON,
key for key and value for value (tests/integration/ingestion/test_stored_payload.py).

The order of RECORD_FIELDS is stored in every row's bits: append, never reorder.
"""

import json

# (payload key, record attribute); bit i stands for RECORD_FIELDS[i].
RECORD_FIELDS = (
    ("eventId", "event_id"),
    ("source", "source"),
    ("runNo", "run_no"),
    ("unitSn", "unit_sn"),
    ("stationCode", "station_code"),
    ("stepNo", "step_no"),
    ("equipmentId", "equipment_id"),
    ("operatorId", "operator_id"),
    ("data", "data"),
    ("meta", "meta"),
)


def _same_json(left, right) -> bool:
    # The same object (a new record's `data` is the payload's own) or equal strings need
    # no encoding: this runs for every message written.
    if left is right or (type(left) is str and type(right) is str):
        return left == right
    # As JSON text: 1 and 1.0, or 1 and true, are equal in Python but not as received.
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def split_payload(payload: dict, record) -> tuple[dict, int]:
    """What a message of `record` stores of `payload`: (the differing fields, the bits)."""
    kept = dict(payload)
    bits = 0
    for bit, (key, attribute) in enumerate(RECORD_FIELDS):
        if key in kept and _same_json(kept[key], getattr(record, attribute)):
            del kept[key]
            bits |= 1 << bit
    return kept, bits


def payload_as_received(stored: dict, bits: int, record) -> dict:
    """The payload as it came: the stored fields and the record's for each bit set."""
    if not bits:
        return stored
    taken = {
        key: getattr(record, attribute)
        for bit, (key, attribute) in enumerate(RECORD_FIELDS)
        if bits & (1 << bit)
    }
    return {**taken, **stored}
