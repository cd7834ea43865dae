"""Pieces every JSON API view shares: body checks and envelope answers for unknown URLs."""

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from mes.api.exceptions import PayloadTooLarge, error_body

BODY_METHODS = {"POST", "PUT", "PATCH"}


class JsonBodyMixin:
    """Refuses, before parsing, a body that is not JSON (415) or too large (413).

    DRF alone would read a body without a Content-Type as empty; API.md wants a 415.
    """

    max_body_bytes: int | None = None
    json_depth_offset = 0

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in BODY_METHODS:
            return
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type != "application/json":
            raise exceptions.UnsupportedMediaType(
                content_type or "(none)",
                detail=f"Content-Type must be application/json, not {content_type or 'missing'}.",
            )
        limit = self.max_body_bytes
        length = request.META.get("CONTENT_LENGTH") or "0"
        if limit and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(limit)
        if length == "0" and not request.META.get("HTTP_TRANSFER_ENCODING"):
            raise exceptions.ParseError("Request body is empty: send a JSON object.")


class ApiRootNotFound(APIView):
    """Any unknown URL under /api/ answers 404 in the envelope, never an HTML page."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def dispatch(self, request, *args, **kwargs):
        return JsonResponse(
            error_body("NOT_FOUND", f"No API endpoint at {request.path}."), status=404
        )
