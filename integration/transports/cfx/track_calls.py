"""A machine's WorkStarted and WorkCompleted (work.py) through the tracking service
(integration/tracking/machine.py), one unit's call at a time, each counted.

What is settled follows the unit results' rules (docs/cfx.md, "Settling"): a call the
rules refuse is kept as a FAILED message by the service, logged and counted, and the
delivery is settled; a conflicting eventId, a malformed call (a 400) and an unexpected
error (the service's failure on the call is kept FAILED, to replay; an unexpected
database error is logged) are logged and counted and settled too, since a re-delivery
would end the same way. Only a database that cannot take the call now (the service's
503, which a failure it could not keep is too) raises DatabaseUnavailable: nothing of
the group is settled and the broker delivers it again, where exactly-once by eventId
turns what was written into duplicates.
"""

import logging
from collections import Counter

from django.db import DatabaseError, InterfaceError
from rest_framework.exceptions import ValidationError

from execution.models import Source
from integration.ingestion.errors import EventFailedUnexpectedly, EventNotWritten, EventWriteError
from integration.tracking.errors import TrackingCallRefused, TrackingIdConflict
from integration.tracking.machine import receive_machine_call, units_started_in_transaction
from integration.transports.broker import DatabaseUnavailable, database_unavailable
from integration.transports.cfx.work import TRACK_IN, MachineCall, Work

logger = logging.getLogger("integration.cfx")

# What a WorkCompleted that names no units and finds no pass of its transaction open at
# its station is counted as: its WorkStarted was never received or was refused, or it is
# a re-delivery of one whose passes are closed already.
NOTHING_OPEN = "work completed with nothing open"


def write_work(work: Work, sender, counts: Counter) -> None:
    """Write the calls of one WorkStarted or WorkCompleted, counting each in `counts`
    ("track-in CREATED", "track-out FAILED", …). Raises DatabaseUnavailable."""
    calls = work.calls
    completion = work.completion
    if completion is not None:
        try:
            started = units_started_in_transaction(work.station_code, completion.transaction_id)
        except (DatabaseError, InterfaceError) as error:
            raise database_unavailable(error) from error
        calls = completion.calls_for(started)
        if not calls:
            counts[NOTHING_OPEN] += 1
            logger.info(
                "CFX WorkCompleted %s at %s: no pass of transaction %s is open there "
                "(never started, refused at its start, or already completed); nothing written",
                completion.envelope.unique_id,
                work.station_code,
                completion.transaction_id,
            )
            return
    for call in calls:
        counts[f"{_label(call)} {_write_call(call, work.station_code, sender)}"] += 1


def _label(call: MachineCall) -> str:
    return "track-in" if call.kind == TRACK_IN else "track-out"


def _write_call(call: MachineCall, station_code: str, sender) -> str:
    """One unit's call; what became of it: CREATED, DUPLICATE, FAILED (refused and kept),
    CONFLICT, INVALID or ERROR."""
    try:
        outcome = receive_machine_call(
            call.kind, call.payload, station_code=station_code, sent_by=sender, source=Source.AUTO
        )
    except EventNotWritten as error:
        raise DatabaseUnavailable(error.message) from error
    except (DatabaseError, InterfaceError) as error:  # its own lookups, or a lost connection
        raise database_unavailable(error) from error
    except TrackingCallRefused as refused:
        code = refused.refusal.code
        # A sender that may not track refuses every call: the log says how to allow it.
        log = logger.error if code == "PERMISSION_DENIED" else logger.info
        log("CFX %s %s refused: %s %s", _label(call), call.event_id, code, refused.message)
        return "FAILED"
    except TrackingIdConflict as conflict:
        logger.info("CFX %s %s conflicts: %s", _label(call), call.event_id, conflict.message)
        return "CONFLICT"
    except ValidationError as invalid:
        logger.warning("CFX %s %s is malformed: %s", _label(call), call.event_id, invalid.detail)
        return "INVALID"
    except (EventFailedUnexpectedly, EventWriteError):  # logged with its traceback
        logger.warning("CFX %s %s not written: unexpected error", _label(call), call.event_id)
        return "ERROR"
    return "DUPLICATE" if outcome.is_duplicate else "CREATED"
