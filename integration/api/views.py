"""The device-data API: thin views that validate, call the ingestion service and render."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from execution.models import DataValue
from integration.answers import (
    BatchAnswerSerializer,
    IngestionAnswerSerializer,
    batch_results,
    ingestion_answer,
)
from integration.api.filtersets import DeviceDataRecordFilterSet, IntegrationMessageFilterSet
from integration.api.serializers import MessageSerializer, RecordDetailSerializer, RecordSerializer
from integration.ingestion.errors import EventNotWritten
from integration.ingestion.service import receive_device_event, receive_device_events
from integration.ingestion.shape import BatchEnvelopeSerializer, DeviceEventSerializer
from integration.models import DeviceDataRecord, GatewayKey, IntegrationMessage
from mes.api.exceptions import ApiError
from mes.api.permissions import ReadOrIngestPermission, has_permission
from mes.api.views import JsonBodyMixin

INGEST_PERMISSION = "integration.add_devicedatarecord"
READ_PERMISSION = "integration.view_devicedatarecord"


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
