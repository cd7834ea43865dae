"""The ingestion's refusals and failures, as the API answers them (docs/api.md)."""

from execution.resolution import ResolutionError
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.api.exceptions import DATABASE_RETRY_AFTER_SECONDS, ApiError
from mes.database_errors import (
    Cause,
)


class EventRefused(ApiError):
    """A well-formed event that cannot be written yet; kept as a FAILED message (422)."""

    def __init__(self, refusal: ResolutionError, message: IntegrationMessage):
        details = {"messageId": str(message.pk)}
        if refusal.items:
            details["items"] = [
                {"index": item.index, "code": item.code, "message": item.message}
                for item in refusal.items
            ]
        super().__init__(refusal.code, refusal.message, 422, details)
        self.refusal = refusal
        self.failed_message = message


class EventIdConflict(ApiError):
    """The eventId was written before with a different event (409)."""

    CODE = "EVENT_ID_CONFLICT"

    def __init__(self, record: DeviceDataRecord, message: IntegrationMessage):
        super().__init__(
            self.CODE,
            f"eventId {record.event_id!r} was already received with a different payload "
            f"(record {record.pk}); send a new eventId for a new event.",
            409,
            {"messageId": str(message.pk), "recordId": str(record.pk)},
        )
        self.record = record
        self.conflict_message = message


class EventNotWritten(ApiError):
    """The database could not take this event now (503, with Retry-After).

    The message says what is known: nothing of the event was written, or, when
    the connection was lost during the commit, that it may have been. Either
    way a re-send with the same eventId is safe.
    """

    CODE = "SERVICE_UNAVAILABLE"
    retry_after = DATABASE_RETRY_AFTER_SECONDS

    def __init__(self, cause: Cause, *, maybe_written: bool = False):
        if maybe_written:
            what = (
                "The database connection was lost while this event was being committed: "
                "it may or may not have been written. Send it again with the same eventId: "
                "if it was written, the answer is its duplicate."
            )
        else:
            what = f"Nothing of this event was written ({_WHY[cause]}); send it again."
        written = "unknown" if maybe_written else "nothing"
        super().__init__(self.CODE, what, 503, {"cause": cause.value, "written": written})
        self.cause = cause


_WHY = {
    Cause.LOCK_TIMEOUT: "a row it needs stayed locked by another session past the lock timeout",
    Cause.STATEMENT_TIMEOUT: "the database took longer than the statement timeout",
    Cause.CANCELED: "the database canceled its statement",
    Cause.TRANSACTION_CONFLICT: "the database chose it to give way to another transaction",
    Cause.STALE_STATEMENT: "the database schema changed while it was written",
    Cause.CONNECTION_LOST: "the database connection was lost before the commit",
    Cause.OUT_OF_TIME: "the database was too slow to take the rest of the list in time",
    Cause.OUT_OF_RESOURCES: "the database is out of disk space, memory or connections",
    Cause.SCHEMA_BEHIND: "the database lacks a table or column of this version: "
    "a migration is being applied or undone",
}


class EventWriteError(ApiError):
    """An unexpected database error for this event alone (500); logged, nothing written."""

    def __init__(self):
        super().__init__(
            "INTERNAL_ERROR",
            "An unexpected database error; it has been logged. Nothing of this event was written.",
            500,
        )


class EventFailedUnexpectedly(ApiError):
    """The service failed on this event (a bug, or master data the rules cannot use);
    rolled back, logged with its traceback, kept as a FAILED message when it could be (500)."""

    def __init__(self, message: IntegrationMessage | None, written=None):
        if written is not None:
            what = f"The event was written before (record {written.pk}); this re-send failed."
        elif message is not None:
            what = (
                "Nothing of this event was written. It is kept as FAILED message "
                f"{message.pk}: replay it once the cause is fixed."
            )
        else:
            what = "Nothing of this event was written; send it again once the cause is fixed."
        details = {}
        if message is not None:
            details["messageId"] = str(message.pk)
        if written is not None:
            details["recordId"] = str(written.pk)
        super().__init__(
            "INTERNAL_ERROR",
            f"An unexpected error; it has been logged. {what}",
            500,
            details or None,
        )
        self.failed_message = message


class MessageNotReplayable(Exception):
    """Only FAILED messages can be replayed."""
