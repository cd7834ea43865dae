"""Request shapes (docs/ingestion.md, rule 1) and response shapes of the device-data API.

Fields are strict: a JSON string is not a number, `1` is not `true`, and times
need an offset. Validated events come out in snake_case for the service.
"""

import math
from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from integration.models import DeviceDataRecord, IntegrationMessage
from mes.api.parsers import json_problem, unstorable_text

MAX_ITEMS_PER_EVENT = 1000
MAX_DATABASE_ID = 2**63 - 1
MAX_TEXT_VALUE_LENGTH = 10_000


def as_database_id(data) -> int | None:
    """A primary key from a JSON number or a string of digits, or None if it is not one."""
    if isinstance(data, bool):
        return None
    if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= 19:
        data = int(data)
    if not isinstance(data, int) or not 1 <= data <= MAX_DATABASE_ID:
        return None
    return data


def as_finite_number(data) -> float | None:
    """A finite JSON number as a float, or None if it is not one."""
    if isinstance(data, bool) or not isinstance(data, int | float):
        return None
    try:
        number = float(data)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def as_instant(data) -> datetime | None:
    """An ISO 8601 time with an offset as a UTC instant, or None if it is not one."""
    if not isinstance(data, str) or len(data) > 64:
        return None
    try:
        moment = datetime.fromisoformat(data)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A choice given as a JSON string: ChoiceField alone would take 1 for "1"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string, a boolean or a float."""

    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_ID},
            {"type": "string", "pattern": "^[0-9]{1,19}$"},
        ],
        "description": "A database id, as a JSON number or a string of digits.",
    }
)
class DatabaseIdField(serializers.Field):
    """A primary key, as a JSON number or a string of digits (docs/api.md)."""

    default_error_messages = {"invalid": "Must be a positive integer id, as a number or digits."}

    def to_internal_value(self, data):
        database_id = as_database_id(data)
        if database_id is None:
            self.fail("invalid")
        return database_id

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "number"})
class FiniteNumberField(serializers.Field):
    default_error_messages = {"invalid": "Must be a finite JSON number."}

    def to_internal_value(self, data):
        number = as_finite_number(data)
        if number is None:
            self.fail("invalid")
        return number


@extend_schema_field({"type": "boolean"})
class StrictBooleanField(serializers.Field):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field(OpenApiTypes.ANY)
class AnyJsonField(serializers.Field):
    """Any JSON value the database can store, within the depth bound counted from
    the event (`levels_above`: the containers between the event and this field,
    the event included). The HTTP parser checks the same on the whole body; this
    keeps the service as strict for its other callers (replay, commands)."""

    def __init__(self, *, levels_above: int = 1, **kwargs):
        self.levels_above = levels_above
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        bound = settings.INGEST_MAX_JSON_DEPTH
        problem = json_problem(data, bound - self.levels_above, bound)
        if problem:
            raise serializers.ValidationError(problem)
        return data


@extend_schema_field({"type": "string", "format": "date-time"})
class InstantField(serializers.Field):
    """An ISO 8601 time with an offset, as a UTC instant."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 time with an offset, e.g. 2026-01-24T10:00:00Z."
    }

    def to_internal_value(self, data):
        instant = as_instant(data)
        if instant is None:
            self.fail("invalid")
        return instant


def utc_text(moment: datetime) -> str:
    """A time as docs/api.md answers it: ISO 8601 in UTC with "Z" (as UtcDateTimeField)."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class UtcDateTimeField(serializers.DateTimeField):
    """Answers are in UTC with "Z" (docs/api.md), whatever the server's TIME_ZONE."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)


SENDER_LIMIT_NUMBERS = ("min", "max", "expected")
SENDER_LIMIT_KEYS = (*SENDER_LIMIT_NUMBERS, "unit")


def as_sender_limits(data) -> dict | None:
    """The sender's own limits of a reading, or None if they are not such an object:
    `min`, `max` and `expected` finite numbers (or null), `unit` a short string (or null),
    nothing else. Kept beside the value for people to compare; our spec judges."""
    if not isinstance(data, dict) or not data.keys() <= set(SENDER_LIMIT_KEYS):
        return None
    for key in SENDER_LIMIT_NUMBERS:
        if data.get(key) is not None and as_finite_number(data[key]) is None:
            return None
    unit = data.get("unit")
    if unit is not None and (
        not isinstance(unit, str) or len(unit) > 50 or unstorable_text(unit) is not None
    ):
        return None
    return data


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "min": {"type": "number", "nullable": True},
            "max": {"type": "number", "nullable": True},
            "expected": {"type": "number", "nullable": True},
            "unit": {"type": "string", "nullable": True, "maxLength": 50},
        },
        "additionalProperties": False,
        "description": "The sender's own limits of the reading, kept beside the value; "
        "the spec judges.",
    }
)
class SenderLimitsField(serializers.Field):
    default_error_messages = {
        "invalid": "Must be an object of min, max, expected (finite numbers) and unit (text)."
    }

    def to_internal_value(self, data):
        limits = as_sender_limits(data)
        if limits is None:
            self.fail("invalid")
        return limits


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


# Rule 1 without DRF, for events that need neither cleaning nor an explanation.
# DeviceEventSerializer is the definition; this answers the same for the events
# gateways send all day at a tenth of the cost (docs/DECISIONS.md), and steps
# aside (None) for anything else. tests/test_event_shape_fast_path.py checks the
# two agree on valid and broken events alike.


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


class DataValueResultSerializer(serializers.Serializer):
    specId = serializers.CharField(source="spec_id")
    specName = serializers.CharField(source="spec.name")
    judge = serializers.CharField()
    alarmed = serializers.BooleanField()


def id_or_none(value):
    return None if value is None else str(value)


class RecordSerializer(serializers.ModelSerializer):
    """A device-data record in the list and detail of the read API."""

    id = serializers.CharField(read_only=True)
    eventId = serializers.CharField(source="event_id")
    eventTime = UtcDateTimeField(source="event_time")
    runNo = serializers.CharField(source="run_no")
    unitSn = serializers.CharField(source="unit_sn")
    stationCode = serializers.CharField(source="station_code")
    stepNo = serializers.IntegerField(source="step_no", allow_null=True)
    trackId = serializers.SerializerMethodField()
    carrierTrackId = serializers.SerializerMethodField()
    operationId = serializers.SerializerMethodField()
    equipmentId = serializers.CharField(source="equipment_id")
    operatorId = serializers.CharField(source="operator_id")
    dataValuesCreated = serializers.IntegerField(source="data_values_created")
    duplicateCount = serializers.IntegerField(source="duplicate_count")
    receivedAt = UtcDateTimeField(source="received_at")

    class Meta:
        model = DeviceDataRecord
        fields = [
            "id",
            "eventId",
            "eventTime",
            "source",
            "runNo",
            "unitSn",
            "stationCode",
            "stepNo",
            "trackId",
            "carrierTrackId",
            "operationId",
            "equipmentId",
            "operatorId",
            "data",
            "meta",
            "dataValuesCreated",
            "duplicateCount",
            "receivedAt",
        ]

    def get_trackId(self, record) -> str | None:
        return id_or_none(record.track_id)

    def get_carrierTrackId(self, record) -> str | None:
        return id_or_none(record.carrier_track_id)

    def get_operationId(self, record) -> str | None:
        return id_or_none(record.operation_id)


class DataValueDetailSerializer(serializers.Serializer):
    id = serializers.CharField()
    specId = serializers.CharField(source="spec_id")
    specName = serializers.CharField(source="spec.name")
    valueNumber = serializers.FloatField(source="value_number", allow_null=True)
    valueText = serializers.CharField(source="value_text", allow_null=True)
    valueBoolean = serializers.BooleanField(source="value_boolean", allow_null=True)
    valueJson = serializers.JSONField(source="value_json", allow_null=True)
    judge = serializers.CharField()
    alarmed = serializers.BooleanField()
    limits = serializers.JSONField()
    senderLimits = serializers.JSONField(source="sender_limits", allow_null=True)
    collectedAt = UtcDateTimeField(source="collected_at")


class MessageBriefSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    createdAt = UtcDateTimeField(source="created_at")
    errorCode = serializers.CharField(source="error_code")


class RecordDetailSerializer(RecordSerializer):
    dataValues = DataValueDetailSerializer(source="data_value_list", many=True)
    messages = MessageBriefSerializer(source="message_list", many=True)

    class Meta(RecordSerializer.Meta):
        fields = RecordSerializer.Meta.fields + ["dataValues", "messages"]


class MessageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    entityType = serializers.CharField(source="entity_type")
    businessKey = serializers.CharField(source="business_key")
    dedupeKey = serializers.CharField(source="dedupe_key")
    errorCode = serializers.CharField(source="error_code")
    errorMessage = serializers.CharField(source="error_message")
    recordId = serializers.SerializerMethodField()
    replayOf = serializers.SerializerMethodField()
    resolvedAt = UtcDateTimeField(source="resolved_at", allow_null=True)
    sentBy = serializers.SerializerMethodField()
    createdAt = UtcDateTimeField(source="created_at")
    acknowledgedAt = UtcDateTimeField(source="acknowledged_at", allow_null=True)
    acknowledgedBy = serializers.SerializerMethodField()
    acknowledgementNote = serializers.CharField(source="acknowledgement_note")

    class Meta:
        model = IntegrationMessage
        fields = [
            "id",
            "direction",
            "system",
            "entityType",
            "businessKey",
            "dedupeKey",
            "status",
            "errorCode",
            "errorMessage",
            "recordId",
            "replayOf",
            "resolvedAt",
            "sentBy",
            "createdAt",
            "acknowledgedAt",
            "acknowledgedBy",
            "acknowledgementNote",
        ]

    def get_recordId(self, message) -> str | None:
        return id_or_none(message.record_id)

    def get_replayOf(self, message) -> str | None:
        return id_or_none(message.replay_of_id)

    def get_sentBy(self, message) -> str | None:
        return message.sent_by.username if message.sent_by else None

    def get_acknowledgedBy(self, message) -> str | None:
        return message.acknowledged_by.username if message.acknowledged_by else None
