"""Pieces every JSON API view shares: body checks and envelope answers for unknown URLs."""

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from mes.api.exceptions import PayloadTooLarge, error_body

BODY_METHODS = {"POST", "PUT", "PATCH"}


class JsonBodyMixin:
    """Refuses, before parsing, a body that is not JSON (415) or too large (413).

    DRF alone would read a body without a Content-Type as empty; docs/api.md wants a 415.
    """

    max_body_bytes: int | None = None
    json_depth_offset = 0

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in BODY_METHODS or not hasattr(self, request.method.lower()):
            return  # no body to read (a method the view lacks is a 405, not a 415)
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type != "application/json":
            raise exceptions.UnsupportedMediaType(
                content_type or "(none)",
                detail=f"Content-Type must be application/json, not {content_type or 'missing'}.",
            )
        limit = self.max_body_bytes
        length = (request.META.get("CONTENT_LENGTH") or "").strip()
        declared = int(length) if length.isascii() and length.isdigit() else 0
        if limit and declared > limit:
            raise PayloadTooLarge(limit)
        if declared == 0:
            # Under WSGI, Django reads no further than Content-Length: without a
            # valid one (a chunked body) the body would be read as empty.
            if request.META.get("HTTP_TRANSFER_ENCODING") or length not in ("", "0"):
                raise exceptions.ParseError(
                    "Request body needs a valid Content-Length (chunked bodies are not read)."
                )
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
