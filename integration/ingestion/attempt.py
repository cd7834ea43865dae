"""One event on its way through the rules (`Attempt`), its result, and what an accepted
event produced (`IngestionOutcome`).
"""

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError

from execution.holds import (
    HoldNote,
)
from execution.models import DataValue
from execution.resolution import ResolutionError
from integration.ingestion.errors import EventNotWritten, EventWriteError
from integration.ingestion.event_hash import CURRENT_VERSION, KNOWN_VERSIONS, canonical_event_hash
from integration.models import DeviceDataRecord, IntegrationMessage
from mes.database_errors import (
    PASSING,
    Cause,
    CommitUncertain,
    cause_of,
)

logger = logging.getLogger("integration.ingestion")


@dataclass
class IngestionOutcome:
    """What one accepted attempt produced: the record (new or original) and its values."""

    record: DeviceDataRecord
    values: list[DataValue]
    message: IntegrationMessage
    is_duplicate: bool
    hold: HoldNote | None = None  # the open hold of the event's unit, or the one it caused


class Result:
    """What happened to one event of a list (docs/api.md batch `status`)."""

    CREATED = "CREATED"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"
    FAILED = "FAILED"


@dataclass
class Attempt:
    """One event of a list on its way through the rules."""

    index: int
    payload: object
    sent_by: object = None  # who made this attempt
    event: dict | None = None
    payload_hash: str = ""
    status: str = ""
    error: Exception | None = None
    refusal: ResolutionError | None = None
    track: object = None
    operation: object = None
    items: object = None
    judgements: list = field(default_factory=list)
    record: DeviceDataRecord | None = None
    values: list = field(default_factory=list)
    message: IntegrationMessage | None = None
    hold: HoldNote | None = None

    @property
    def event_id(self) -> str | None:
        if self.event is not None:
            return self.event["event_id"]
        event_id = self.payload.get("eventId") if isinstance(self.payload, dict) else None
        return event_id if isinstance(event_id, str) else None

    def is_same_event_as(self, record: DeviceDataRecord) -> bool:
        """Rule 2: whether this event is the one the record was written from, by the
        hash of the rules the record was hashed with."""
        version = record.payload_hash_version
        if version == CURRENT_VERSION:
            return self.payload_hash == record.payload_hash
        if version not in KNOWN_VERSIONS:  # written by a newer release: cannot tell
            logger.warning("Record %s has hash version %s, unknown here", record.pk, version)
            return False
        return canonical_event_hash(self.event, version) == record.payload_hash

    def start_again(self) -> None:
        """Forget a try that the database rolled back; the validated event stays."""
        fresh = Attempt(self.index, self.payload, self.sent_by, self.event, self.payload_hash)
        self.__dict__.update(fresh.__dict__)

    def not_written(self, error: DatabaseError) -> None:
        """The database could not take the event: it is answered, and nothing of it is kept."""
        maybe_written = isinstance(error, CommitUncertain)
        cause = cause_of(error.error if maybe_written else error)
        self.status, self.record, self.values, self.message = Result.FAILED, None, [], None
        if cause is Cause.SCHEMA_BEHIND:
            logger.warning("Event %r not written: %s", self.event_id, error)
        if maybe_written or cause in PASSING:
            # Said in the request's log line (its error code) and counted by cause.
            self.error = EventNotWritten(cause, maybe_written=maybe_written)
        else:
            logger.error("Event %r not written", self.event_id, exc_info=error)
            self.error = EventWriteError()

    @property
    def outcome(self) -> IngestionOutcome | None:
        if self.status not in (Result.CREATED, Result.DUPLICATE):
            return None
        return IngestionOutcome(
            self.record, self.values, self.message, self.status == Result.DUPLICATE, self.hold
        )
