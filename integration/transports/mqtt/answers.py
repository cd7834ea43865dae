"""The answers the MQTT consumer publishes: the REST endpoint's answer plus its status.

A single event is answered as POST /api/integration/device-data answers it, a
`{"events": [...]}` message as the batch endpoint does; `status` is the HTTP
status REST would have given (docs/mqtt.md).
"""

from dataclasses import dataclass

from rest_framework.exceptions import APIException, ValidationError

from integration.answers import batch_results, error_of, ingestion_answer
from integration.ingestion.attempt import Result
from mes.api.exceptions import error_body, first_error_message


@dataclass
class Answer:
    """One message's answer: its REST status and body."""

    status: int
    body: dict


def _with_status(status: int, body: dict, event_id=None, *, single: bool = True) -> Answer:
    answer = {"status": status}
    if single:
        answer["eventId"] = event_id
    answer.update(body)
    return Answer(status, answer)


def refusal(status: int, code: str, message: str, details=None, *, single=True) -> Answer:
    """An answer for a message refused before the ingestion service saw it."""
    return _with_status(status, error_body(code, message, details), single=single)


def refusal_of(error: APIException, *, single: bool = True) -> Answer:
    """A REST error (a ParseError, a ValidationError, an ApiError) as REST renders it."""
    if isinstance(error, ValidationError):
        detail = error.detail
        details = detail if isinstance(detail, dict) else {"errors": detail}
        body = error_body("VALIDATION_ERROR", first_error_message(detail), details)
    else:
        code = getattr(error, "code", None) or "VALIDATION_ERROR"
        body = error_body(code, getattr(error, "message", None) or str(error.detail))
    return _with_status(error.status_code, body, single=single)


def event_answer(attempt) -> Answer:
    """A single event's answer, as the single endpoint gives it."""
    if attempt.status in (Result.CREATED, Result.DUPLICATE):
        return _with_status(
            200, {"ok": True, "data": ingestion_answer(attempt.outcome)}, attempt.event_id
        )
    if isinstance(attempt.error, ValidationError):
        answer = refusal_of(attempt.error)
        answer.body["eventId"] = attempt.event_id
        return answer
    error = error_of(attempt)
    return _with_status(
        attempt.error.status_code,
        error_body(error["code"], error["message"], error.get("details")),
        attempt.event_id,
    )


def batch_answer(attempts) -> Answer:
    """A `{"events": [...]}` message's answer, as the batch endpoint gives it."""
    return _with_status(200, {"ok": True, "data": batch_results(attempts)}, single=False)
