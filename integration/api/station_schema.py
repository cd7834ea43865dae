"""The stations API in the OpenAPI schema (docs/api.md "Stations"): the answers of its
reads, its parameters and the examples Swagger UI offers, for integration/api/stations.py's
views. The track-in and track-out answers are integration/tracking/answers.py's."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from execution.models import DataSpec, Unit
from integration.ingestion.fields import UtcDateTimeField
from integration.tracking.answers import TrackInAnswerSerializer, TrackOutAnswerSerializer
from integration.tracking.shape import TrackInSerializer, TrackOutSerializer


class OpenTrackSerializer(serializers.Serializer):
    trackId = serializers.CharField()
    stepNo = serializers.IntegerField()
    stationCode = serializers.CharField(allow_null=True)
    inAt = UtcDateTimeField()


class OpenHoldSerializer(serializers.Serializer):
    id = serializers.CharField()
    openedAt = UtcDateTimeField()


class UnitPositionSerializer(serializers.Serializer):
    sn = serializers.CharField()
    runNo = serializers.CharField(allow_null=True)
    woNo = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=Unit.Status.choices)
    currentStepNo = serializers.IntegerField(allow_null=True)
    openTrack = OpenTrackSerializer(allow_null=True, help_text="Its open pass, if any.")
    hold = OpenHoldSerializer(allow_null=True, help_text="Its open hold, if any.")


class StationNameSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class QueueEntrySerializer(serializers.Serializer):
    sn = serializers.CharField()
    runNo = serializers.CharField(allow_null=True)
    woNo = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=Unit.Status.choices)
    currentStepNo = serializers.IntegerField(allow_null=True)
    trackId = serializers.CharField()
    inAt = UtcDateTimeField()


class QueueSerializer(serializers.Serializer):
    station = StationNameSerializer()
    queue = QueueEntrySerializer(many=True, help_text="First in first.")


class SpecToCollectSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    itemType = serializers.ChoiceField(choices=DataSpec.ItemType.choices)
    dataType = serializers.ChoiceField(choices=DataSpec.DataType.choices)
    method = serializers.ChoiceField(choices=DataSpec.Method.choices)
    isRequired = serializers.BooleanField()
    spec = serializers.JSONField(allow_null=True)
    alarm = serializers.JSONField(allow_null=True)


class DataSpecsSerializer(serializers.Serializer):
    sn = serializers.CharField()
    stepNo = serializers.IntegerField(allow_null=True)
    operationCode = serializers.CharField(allow_null=True)
    operationName = serializers.CharField(allow_null=True)
    specs = SpecToCollectSerializer(many=True)


def _path(name: str, description: str, example: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(example, value=example)],
    )


STATION_CODE = _path("station_code", "The station's code.", "SMT-01")
SN = _path("sn", "The unit's serial number.", "SN-0001")
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description="The call's eventId (1–200 characters) when its body has none (the body's wins).",
)
_CALL_ERRORS = {
    400: OpenApiResponse(description="VALIDATION_ERROR: the body's shape; nothing is kept."),
    404: OpenApiResponse(description="STATION_NOT_FOUND (kept as a FAILED message)."),
    409: OpenApiResponse(
        description="The unit's state refuses the call (kept as a FAILED message), or "
        "EVENT_ID_CONFLICT: the eventId holds another call."
    ),
    422: OpenApiResponse(
        description="The run, the unit, the station or the data refuse the call (kept as a "
        "FAILED message)."
    ),
}

TRACK_IN = {
    "request": TrackInSerializer,
    "parameters": [STATION_CODE, IDEMPOTENCY_HEADER],
    "responses": {200: TrackInAnswerSerializer, **_CALL_ERRORS},
    "examples": [
        OpenApiExample(
            "Track in",
            value={
                "sn": "SN-0001",
                "runNo": "RUN-2026-001",
                "woNo": "WO-1001",
                "operatorId": "op-7",
                "eventId": "ti-0001",
            },
            request_only=True,
        )
    ],
}
TRACK_OUT = {
    "request": TrackOutSerializer,
    "parameters": [STATION_CODE, IDEMPOTENCY_HEADER],
    "responses": {200: TrackOutAnswerSerializer, **_CALL_ERRORS},
    "examples": [
        OpenApiExample(
            "Track out",
            value={
                "sn": "SN-0001",
                "runNo": "RUN-2026-001",
                "result": "PASS",
                "operatorId": "op-7",
                "defectCode": None,
                "defectLocation": None,
                "eventId": "to-0001",
                "data": [{"specName": "Visual Check", "valueBoolean": True}],
            },
            request_only=True,
        )
    ],
}
RESOLVE_UNIT = {
    "parameters": [SN],
    "responses": {
        200: UnitPositionSerializer,
        404: OpenApiResponse(description="UNIT_NOT_FOUND"),
    },
}
QUEUE = {
    "parameters": [STATION_CODE],
    "responses": {200: QueueSerializer, 404: OpenApiResponse(description="STATION_NOT_FOUND")},
}
DATA_SPECS = {
    "parameters": [STATION_CODE, SN],
    "responses": {
        200: DataSpecsSerializer,
        404: OpenApiResponse(description="STATION_NOT_FOUND or UNIT_NOT_FOUND"),
    },
}
