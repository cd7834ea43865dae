"""Rule 1, the event's shape: the DRF serializer (the schema, and the errors' words), the
fast path that takes a plainly valid event without it (the two give the same answers:
tests/integration/ingestion/test_event_shape_fast_path.py), and the batch envelope.
"""

from functools import cache

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from integration.ingestion.fields import (
    MAX_ITEMS_PER_EVENT,
    MAX_TEXT_VALUE_LENGTH,
    AnyJsonField,
    DatabaseIdField,
    FiniteNumberField,
    InstantField,
    SenderLimitsField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    as_database_id,
    as_finite_number,
    as_instant,
    as_sender_limits,
)
from integration.models import DeviceDataRecord
from mes.api.parsers import json_problem, unstorable_text


class DataItemSerializer(serializers.Serializer):
    specId = DatabaseIdField(required=False, allow_null=True, source="spec_id")
    specName = StrictCharField(required=False, allow_null=True, max_length=200, source="spec_name")
    valueNumber = FiniteNumberField(required=False, allow_null=True, source="value_number")
    valueText = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_TEXT_VALUE_LENGTH,
        source="value_text",
    )
    valueBoolean = StrictBooleanField(required=False, allow_null=True, source="value_boolean")
    # The event, its data list and this item hold valueJson.
    valueJson = AnyJsonField(required=False, allow_null=True, source="value_json", levels_above=3)
    collectedAt = InstantField(required=False, allow_null=True, source="collected_at")
    senderLimits = SenderLimitsField(required=False, allow_null=True, source="sender_limits")

    def validate(self, attrs):
        if attrs.get("spec_id") is None and not attrs.get("spec_name"):
            raise serializers.ValidationError("Each item needs specId or specName.")
        return attrs


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An AUTO event by codes (docs/api.md)",
            request_only=True,
            value={
                "eventId": "evt_20250101_001",
                "eventTime": "2026-01-24T10:00:00Z",
                "source": "AUTO",
                "runNo": "RUN-2026-001",
                "unitSn": "SN-0001",
                "stationCode": "SMT-01",
                "stepNo": 10,
                "trackId": None,
                "carrierTrackId": None,
                "operationId": None,
                "equipmentId": "EQ-01",
                "operatorId": None,
                "data": [
                    {
                        "specName": "Peak Temperature",
                        "valueNumber": 245,
                        "collectedAt": "2026-01-24T10:00:00Z",
                    }
                ],
                "meta": {"raw": "payload"},
            },
        )
    ]
)
class DeviceEventSerializer(serializers.Serializer):
    """One device event as the replaced system's gateways send it."""

    eventId = StrictCharField(max_length=200, source="event_id")
    eventTime = InstantField(source="event_time")
    source = StrictChoiceField(choices=DeviceDataRecord.Source.choices)
    runNo = StrictCharField(required=False, allow_null=True, max_length=100, source="run_no")
    unitSn = StrictCharField(required=False, allow_null=True, max_length=100, source="unit_sn")
    stationCode = StrictCharField(
        required=False, allow_null=True, max_length=100, source="station_code"
    )
    stepNo = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1, source="step_no"
    )
    trackId = DatabaseIdField(required=False, allow_null=True, source="track_id")
    carrierTrackId = DatabaseIdField(required=False, allow_null=True, source="carrier_track_id")
    operationId = DatabaseIdField(required=False, allow_null=True, source="operation_id")
    equipmentId = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=100, source="equipment_id"
    )
    operatorId = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=100, source="operator_id"
    )
    data = DataItemSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS_PER_EVENT)
    meta = AnyJsonField(required=False, allow_null=True, levels_above=1)

    def validate(self, attrs):
        errors = {}
        if attrs.get("track_id") is not None and attrs.get("carrier_track_id") is not None:
            errors["carrierTrackId"] = ["Send trackId or carrierTrackId, not both."]
        elif attrs.get("track_id") is None and attrs.get("carrier_track_id") is None:
            # Without a step number the track is the unit's pass at the station
            # (docs/ingestion.md, rule 3), and the run is optional.
            needed = [("unitSn", "unit_sn"), ("stationCode", "station_code")]
            if attrs.get("step_no") is not None:
                needed.insert(0, ("runNo", "run_no"))
            for name, key in needed:
                if attrs.get(key) in (None, ""):
                    errors[name] = ["Required when neither trackId nor carrierTrackId is given."]
        if attrs["source"] == DeviceDataRecord.Source.MANUAL and not attrs.get("operator_id"):
            errors["operatorId"] = ["Required when source is MANUAL."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class _Unsure(Exception):
    """The fast path cannot vouch for this event: the serializer decides."""


def _text(value, max_length: int, allow_blank: bool = False, trimmed: bool = True):
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or (trimmed and value != value.strip())
        or (not allow_blank and value == "")
        or unstorable_text(value) is not None
    ):
        raise _Unsure
    return value


def _parsed(value, parse):
    if value is None:
        return None
    parsed = parse(value)
    if parsed is None:
        raise _Unsure
    return parsed


def _step_no(value):
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1
    ):
        raise _Unsure
    return value


def _boolean(value):
    if value is not None and not isinstance(value, bool):
        raise _Unsure
    return value


def _any_json(levels_above: int):
    bound = settings.INGEST_MAX_JSON_DEPTH

    def check(value):
        if json_problem(value, bound - levels_above, bound):
            raise _Unsure
        return value

    return check


SOURCES = tuple(DeviceDataRecord.Source.values)
EVENT_FIELDS = {
    "eventId": ("event_id", lambda value: _text(value, 200)),
    "eventTime": ("event_time", lambda value: _parsed(value, as_instant)),
    "source": ("source", lambda value: value if value in SOURCES else _unsure()),
    "runNo": ("run_no", lambda value: _text(value, 100)),
    "unitSn": ("unit_sn", lambda value: _text(value, 100)),
    "stationCode": ("station_code", lambda value: _text(value, 100)),
    "stepNo": ("step_no", _step_no),
    "trackId": ("track_id", lambda value: _parsed(value, as_database_id)),
    "carrierTrackId": ("carrier_track_id", lambda value: _parsed(value, as_database_id)),
    "operationId": ("operation_id", lambda value: _parsed(value, as_database_id)),
    "equipmentId": ("equipment_id", lambda value: _text(value, 100, allow_blank=True)),
    "operatorId": ("operator_id", lambda value: _text(value, 100, allow_blank=True)),
}
ITEM_FIELDS = {
    "specId": ("spec_id", lambda value: _parsed(value, as_database_id)),
    "specName": ("spec_name", lambda value: _text(value, 200)),
    "valueNumber": ("value_number", lambda value: _parsed(value, as_finite_number)),
    "valueText": (
        "value_text",
        lambda value: _text(value, MAX_TEXT_VALUE_LENGTH, allow_blank=True, trimmed=False),
    ),
    "valueBoolean": ("value_boolean", _boolean),
    "valueJson": ("value_json", _any_json(levels_above=3)),
    "collectedAt": ("collected_at", lambda value: _parsed(value, as_instant)),
    "senderLimits": ("sender_limits", lambda value: _parsed(value, as_sender_limits)),
}
REQUIRED_EVENT_FIELDS = ("eventId", "eventTime", "source")


def _unsure():
    raise _Unsure


def _fields(payload: dict, fields: dict) -> dict:
    return {name: check(payload[key]) for key, (name, check) in fields.items() if key in payload}


def plainly_valid_event(payload: dict) -> dict | None:
    """The event as DeviceEventSerializer validates it, if it breaks no rule and
    needs no cleaning (such as trimming spaces); otherwise None."""
    try:
        if any(payload.get(key) is None for key in REQUIRED_EVENT_FIELDS):
            return None
        event = _fields(payload, EVENT_FIELDS)
        items = payload.get("data")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS_PER_EVENT:
            return None
        event["data"] = []
        for item in items:
            if not isinstance(item, dict):
                return None
            checked = _fields(item, ITEM_FIELDS)
            if checked.get("spec_id") is None and not checked.get("spec_name"):
                return None
            event["data"].append(checked)
        if "meta" in payload:
            event["meta"] = _any_json(levels_above=1)(payload["meta"])
    except _Unsure:
        return None
    has_track = event.get("track_id") is not None
    has_carrier = event.get("carrier_track_id") is not None
    if has_track and has_carrier:
        return None
    if not (has_track or has_carrier):
        codes = ("unit_sn", "station_code")
        if event.get("step_no") is not None:
            codes = ("run_no", *codes)
        if any(event.get(code) in (None, "") for code in codes):
            return None
    if event["source"] == "MANUAL" and not event.get("operator_id"):
        return None
    return event


MAX_EVENTS_PER_BATCH = 500


class ParsedJSONField(serializers.JSONField):
    """Any JSON value of a body the parser has taken: taken as it is. (JSONField
    would encode each event again only to prove it is JSON.)"""

    def to_internal_value(self, data):
        return data


class BatchEnvelopeSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=ParsedJSONField(),
        min_length=1,
        max_length=MAX_EVENTS_PER_BATCH,
        help_text="1–500 events, each as POST /api/integration/device-data takes it.",
    )


@cache
def event_validator() -> DeviceEventSerializer:
    """One validator for every event of the process: building a serializer's fields
    costs more than using them, and validating keeps no state on the serializer."""
    return DeviceEventSerializer()


def validate_event_shape(payload) -> dict:
    """Rule 1: the event's shape and types, as validated snake_case data.

    Raises ValidationError with per-field details.
    """
    if not isinstance(payload, dict):
        raise ValidationError({"non_field_errors": ["An event must be a JSON object."]})
    return plainly_valid_event(payload) or event_validator().run_validation(payload)
