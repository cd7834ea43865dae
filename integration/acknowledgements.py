"""Acknowledging what needs attention: a CONFLICT, or a FAILED message that will not be replayed.

What needs attention is defined here once (the dashboard's figures, the lists
behind them and the metrics' gauges use these querysets), and
`acknowledge_messages` is the one path that takes a message off it: with who,
when and why, kept on the message. Acknowledging changes no received data and
does not stop a later write of the same event from resolving a FAILED message
(docs/operations.md: acknowledging).
"""

from dataclasses import dataclass, field

from django.utils import timezone

from integration.models import IntegrationMessage
from mes.database_errors import bounded_transaction

ACKNOWLEDGE_PERMISSION = "integration.acknowledge_message"
# A person is waiting: a row locked by an ingestion write is waited for briefly, then
# the database error reaches the caller, who says "try again".
LOCK_TIMEOUT_MS = 2_000
STATEMENT_TIMEOUT_MS = 10_000
NOTE_MAX_LENGTH = 2_000

Status = IntegrationMessage.Status


class NoteRequired(ValueError):
    """An acknowledgement says why: an empty note is refused."""


def failures_needing_attention():
    """FAILED messages whose event is not written yet and that nobody acknowledged."""
    return IntegrationMessage.objects.filter(
        status=Status.FAILED, resolved_at__isnull=True, acknowledged_at__isnull=True
    )


def conflicts_needing_attention():
    """CONFLICTs nobody acknowledged."""
    return IntegrationMessage.objects.filter(status=Status.CONFLICT, acknowledged_at__isnull=True)


def is_acknowledgeable(message: IntegrationMessage) -> bool:
    """A CONFLICT, or a FAILED message whose event has not been written since."""
    if message.status == Status.CONFLICT:
        return True
    return message.status == Status.FAILED and message.resolved_at is None


@dataclass
class AcknowledgementOutcome:
    """What became of each message asked for, in primary-key order."""

    acknowledged: list[IntegrationMessage] = field(default_factory=list)
    # Acknowledged before: left as they were (who, when and why of the first time).
    already_acknowledged: list[IntegrationMessage] = field(default_factory=list)
    # Neither a CONFLICT nor an unresolved FAILED message: nothing to acknowledge.
    refused: list[IntegrationMessage] = field(default_factory=list)


def acknowledge_messages(messages, *, by, note: str) -> AcknowledgementOutcome:
    """Acknowledge each CONFLICT or unresolved FAILED message of `messages` (instances or
    primary keys), as `by`, with `note`.

    Each message is judged on its own, under its row lock (a resend may resolve a
    FAILED message meanwhile): acknowledged, already acknowledged (unchanged), or
    refused. Raises NoteRequired for a blank note, and the database's error if a
    row stays locked longer than LOCK_TIMEOUT_MS (nothing is then written). The
    caller checks the permission (ACKNOWLEDGE_PERMISSION).
    """
    note = (note or "").strip()
    if not note:
        raise NoteRequired("Say why these messages need no more attention.")
    if len(note) > NOTE_MAX_LENGTH:
        raise NoteRequired(f"A note has at most {NOTE_MAX_LENGTH} characters.")
    keys = sorted({getattr(message, "pk", message) for message in messages})
    outcome = AcknowledgementOutcome()
    with bounded_transaction(
        lock_timeout_ms=LOCK_TIMEOUT_MS, statement_timeout_ms=STATEMENT_TIMEOUT_MS
    ):
        # Locked in key order, so two people acknowledging overlapping sets never deadlock.
        locked = IntegrationMessage.objects.select_for_update().filter(pk__in=keys).order_by("pk")
        now = timezone.now()
        for message in locked:
            if message.acknowledged_at is not None:
                outcome.already_acknowledged.append(message)
            elif not is_acknowledgeable(message):
                outcome.refused.append(message)
            else:
                message.acknowledged_at, message.acknowledged_by = now, by
                message.acknowledgement_note = note
                message.updated_at = now  # bulk_update leaves auto_now fields alone
                outcome.acknowledged.append(message)
        IntegrationMessage.objects.bulk_update(
            outcome.acknowledged,
            ["acknowledged_at", "acknowledged_by", "acknowledgement_note", "updated_at"],
        )
    return outcome
