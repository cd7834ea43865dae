"""The ingestion service's public face: `receive_device_event(s)` and
`replay_failed_message`. REST, MQTT, CFX, the admin's replay and the demo all call
these; nothing else writes device data. Single posts arriving together share one
commit (ingestion/group_commit.py).
"""

from django.db import connection

from integration.ingestion.attempt import Attempt, IngestionOutcome
from integration.ingestion.errors import MessageNotReplayable
from integration.ingestion.group_commit import GroupCommit
from integration.ingestion.retries import write_well_formed
from integration.ingestion.rules import shaped_attempts
from integration.models import IntegrationMessage
from mes.metrics import count_events
from mes.request_log import note_events


def receive_device_event(
    payload, *, sent_by, record_sender=None, replay_of: IntegrationMessage | None = None
) -> IngestionOutcome:
    """Apply every ingestion rule to one device event and write it exactly once.

    `payload` is the event as received (parsed JSON). `sent_by` is who made
    this attempt (a gateway, a person, or the admin replaying); the record
    names `record_sender` when given (the original gateway on a replay).

    Returns the outcome for a new or duplicate event. Raises ValidationError
    (malformed, nothing stored), EventIdConflict (409), EventRefused (422,
    kept as a FAILED message) or EventNotWritten (503: the database could not
    take it now).
    """
    # Grouped only for callers in autocommit outside any transaction: a group is
    # committed by whichever request writes it, so no caller's rollback may reach it.
    if (
        record_sender is None
        and replay_of is None
        and not connection.in_atomic_block
        and connection.get_autocommit()
    ):
        attempt = group_commit.receive(payload, sent_by)
    else:
        (attempt,) = _receive_list([payload], sent_by, record_sender, replay_of)
    observe([attempt])
    if attempt.error is not None:
        raise attempt.error
    return attempt.outcome


def receive_device_events(
    payloads: list, *, sent_by, record_sender=None, replay_of=None
) -> list[Attempt]:
    """Apply the ingestion rules to each event of a list, in order, each on its own.

    One event's refusal never affects another: each Attempt carries its own
    status (CREATED, DUPLICATE, CONFLICT, FAILED) and error. An event repeating
    an earlier event's eventId in the list is answered as its duplicate or
    conflict, as if the two had been posted one after the other. `sent_by` is
    one sender for the whole list, or a list of one per event.

    The list is written in one transaction. If the database fails it (a lock
    or statement timeout, a race for an eventId, a deadlock, a schema change,
    a lost connection), nothing of it was written, and each event is taken
    again in a transaction of its own, so one event's trouble stays its own;
    an event the database still cannot take is FAILED with EventNotWritten.
    """
    return observe(_receive_list(payloads, sent_by, record_sender, replay_of))


def _receive_list(payloads: list, sent_by, record_sender, replay_of) -> list[Attempt]:
    attempts = shaped_attempts(payloads, sent_by)
    write_well_formed(
        [attempt for attempt in attempts if attempt.event is not None], record_sender, replay_of
    )
    return attempts


def observe(attempts: list[Attempt]) -> list[Attempt]:
    """Count the attempts' results (mes/metrics.py) and name them in the request's log
    line (mes/request_log.py): each event once, whichever path wrote it."""
    count_events(attempts)
    note_events(attempts)
    return attempts


def _receive_group(payloads: list, senders: list) -> list[Attempt]:
    """A group commit's write: the events of concurrent requests in one transaction.
    If the database fails a group of several events, the error is raised for each
    request to take its own event again alone; a group of one is answered as alone."""
    attempts = shaped_attempts(payloads, senders)
    well_formed = [attempt for attempt in attempts if attempt.event is not None]
    write_well_formed(well_formed, None, None, alone_elsewhere=True)
    return attempts


def _receive_one(payload, sent_by) -> Attempt:
    (attempt,) = _receive_list([payload], sent_by, None, None)  # observed by the caller
    return attempt


def replay_failed_message(message: IntegrationMessage, *, replayed_by) -> IngestionOutcome:
    """Send a FAILED message's stored payload through the ingestion rules again.

    The new attempt's message points back with `replay_of` and names the
    person replaying; the record, when written, keeps the original sender.
    An event already written answers as a duplicate.
    """
    if message.status != IntegrationMessage.Status.FAILED:
        raise MessageNotReplayable(f"Message {message.pk} is {message.status}, not FAILED.")
    return receive_device_event(
        message.full_payload, sent_by=replayed_by, record_sender=message.sent_by, replay_of=message
    )


# One per process: the threads of a gunicorn worker share it (docs/ingestion.md).
group_commit = GroupCommit(_receive_group, _receive_one)
