"""The stations API (docs/api.md "Stations"): track in and out, where a unit is, a
station's queue and what to collect. Thin views: they validate nothing themselves and
call integration/tracking/service.py or execution/station_queries.py."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from execution.station_queries import specs_to_collect, station_queue, unit_position
from execution.tracking import TrackingRefused
from integration.api import station_schema as schema
from integration.ingestion.fields import utc_text
from integration.tracking.errors import status_of
from integration.tracking.service import receive_track_in, receive_track_out
from mes.api.exceptions import ApiError
from mes.api.permissions import has_permission
from mes.api.views import JsonBodyMixin

TRACK_PERMISSION = "execution.track_units"
READ_PERMISSION = "execution.view_track"


class StationPermission(permissions.BasePermission):
    """POST needs `track_units` (Operators; gateways given it); GET needs it or the view
    permission of tracks (quality staff read)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method not in view.allowed_methods:
            return True  # a 405 for everyone, not a 403
        if request.method == "POST":
            return has_permission(user, TRACK_PERMISSION)
        return has_permission(user, TRACK_PERMISSION) or has_permission(user, READ_PERMISSION)


class Refused(ApiError):
    """A read the rules answer with a code (404 STATION_NOT_FOUND, UNIT_NOT_FOUND)."""

    def __init__(self, refusal: TrackingRefused):
        status = (
            404
            if refusal.code in ("STATION_NOT_FOUND", "UNIT_NOT_FOUND")
            else (status_of(refusal.code))
        )
        super().__init__(refusal.code, refusal.message, status)


def _tracking_response(outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.is_duplicate else None
    return Response(outcome.answer, headers=headers)


class _TrackingView(JsonBodyMixin, APIView):
    permission_classes = [StationPermission]

    @property
    def max_body_bytes(self):
        return settings.INGEST_MAX_BODY_BYTES

    def _receive(self, receive, request, station_code):
        outcome = receive(
            request.data,
            station_code=station_code,
            sent_by=request.user,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        return _tracking_response(outcome)


class TrackInView(_TrackingView):
    """Track a unit in at this station (docs/api.md "Stations")."""

    @extend_schema(**schema.TRACK_IN)
    def post(self, request, station_code):
        return self._receive(receive_track_in, request, station_code)


class TrackOutView(_TrackingView):
    """Track a unit out of its pass at this station, with its result and data."""

    @extend_schema(**schema.TRACK_OUT)
    def post(self, request, station_code):
        return self._receive(receive_track_out, request, station_code)


def _open_track(track) -> dict | None:
    if track is None:
        return None
    return {
        "trackId": str(track.pk),
        "stepNo": track.step_no,
        "stationCode": track.station.code if track.station else None,
        "inAt": utc_text(track.in_at),
    }


class ResolveUnitView(APIView):
    """Where a unit is: its run, state, current step, open pass and open hold."""

    permission_classes = [StationPermission]

    @extend_schema(**schema.RESOLVE_UNIT)
    def get(self, request, sn):
        try:
            position = unit_position(sn)
        except TrackingRefused as refusal:
            raise Refused(refusal) from None
        unit, run = position.unit, position.unit.run
        hold = position.hold
        return Response(
            {
                "sn": unit.sn,
                "runNo": run.run_no if run else None,
                "woNo": (run.wo_no or None) if run else None,
                "status": unit.status,
                "currentStepNo": unit.current_step_no,
                "openTrack": _open_track(position.open_track),
                "hold": None
                if hold is None
                else {"id": str(hold.pk), "openedAt": utc_text(hold.opened_at)},
            }
        )


class QueueView(APIView):
    """The units in station here, first in first."""

    permission_classes = [StationPermission]

    @extend_schema(**schema.QUEUE)
    def get(self, request, station_code):
        try:
            station, tracks = station_queue(station_code)
        except TrackingRefused as refusal:
            raise Refused(refusal) from None
        return Response(
            {
                "station": {"code": station.code, "name": station.name},
                "queue": [
                    {
                        "sn": track.unit.sn,
                        "runNo": track.unit.run.run_no if track.unit.run else None,
                        "woNo": (track.unit.run.wo_no or None) if track.unit.run else None,
                        "status": track.unit.status,
                        "currentStepNo": track.unit.current_step_no,
                        "trackId": str(track.pk),
                        "inAt": utc_text(track.in_at),
                    }
                    for track in tracks
                ],
            }
        )


class DataSpecsView(APIView):
    """What to collect from a unit at its current step."""

    permission_classes = [StationPermission]

    @extend_schema(**schema.DATA_SPECS)
    def get(self, request, station_code, sn):
        try:
            found = specs_to_collect(station_code, sn)
        except TrackingRefused as refusal:
            raise Refused(refusal) from None
        step = found.step
        return Response(
            {
                "sn": found.unit.sn,
                "stepNo": step.step_no if step else None,
                "operationCode": step.operation.code if step else None,
                "operationName": step.operation.name if step else None,
                "specs": [
                    {
                        "id": str(spec.pk),
                        "name": spec.name,
                        "itemType": spec.item_type,
                        "dataType": spec.data_type,
                        "method": spec.method,
                        "isRequired": spec.is_required,
                        "spec": spec.spec,
                        "alarm": spec.alarm,
                    }
                    for spec in found.specs
                ],
            }
        )
