"""The device-data API: thin views that validate, call the ingestion service and render."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from execution.models import DataValue
from integration.filtersets import DeviceDataRecordFilterSet, IntegrationMessageFilterSet
from integration.ingestion import (
    EventNotWritten,
    Result,
    receive_device_event,
    receive_device_events,
)
from integration.models import DeviceDataRecord, GatewayKey, IntegrationMessage
from integration.serializers import (
    DataValueResultSerializer,
    DeviceEventSerializer,
    MessageSerializer,
    RecordDetailSerializer,
    RecordSerializer,
    UtcDateTimeField,
    id_or_none,
    utc_text,
)
from mes.api.exceptions import ApiError, first_error_message
from mes.api.permissions import ReadOrIngestPermission, has_permission
from mes.api.views import JsonBodyMixin

INGEST_PERMISSION = "integration.add_devicedatarecord"
READ_PERMISSION = "integration.view_devicedatarecord"


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


def ingestion_response(outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.is_duplicate else None
    return Response(ingestion_answer(outcome), headers=headers)


class DeviceDataView(JsonBodyMixin, generics.ListAPIView):
    """POST one device event; GET the accepted records, filtered and paginated."""

    queryset = DeviceDataRecord.objects.order_by("-event_time", "-received_at", "-pk")
    cursor_fields = ["event_time", "received_at"]  # the ordering, for keyset pages
    serializer_class = RecordSerializer
    filterset_class = DeviceDataRecordFilterSet
    permission_classes = [ReadOrIngestPermission]

    @property
    def max_body_bytes(self):
        return settings.INGEST_MAX_BODY_BYTES

    @extend_schema(
        request=DeviceEventSerializer,
        responses={
            200: IngestionAnswerSerializer,
            400: OpenApiResponse(description="VALIDATION_ERROR"),
            409: OpenApiResponse(description="EVENT_ID_CONFLICT"),
            422: OpenApiResponse(description="Kept as a FAILED message"),
        },
    )
    def post(self, request):
        outcome = receive_device_event(request.data, sent_by=request.user)
        return ingestion_response(outcome)


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


def _error_of(attempt) -> dict:
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
            result["error"] = _error_of(attempt)
        results.append(result)
    return {"summary": summary, "results": results}


class DeviceDataBatchView(JsonBodyMixin, APIView):
    """POST up to 500 events at once; each gets the answer it would get alone."""

    queryset = DeviceDataRecord.objects.none()  # for the ingest permission
    permission_classes = [ReadOrIngestPermission]
    json_depth_offset = 2  # {"events": [ <event> ]}: depth counts from each event

    @property
    def max_body_bytes(self):
        return settings.INGEST_MAX_BATCH_BODY_BYTES

    @extend_schema(request=BatchEnvelopeSerializer, responses={200: BatchAnswerSerializer})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"events": ['Send {"events": [ … ]}.']})
        envelope = BatchEnvelopeSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        attempts = receive_device_events(request.data["events"], sent_by=request.user)
        unavailable = [a for a in attempts if isinstance(a.error, EventNotWritten)]
        if unavailable and all(
            isinstance(a.error, EventNotWritten | serializers.ValidationError) for a in attempts
        ):
            raise BatchNotWritten(unavailable)
        response = Response(batch_results(attempts))
        if unavailable:  # those events are to be sent again
            response["Retry-After"] = str(EventNotWritten.retry_after)
        return response


class BatchNotWritten(ApiError):
    """No event of a batch was written or kept: the database could not take them (503)."""

    retry_after = EventNotWritten.retry_after

    def __init__(self, unavailable: list):
        unknown = [a.error for a in unavailable if a.error.details["written"] == "unknown"]
        first = unknown[0] if unknown else unavailable[0].error
        if unknown:
            message = (
                "The database connection was lost while the batch was being committed: its "
                "events may or may not have been written. Send the batch again: events "
                "written are answered as duplicates."
            )
        else:
            message = f"Nothing of this batch was written ({first.cause}); send it again."
        super().__init__(EventNotWritten.CODE, message, 503, first.details)


class DeviceDataDetailView(generics.RetrieveAPIView):
    """One record with its values and every message of its eventId."""

    serializer_class = RecordDetailSerializer
    permission_classes = [ReadOrIngestPermission]
    lookup_url_kwarg = "record_id"

    def get_queryset(self):
        return DeviceDataRecord.objects.all()

    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        # dataValues: the values written for this event, with their spec names.
        record.data_value_list = list(
            DataValue.objects.filter(source_ref=record.business_key)
            .select_related("spec")
            .order_by("pk")
        )
        # messages: by eventId, so FAILED attempts before the record are included.
        record.message_list = list(
            IntegrationMessage.objects.filter(business_key=record.business_key).order_by(
                "created_at", "pk"
            )
        )
        return Response(self.get_serializer(record).data)


class MessageListView(generics.ListAPIView):
    """Every inbound attempt, filtered and paginated (the payload stays in the admin)."""

    # sentBy, acknowledgedBy: the usernames.
    queryset = IntegrationMessage.objects.select_related("sent_by", "acknowledged_by").order_by(
        "-created_at", "-pk"
    )
    cursor_fields = ["created_at"]  # the ordering, for keyset pages
    serializer_class = MessageSerializer
    filterset_class = IntegrationMessageFilterSet
    permission_classes = [ReadOrIngestPermission]


class WhoAmISerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["gateway", "user"])
    canIngest = serializers.BooleanField()
    canRead = serializers.BooleanField()


class WhoAmIView(APIView):
    """Who the credentials belong to, so a gateway can test its key before sending data."""

    @extend_schema(responses=WhoAmISerializer)
    def get(self, request):
        user = request.user
        return Response(
            {
                "name": user.get_username(),
                "kind": "gateway" if isinstance(request.auth, GatewayKey) else "user",
                "canIngest": has_permission(user, INGEST_PERMISSION),
                "canRead": has_permission(user, READ_PERMISSION),
            }
        )
