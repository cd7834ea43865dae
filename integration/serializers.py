"""Request shapes (DESIGN.md §4 rule 1) and response shapes of the device-data API.

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
from mes.api.parsers import json_problem

MAX_ITEMS_PER_EVENT = 1000
MAX_DATABASE_ID = 2**63 - 1
MAX_TEXT_VALUE_LENGTH = 10_000


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
    """A primary key, as a JSON number or a string of digits (API.md)."""

    default_error_messages = {"invalid": "Must be a positive integer id, as a number or digits."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= 19:
            data = int(data)
        if not isinstance(data, int) or not 1 <= data <= MAX_DATABASE_ID:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "number"})
class FiniteNumberField(serializers.Field):
    default_error_messages = {"invalid": "Must be a finite JSON number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            number = float(data)
        except OverflowError:
            self.fail("invalid")
        if not math.isfinite(number):
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
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        try:
            moment = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail("invalid")
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail("invalid")


class UtcDateTimeField(serializers.DateTimeField):
    """Answers are in UTC with "Z" (API.md), whatever the server's TIME_ZONE."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)


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

    def validate(self, attrs):
        if attrs.get("spec_id") is None and not attrs.get("spec_name"):
            raise serializers.ValidationError("Each item needs specId or specName.")
        return attrs


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An AUTO event by codes (API.md)",
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
            for name, key in (
                ("runNo", "run_no"),
                ("unitSn", "unit_sn"),
                ("stationCode", "station_code"),
                ("stepNo", "step_no"),
            ):
                if attrs.get(key) in (None, ""):
                    errors[name] = ["Required when neither trackId nor carrierTrackId is given."]
        if attrs["source"] == DeviceDataRecord.Source.MANUAL and not attrs.get("operator_id"):
            errors["operatorId"] = ["Required when source is MANUAL."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


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
        ]

    def get_recordId(self, message) -> str | None:
        return id_or_none(message.record_id)

    def get_replayOf(self, message) -> str | None:
        return id_or_none(message.replay_of_id)

    def get_sentBy(self, message) -> str | None:
        return message.sent_by.username if message.sent_by else None
