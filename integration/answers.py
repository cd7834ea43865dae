"""The answer contract: an accepted event's answer, a batch's results and each refused
event's error body, as REST, MQTT and CFX all give them (docs/api.md). The
serializers describe the shapes for the OpenAPI schema; the functions build them.
"""

from rest_framework import serializers

from integration.ingestion.attempt import Result
from integration.ingestion.fields import UtcDateTimeField, utc_text
from mes.api.exceptions import ApiError, first_error_message


class DataValueResultSerializer(serializers.Serializer):
    specId = serializers.CharField(source="spec_id")
    specName = serializers.CharField(source="spec.name")
    judge = serializers.CharField()
    alarmed = serializers.BooleanField()


def id_or_none(value):
    return None if value is None else str(value)


class HoldNoteSerializer(serializers.Serializer):
    """The open hold of the event's unit (docs/holds.md)."""

    id = serializers.CharField(source="hold_id")
    openedAt = UtcDateTimeField(source="opened_at")
    causedByThisEvent = serializers.BooleanField(source="caused_by_event")


def hold_answer(note) -> dict | None:
    if note is None:
        return None
    return {
        "id": str(note.hold_id),
        "openedAt": utc_text(note.opened_at),
        "causedByThisEvent": note.caused_by_event,
    }


class IngestionAnswerSerializer(serializers.Serializer):
    """The single endpoint's answer, for a new event and a duplicate alike."""

    id = serializers.CharField(source="record.pk")
    eventId = serializers.CharField(source="record.event_id")
    trackId = serializers.SerializerMethodField()
    carrierTrackId = serializers.SerializerMethodField()
    dataValuesCreated = serializers.IntegerField(source="record.data_values_created")
    receivedAt = UtcDateTimeField(source="record.received_at")
    isDuplicate = serializers.BooleanField(source="is_duplicate")
    values = DataValueResultSerializer(many=True)
    hold = HoldNoteSerializer(
        allow_null=True, help_text="The unit's open hold, or null: its events are still taken."
    )

    def get_trackId(self, outcome) -> str | None:
        return id_or_none(outcome.record.track_id)

    def get_carrierTrackId(self, outcome) -> str | None:
        return id_or_none(outcome.record.carrier_track_id)


def ingestion_answer(outcome) -> dict:
    """The answer for one accepted event, as IngestionAnswerSerializer (the schema)
    describes it. Written out: the serializer's field machinery cost a fifth of a
    batch's time (tests check both give the same answer)."""
    record = outcome.record
    return {
        "id": str(record.pk),
        "eventId": record.event_id,
        "trackId": id_or_none(record.track_id),
        "carrierTrackId": id_or_none(record.carrier_track_id),
        "dataValuesCreated": record.data_values_created,
        "receivedAt": utc_text(record.received_at),
        "isDuplicate": outcome.is_duplicate,
        "values": [
            {
                "specId": str(value.spec_id),
                "specName": value.spec.name,
                "judge": value.judge,
                "alarmed": value.alarmed,
            }
            for value in outcome.values
        ],
        "hold": hold_answer(outcome.hold),
    }


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


class BatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    eventId = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=[Result.CREATED, Result.DUPLICATE, Result.CONFLICT, Result.FAILED]
    )
    data = IngestionAnswerSerializer(required=False, help_text="CREATED and DUPLICATE")
    error = BatchErrorSerializer(required=False, help_text="CONFLICT and FAILED")


class BatchSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    conflict = serializers.IntegerField()
    failed = serializers.IntegerField()


class BatchAnswerSerializer(serializers.Serializer):
    """The batch answer's shape, for the OpenAPI schema."""

    summary = BatchSummarySerializer()
    results = BatchResultSerializer(many=True)


def error_of(attempt) -> dict:
    error = attempt.error
    if isinstance(error, ApiError):
        answer = {"code": error.code, "message": error.message}
        if error.details:
            answer["details"] = error.details
        return answer
    return {
        "code": "VALIDATION_ERROR",
        "message": first_error_message(error.detail),
        "details": error.detail,
    }


def batch_results(attempts) -> dict:
    """The batch answer's body: a summary and each event's result, in order (the REST
    batch endpoint and the MQTT consumer give the same)."""
    summary = {"created": 0, "duplicate": 0, "conflict": 0, "failed": 0}
    results = []
    for attempt in attempts:
        summary[attempt.status.lower()] += 1
        result = {"index": attempt.index, "eventId": attempt.event_id, "status": attempt.status}
        if attempt.status in (Result.CREATED, Result.DUPLICATE):
            result["data"] = ingestion_answer(attempt.outcome)
        else:
            result["error"] = error_of(attempt)
        results.append(result)
    return {"summary": summary, "results": results}
