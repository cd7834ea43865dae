"""Group commit: single events posted at the same moment to one process share one transaction.

A request that finds nobody writing takes every event queued so far (its own
included) and writes them as one list, where each is still judged and answered
on its own. When it is done it wakes their requests and hands the events queued
meanwhile, as the next group, to the first of their requests. A request alone
is written alone and at once; under load, concurrent requests share the reads,
the inserts and the commit instead of queueing for the database one by one
(bench/ingest.py measures it). One writer per process: measured with two,
throughput fell and latency at half load did not improve.

Failure semantics (tests/integration/ingestion/test_group_commit.py, tests/bench/test_faults.py):

- A group is written in one transaction with bounded waits (a short lock
  timeout, a statement timeout; `integration.ingestion.receive_together`).
  If the database fails it before the commit, nothing of it was written, and
  each request takes its own event again, alone, in its own thread and on its
  own connection: one event's lock wait, timeout, lost race, deadlock or
  stale prepared statement is answered to that event's request only.
- If the commit itself fails (the connection is lost during it), every event
  of the group may or may not have been written; each request answers so
  (503), and a re-send with the same eventId is safe.
- A request waits for its group at most `INGEST_GROUP_WAIT_MS`. If no writer
  has taken its event by then (the group ahead of it is stuck), it takes the
  event out of the queue and writes it alone. An event already taken into a
  group waits for that group, which its own timeouts bound.
- Anything else the service raises for a group of several (a bug, or master data
  it cannot judge) rolled the group back too: each request takes its own event
  again alone, so only the event that fails again answers 500. What is not an
  Exception (KeyboardInterrupt, SystemExit) is raised to every request.
- Only callers in autocommit mode outside any transaction are grouped
  (`receive_device_event`): a group is committed by whichever request writes it.
"""

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError

from mes.metrics import GROUP_SIZE

logger = logging.getLogger("integration.ingestion")


class _Ticket:
    """One request's event waiting for a writer."""

    def __init__(self, payload, sent_by):
        self.payload, self.sent_by = payload, sent_by
        self.attempt = None
        self.error: BaseException | None = None
        self.group: list[_Ticket] | None = None  # handed to this request to write
        self.alone = False  # to be written by its own request, alone
        self.woken = threading.Event()


class GroupCommit:
    """The queue of one process's concurrent single events and its one writer.

    `receive_group(payloads, senders)` writes a list and returns its attempts,
    raising DatabaseError when the database failed it before the commit;
    `receive_alone(payload, sender)` writes one event in a transaction of its own.
    """

    MAX_GROUP = 100

    def __init__(self, receive_group: Callable, receive_alone: Callable):
        self._receive_group = receive_group
        self._receive_alone = receive_alone
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._writing = False

    def receive(self, payload, sent_by):
        """Write one request's event with whatever else is queued; returns its attempt."""
        ticket = _Ticket(payload, sent_by)
        with self._lock:
            self._queue.append(ticket)
            if not self._writing:
                self._writing = True
                ticket.group = self._take()
        if ticket.group is None and not ticket.woken.wait(settings.INGEST_GROUP_WAIT_MS / 1000):
            with self._lock:
                if ticket.group is None and ticket in self._queue:
                    self._queue.remove(ticket)
                    ticket.alone = True
            if not ticket.alone:
                ticket.woken.wait()  # taken into a group: its timeouts bound the wait
        if ticket.group is not None:
            self._write(ticket.group)
        if ticket.alone:
            return self._receive_alone(payload, sent_by)
        if ticket.error is not None:
            raise ticket.error
        return ticket.attempt

    def _take(self) -> list[_Ticket]:
        group = self._queue[: self.MAX_GROUP]
        del self._queue[: self.MAX_GROUP]
        return group

    def _write(self, group: list[_Ticket]) -> None:
        if settings.METRICS_ENABLED:
            GROUP_SIZE.observe(len(group))
        try:
            attempts = self._receive_group(
                [ticket.payload for ticket in group], [ticket.sent_by for ticket in group]
            )
            for ticket, attempt in zip(group, attempts, strict=True):
                attempt.index = 0  # each request sent a list of one
                ticket.attempt = attempt
        except DatabaseError:  # nothing of the group was written: each event alone
            for ticket in group:
                ticket.alone = True
        except Exception as error:  # rolled back too: a bug stays with its own event
            if len(group) > 1:  # logged: a bug of lists alone would be seen nowhere else
                logger.warning("A group of %d events failed; each again alone", len(group),
                               exc_info=True)  # fmt: skip
            for ticket in group:
                if len(group) > 1:
                    ticket.alone = True
                else:
                    ticket.error = error
        except BaseException as error:
            for ticket in group:
                ticket.error = error
        finally:
            with self._lock:
                following = self._take()
                if following:
                    following[0].group = following
                else:
                    self._writing = False
            for ticket in group:
                ticket.group = None
                ticket.woken.set()
            if following:
                following[0].woken.set()
