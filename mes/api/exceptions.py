"""The API's error envelope: every error under /api/ is rendered here.

`{"ok": false, "error": {"code", "message", "details"}}` with the status codes
of docs/api.md. Services raise typed errors; this handler turns them into answers.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("mes.api")

DATABASE_RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """An error with an API code, an HTTP status and optional details."""

    def __init__(self, code: str, message: str, status_code: int, details: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details


class PayloadTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(
            "PAYLOAD_TOO_LARGE",
            f"Request body is larger than the limit of {limit} bytes.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


CODE_BY_EXCEPTION = (
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "NOT_AUTHENTICATED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "THROTTLED"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.ValidationError, "VALIDATION_ERROR"),
)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"ok": False, "error": error}


def first_error_message(detail) -> str:
    """The first readable message in a DRF error detail, prefixed with its field path."""
    path = []
    while isinstance(detail, dict | list) and detail:
        if isinstance(detail, dict):
            key = next(iter(detail))
            if key != "non_field_errors":
                path.append(str(key))
            detail = detail[key]
        else:
            index = next((i for i, item in enumerate(detail) if item), 0)
            if isinstance(detail[index], dict | list):
                path.append(f"[{index}]")
            detail = detail[index]
    text = str(detail)
    where = ".".join(path).replace(".[", "[")
    return f"{where}: {text}" if where else text


def envelope_exception_handler(exc, context):
    """Render any exception raised in an API view as the error envelope."""
    headers = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, exceptions.APIException):
        code = next((code for kind, code in CODE_BY_EXCEPTION if isinstance(exc, kind)), None)
        code = code or str(getattr(exc, "default_code", "error")).upper()
        if isinstance(exc, exceptions.ValidationError):
            details = exc.detail if isinstance(exc.detail, dict) else {"errors": exc.detail}
            response = Response(
                error_body(code, first_error_message(exc.detail), details), status=exc.status_code
            )
        else:
            response = Response(error_body(code, str(exc.detail)), status=exc.status_code)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1 if exc.wait % 1 else int(exc.wait))
    elif isinstance(exc, OperationalError | InterfaceError) or _is_connection_error(exc):
        logger.warning("Database unavailable: %s", exc)
        response = Response(
            # Ingestion answers its own 503s, saying what was written; what reaches
            # here failed before any write (authentication, a read, a session).
            error_body("SERVICE_UNAVAILABLE", "The database is unavailable; retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    else:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        response = Response(
            error_body("INTERNAL_ERROR", "An unexpected error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    for name, value in headers.items():
        response[name] = value
    return response


def _is_connection_error(exc) -> bool:
    return isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
