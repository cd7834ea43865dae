"""One log line per answered request, with its request id, and the request metrics.

The request id is the proxy's `X-Request-ID` when it sends a sane one (letters,
digits, `-_.:`, at most 100), else a new one; it is returned in the answer's
`X-Request-ID` and carried by every line logged while the request is answered.
The line names the view, method, path, status, duration, the gateway or person,
and the client's address; a 4xx or 5xx answer names its error code. An ingestion
request adds its events (`note_events`): for one event its eventId, result and
error code; for a batch the count per result and the eventIds and codes of those
not written. Each event is logged once, in its request's line; gunicorn's own
access log stays off (gunicorn.conf.py).

The client's address is the one rule of mes/client_address.py (the peer's, or from a
trusted proxy the address it names), as admin sign-in throttling counts it.
"""

import re
import time
import uuid

import structlog
from django.conf import settings
from django.utils.functional import SimpleLazyObject, empty
from structlog.contextvars import bind_contextvars, clear_contextvars

from mes.api.middleware import CODES
from mes.client_address import client_address
from mes.metrics import REQUESTS, RESPONSES, error_code_of

logger = structlog.get_logger("mes.request")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
LISTED_IN_FULL = 20  # a batch's line names at most this many events that were not written
# HTTP methods named in metrics; any other is "other" (a label per made-up method would
# grow the metrics without bound).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The envelope's code, from the start of the answer: error_body() puts it first, and
# DRF (compact) or Django (spaced) render it there.
ENVELOPE_CODE = re.compile(rb'\{"ok":\s?false,\s?"error":\s?\{"code":\s?"([A-Za-z0-9_]{1,64})"')


def request_id_of(request) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_of(request)
        started = time.perf_counter()
        # A thread answers one request after another: nothing carries over.
        clear_contextvars()
        bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            match = getattr(request, "resolver_match", None)
            view = match.view_name if match and match.view_name else "unmatched"
            method = request.method if request.method in METHODS else "other"
            if settings.METRICS_ENABLED:
                REQUESTS.labels(view, method).observe(seconds)
                RESPONSES.labels(view, method, f"{response.status_code // 100}xx").inc()
            log = logger.error if response.status_code >= 500 else logger.info
            log(
                "request",
                method=method,
                path=request.path[:300],
                view=view,
                status=response.status_code,
                duration_ms=round(seconds * 1000, 1),
                user=user_of(request),
                client_ip=client_address(request),
                **error_code_of_answer(response),
            )
            return response
        finally:
            clear_contextvars()


def error_code_of_answer(response) -> dict:
    """{"error_code": …} for a 4xx or 5xx answer: the code its JSON envelope gives, else
    (a back-office page, a streamed answer) the code the API gives that status; nothing for
    other answers, whose line may carry an event's code (note_events)."""
    status = response.status_code
    if status < 400:
        return {}
    code = None
    if not response.streaming:
        found = ENVELOPE_CODE.match(response.content[:200])
        code = found[1].decode() if found else None
    return {"error_code": code or CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")}


def user_of(request) -> str | None:
    """Who made the request, if already known: looking up a session now could fail (the
    database down) and is not worth a query for a log line."""
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return getattr(user, "username", None) or None


def _shown(event_id) -> str | None:
    """An eventId as logged: a malformed one can be as long as the body."""
    return event_id if event_id is None or len(event_id) <= 200 else event_id[:200] + "…"


def note_events(attempts) -> None:
    """Put a request's events in its log line (integration.ingestion calls it)."""
    if len(attempts) == 1:
        (attempt,) = attempts
        bind_contextvars(
            event_id=_shown(attempt.event_id),
            result=(attempt.status or "FAILED").lower(),
            error_code=error_code_of(attempt.error) or None,
        )
        return
    results: dict[str, int] = {}
    not_written = []
    for attempt in attempts:
        result = (attempt.status or "FAILED").lower()
        results[result] = results.get(result, 0) + 1
        if attempt.error is not None and len(not_written) < LISTED_IN_FULL:
            not_written.append([_shown(attempt.event_id), error_code_of(attempt.error)])
    bind_contextvars(results=results, not_written=not_written)
