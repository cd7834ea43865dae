"""Response shapes of the read API: records, values and messages."""

from rest_framework import serializers

from integration.answers import id_or_none
from integration.ingestion.fields import UtcDateTimeField
from integration.models import DeviceDataRecord, IntegrationMessage


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
