"""The master-data API in the OpenAPI schema (docs/api.md "Master data"): the bodies as
execution.master_data reads them, the answer, and the refusals. The serializers only
describe: the service validates, naming the item and field of each mistake."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from execution.models import DataSpec, Run, Station


class StationBodySerializer(serializers.Serializer):
    code = serializers.CharField(required=False, help_text="The URL's, if given.")
    name = serializers.CharField(max_length=200)
    stationType = serializers.ChoiceField(choices=Station.StationType.choices)
    lineCode = serializers.CharField(required=False, allow_blank=True, max_length=100)
    trackedByMachine = serializers.BooleanField(required=False, default=False)


class SpecBodySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    dataType = serializers.ChoiceField(choices=DataSpec.DataType.choices)
    itemType = serializers.ChoiceField(choices=DataSpec.ItemType.choices, required=False)
    method = serializers.ChoiceField(choices=DataSpec.Method.choices, required=False)
    triggerType = serializers.ChoiceField(choices=DataSpec.TriggerType.choices, required=False)
    triggerRule = serializers.JSONField(required=False, allow_null=True)
    spec = serializers.JSONField(required=False, allow_null=True, help_text="Limits.")
    alarm = serializers.JSONField(required=False, allow_null=True, help_text="Alarm limits.")
    isRequired = serializers.BooleanField(required=False, default=False)
    isActive = serializers.BooleanField(required=False, default=True)


class OperationBodySerializer(serializers.Serializer):
    code = serializers.CharField(required=False, help_text="The URL's, if given.")
    name = serializers.CharField(max_length=200)
    specs = SpecBodySerializer(many=True, required=False, help_text="Upserted by name.")


class StepBodySerializer(serializers.Serializer):
    stepNo = serializers.IntegerField(min_value=1)
    operationCode = serializers.CharField()
    stationType = serializers.ChoiceField(
        choices=Station.StationType.choices, required=False, allow_blank=True
    )
    allowedStations = serializers.ListField(child=serializers.CharField(), required=False)
    specs = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Names of its operation's specs."
    )


class RouteVersionBodySerializer(serializers.Serializer):
    code = serializers.CharField(required=False, help_text="The URL's, if given.")
    version = serializers.IntegerField(required=False, help_text="The URL's, if given.")
    steps = StepBodySerializer(many=True)


class RunBodySerializer(serializers.Serializer):
    runNo = serializers.CharField(required=False, help_text="The URL's, if given.")
    woNo = serializers.CharField(required=False, allow_blank=True, max_length=100)
    routeCode = serializers.CharField()
    routeVersion = serializers.IntegerField(min_value=1)
    lineCode = serializers.CharField(required=False, allow_blank=True, max_length=100)
    status = serializers.ChoiceField(
        choices=[Run.Status.PREP, Run.Status.AUTHORIZED], required=False, default="PREP"
    )
    serials = serializers.ListField(child=serializers.CharField(max_length=100), required=False)


class MasterDataAnswerSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(choices=["STATION", "OPERATION", "ROUTE", "RUN"])
    key = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "updated", "unchanged"])
    messageId = serializers.CharField()
    unitsCreated = serializers.IntegerField(required=False, help_text="Runs only.")
    unitsAdded = serializers.IntegerField(required=False, help_text="Runs only.")
    unitsMoved = serializers.IntegerField(required=False, help_text="Runs only.")
    unitsUnchanged = serializers.IntegerField(required=False, help_text="Runs only.")


def _path(name: str, kind, description: str, example) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample(str(example), value=example)],
    )


ERRORS = {
    400: OpenApiResponse(
        description="VALIDATION_ERROR: the body's shape or limits, named by field (kept as a "
        "FAILED message)."
    ),
    409: OpenApiResponse(
        description="ROUTE_VERSION_IN_USE, RUN_STARTED, UNIT_HAS_TRACKS or SPEC_HAS_VALUES "
        "(kept as a FAILED message)."
    ),
    422: OpenApiResponse(
        description="A reference not found: OPERATION_NOT_FOUND, STATION_NOT_FOUND, "
        "SPEC_NOT_FOUND, ROUTE_VERSION_NOT_FOUND; ROUTE_VERSION_NOT_READY for an authorized run "
        "whose route version has no steps (kept as a FAILED message)."
    ),
}


def _put(body, parameters, example) -> dict:
    return {
        "request": body,
        "parameters": parameters,
        "responses": {200: MasterDataAnswerSerializer, **ERRORS},
        "examples": [OpenApiExample("Example", value=example, request_only=True)],
    }


STATION = _put(
    StationBodySerializer,
    [_path("code", str, "The station's code.", "EX-PRINTER-01")],
    {"name": "Stencil printer", "stationType": "AUTO", "lineCode": "SMT-EX"},
)
OPERATION = _put(
    OperationBodySerializer,
    [_path("code", str, "The operation's code.", "EX-OP-PRINT")],
    {
        "name": "Solder paste printing",
        "specs": [
            {
                "name": "Squeegee Pressure",
                "dataType": "NUMBER",
                "spec": {"min": 5, "max": 12, "unit": "kg"},
                "alarm": {"min": 4, "max": 13, "action": "HOLD"},
            }
        ],
    },
)
ROUTE_VERSION = _put(
    RouteVersionBodySerializer,
    [
        _path("code", str, "The route's code.", "ROUTE-SMT-EX"),
        _path("version_no", int, "The version number, from 1.", 1),
    ],
    {
        "steps": [
            {
                "stepNo": 10,
                "operationCode": "EX-OP-PRINT",
                "stationType": "AUTO",
                "allowedStations": ["EX-PRINTER-01"],
                "specs": ["Squeegee Pressure"],
            }
        ]
    },
)
RUN = _put(
    RunBodySerializer,
    [_path("run_no", str, "The run's number.", "RUN-EX-001")],
    {
        "woNo": "WO-EX-1",
        "routeCode": "ROUTE-SMT-EX",
        "routeVersion": 1,
        "lineCode": "SMT-EX",
        "status": "AUTHORIZED",
        "serials": ["SN-EX-0001", "SN-EX-0002"],
    },
)
