"""The refusals of track-in and track-out calls, as the API answers them (docs/api.md
"Stations"): the rule's code with its status, and the FAILED message kept."""

from execution.tracking import TrackingRefused
from integration.models import IntegrationMessage, TrackingRecord
from mes.api.exceptions import ApiError

# The status of each code of docs/execution.md; every other refusal is a 422.
STATUS_BY_CODE = {
    "STATION_NOT_FOUND": 404,
    "UNIT_ALREADY_IN_STATION": 409,
    "UNIT_ALREADY_DONE": 409,
    "UNIT_ON_HOLD": 409,
    "UNIT_SCRAPPED": 409,
    "UNIT_FAILED": 409,
    "TRACK_NOT_FOUND": 409,
}


def status_of(code: str) -> int:
    return STATUS_BY_CODE.get(code, 422)


class TrackingCallRefused(ApiError):
    """A well-formed call the rules refuse; kept as a FAILED message (404, 409 or 422)."""

    def __init__(self, refusal: TrackingRefused, message: IntegrationMessage | None):
        details = {}
        if message is not None:
            details["messageId"] = str(message.pk)
        for name, value in refusal.details.items():
            if name == "items":
                value = [
                    {"index": item.index, "code": item.code, "message": item.message}
                    for item in value
                ]
            details[name] = value
        super().__init__(refusal.code, refusal.message, status_of(refusal.code), details)
        self.refusal = refusal
        self.failed_message = message


class TrackingIdConflict(ApiError):
    """The eventId was taken before by another body (409)."""

    CODE = "EVENT_ID_CONFLICT"

    def __init__(self, record: TrackingRecord, message: IntegrationMessage):
        super().__init__(
            self.CODE,
            f"eventId {record.event_id!r} was already received with a different body "
            f"({record.get_kind_display().lower()} of unit {record.unit_sn}); send a new "
            "eventId for a new call.",
            409,
            {"messageId": str(message.pk)},
        )
        self.conflict_message = message
