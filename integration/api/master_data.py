"""The master-data API (docs/api.md "Master data", docs/master-data.md): PUT a station,
an operation with its specs, a route version or a run by its business key. Thin views:
integration/master_data_calls.py writes and logs each call."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from integration import master_data_calls as calls
from integration.api import master_data_schema as schema
from mes.api.permissions import has_permission
from mes.api.views import JsonBodyMixin


def _add_and_change(*models: str) -> list[str]:
    return [f"execution.{action}_{model}" for model in models for action in ("add", "change")]


class MasterDataPermission(permissions.BasePermission):
    """The back office's add and change permissions of what the call writes (Integration
    admins hold them; a gateway account of the ERP or PLM may be given them)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method not in view.allowed_methods:
            return True  # a 405 for everyone, not a 403
        return all(has_permission(user, perm) for perm in view.required_permissions)


class _MasterDataView(JsonBodyMixin, APIView):
    permission_classes = [MasterDataPermission]
    required_permissions: list[str] = []

    @property
    def max_body_bytes(self):
        # A run's serials: ~25 bytes each, so a batch's limit holds hundreds of thousands.
        return settings.INGEST_MAX_BATCH_BODY_BYTES


class StationView(_MasterDataView):
    """Create or update one station by its code."""

    required_permissions = _add_and_change("station")

    @extend_schema(**schema.STATION)
    def put(self, request, code):
        return Response(calls.put_station(request.data, code=code, sent_by=request.user).answer)


class OperationView(_MasterDataView):
    """Create or update one operation and the specs it names."""

    required_permissions = _add_and_change("operation", "dataspec")

    @extend_schema(**schema.OPERATION)
    def put(self, request, code):
        answer = calls.put_operation(request.data, code=code, sent_by=request.user)
        return Response(answer.answer)


class RouteVersionView(_MasterDataView):
    """Create a route version with its steps, or change one no run uses."""

    required_permissions = _add_and_change("routeversion", "routestep")

    @extend_schema(**schema.ROUTE_VERSION)
    def put(self, request, code, version_no):
        answer = calls.put_route_version(
            request.data, code=code, version_no=version_no, sent_by=request.user
        )
        return Response(answer.answer)


class RunView(_MasterDataView):
    """Create or update one run and plan its serial numbers."""

    required_permissions = _add_and_change("run", "unit")

    @extend_schema(**schema.RUN)
    def put(self, request, run_no):
        return Response(calls.put_run(request.data, run_no=run_no, sent_by=request.user).answer)
