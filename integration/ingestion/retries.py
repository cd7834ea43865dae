"""Failures and retries: a list written together in one bounded transaction; after a
database failure each event alone, after an unexpected one in halves; what the
database could not take is answered 503 and nothing of it is kept (docs/ingestion.md,
"When the database fails").
"""

import logging
import time

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, connection

from integration.ingestion.attempt import Attempt, Result
from integration.ingestion.errors import EventFailedUnexpectedly, EventNotWritten
from integration.ingestion.rules import _new_message, apply_rules, records_by_event_id
from integration.models import IntegrationMessage
from mes.database_errors import (
    WORTH_RETRYING,
    Cause,
    CommitUncertain,
    GaveUp,
    bounded_transaction,
    cause_of,
    make_ready_for_retry,
)
from mes.db import (
    insert_models,
)
from mes.metrics import DATABASE_ERRORS

logger = logging.getLogger("integration.ingestion")


def _met(error: DatabaseError) -> None:
    """A database error on the way: counted by cause, and a lost connection dropped."""
    cause = cause_of(error)
    DATABASE_ERRORS.labels(cause.name.lower()).inc()
    make_ready_for_retry(cause)


def write_well_formed(
    attempts: list[Attempt], record_sender, replay_of, *, alone_elsewhere: bool = False
) -> None:
    """Write well-formed events together; after a database failure, each alone; after
    an unexpected one (a bug, master data the rules cannot use), in halves down to the
    event that fails alone.

    With `alone_elsewhere` (a group commit's list of several events) the failure is
    raised instead, for each request to take its own event again in its own thread.
    """
    try:
        receive_together(attempts, record_sender, replay_of)
    except CommitUncertain as failure:
        DATABASE_ERRORS.labels(Cause.CONNECTION_LOST.name.lower()).inc()
        for attempt in attempts:
            attempt.not_written(failure)
    except DatabaseError as error:
        _met(error)
        if len(attempts) == 1:
            if _worth_retrying(error):
                receive_alone(attempts[0], record_sender, replay_of, tries=1)
            else:
                attempts[0].not_written(error)
        elif alone_elsewhere:
            raise
        else:
            receive_each_alone(attempts, record_sender, replay_of)
    except InterfaceError:
        raise  # the connection is unusable: the caller's outage handling (503) applies
    except Exception:
        # Rolled back like a database failure: one event's trouble stays its own.
        if len(attempts) == 1:
            fail_unexpectedly(attempts[0], replay_of)
        elif alone_elsewhere:
            raise
        else:
            logger.exception("A list of %d events failed; taken again in halves", len(attempts))
            receive_in_halves(attempts, record_sender, replay_of)


def receive_in_halves(attempts: list[Attempt], record_sender, replay_of) -> None:
    """After a list failed unexpectedly: each half together, a half that fails again
    halved in turn, so one bad event of 500 costs about twenty transactions, not 500
    (which the time bound of `receive_each_alone` would cut short under load)."""
    middle = len(attempts) // 2
    for half in (attempts[:middle], attempts[middle:]):
        for attempt in half:
            attempt.start_again()
        write_well_formed(half, record_sender, replay_of)


def receive_together(attempts: list[Attempt], record_sender, replay_of) -> None:
    """Rules 2–9 for well-formed events, in one transaction with bounded waits.

    Raises DatabaseError if the database fails it (nothing written), or
    CommitUncertain if the commit itself failed. A transaction of several events
    gives up on a lock sooner than one of a single event: its events can still
    be taken one by one.
    """
    if not attempts:
        return
    lock_timeout = (
        settings.INGEST_GROUP_LOCK_TIMEOUT_MS
        if len(attempts) > 1
        else settings.INGEST_LOCK_TIMEOUT_MS
    )
    with bounded_transaction(
        lock_timeout_ms=lock_timeout, statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS
    ):
        apply_rules(attempts, record_sender, replay_of)


def _worth_retrying(error: DatabaseError) -> bool:
    cause = cause_of(error)
    if connection.in_atomic_block and (cause is Cause.CONNECTION_LOST or connection.needs_rollback):
        return False  # a caller's transaction that is broken: only the caller can end it
    # A unique eventId another request wrote first: taken again, the event is its duplicate.
    return isinstance(error, IntegrityError) or cause in WORTH_RETRYING


def receive_alone(attempt: Attempt, record_sender, replay_of, tries: int = 2) -> None:
    """One event in a transaction of its own, tried again once where that can help."""
    for _ in range(tries):
        attempt.start_again()
        try:
            receive_together([attempt], record_sender, replay_of)
            return
        except CommitUncertain as failure:
            attempt.not_written(failure)
            return
        except DatabaseError as error:
            last_error = error
            _met(error)
            if not _worth_retrying(error):
                break
        except InterfaceError:
            raise
        except Exception:
            fail_unexpectedly(attempt, replay_of)
            return
    attempt.not_written(last_error)


def fail_unexpectedly(attempt: Attempt, replay_of) -> None:
    """An event the service failed on, not the database (a bug, or master data the rules
    cannot use, such as limits stored as text by an SQL fix); called where the error is
    caught, after the rollback. Logged with its traceback and answered 500; kept as a
    FAILED message (INTERNAL_ERROR), to replay once the cause is fixed, unless its
    eventId is already written (the failure was on a re-send's way)."""
    logger.exception("Event %r failed unexpectedly; nothing of it was written", attempt.event_id)
    attempt.start_again()
    message, written = None, None
    try:
        with bounded_transaction(
            lock_timeout_ms=settings.INGEST_LOCK_TIMEOUT_MS,
            statement_timeout_ms=settings.INGEST_STATEMENT_TIMEOUT_MS,
        ):
            written = records_by_event_id({attempt.event_id}).get(attempt.event_id)
            if written is None:
                message = _new_message(
                    attempt, IntegrationMessage.Status.FAILED, replay_of,
                    error_code="INTERNAL_ERROR",
                    error_message="The service failed on this event: see the log.",
                )  # fmt: skip
                insert_models([message])
    except Exception:
        logger.exception("Event %r could not be kept as a FAILED message", attempt.event_id)
        message = None
    attempt.status, attempt.message = Result.FAILED, message
    attempt.error = EventFailedUnexpectedly(message, written)


def receive_each_alone(attempts: list[Attempt], record_sender, replay_of) -> None:
    """After a list's transaction failed: each event alone, in list order.

    Bounded: once the database cannot be reached, or when the retries have taken
    longer than the statement timeout (a table locked by a migration would make
    every event wait its lock timeout), the events left are answered 503 without
    trying them; nothing of them is written."""
    deadline = time.monotonic() + settings.INGEST_STATEMENT_TIMEOUT_MS / 1000
    given_up = None
    for attempt in attempts:
        if given_up is not None:
            attempt.start_again()
            attempt.not_written(given_up)
            continue
        receive_alone(attempt, record_sender, replay_of)
        error = attempt.error
        if (
            isinstance(error, EventNotWritten)
            and error.cause is Cause.CONNECTION_LOST
            and error.details["written"] == "nothing"
        ):
            given_up = GaveUp(Cause.CONNECTION_LOST)
        elif time.monotonic() > deadline:
            given_up = GaveUp(Cause.OUT_OF_TIME)
