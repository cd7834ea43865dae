"""Retention of the message log: what may go, and removing it without holding up ingestion.

Records and values are the quality record and stay. Of the messages, two kinds
lose their use with age: DUPLICATE attempts (the record keeps their number,
`duplicate_count`, and the time of the last) and FAILED attempts that were
resolved (their event was written since). Those older than the retention age
are deleted in small batches, each its own short transaction with bounded
lock and statement timeouts, so ingestion never waits long behind it. A
FAILED message that was replayed is kept while its replays point at it: the
replay chain is evidence. Unresolved FAILED messages, CONFLICTs and SUCCESS
messages are never deleted here. docs/growth.md (retention) has the schedule.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from integration.models import IntegrationMessage
from mes.database_errors import bounded_transaction

Status = IntegrationMessage.Status
LOCK_TIMEOUT_MS = 500
STATEMENT_TIMEOUT_MS = 10_000


@dataclass
class Pruned:
    duplicates: int = 0
    resolved_failures: int = 0
    batches: int = 0
    finished: bool = True


def prunable_messages(cutoff: datetime):
    """DUPLICATE messages created, and resolved FAILED ones resolved, before `cutoff`."""
    return IntegrationMessage.objects.filter(
        Q(status=Status.DUPLICATE, created_at__lt=cutoff)
        | Q(status=Status.FAILED, created_at__lt=cutoff, resolved_at__lt=cutoff)
    ).exclude(replays__isnull=False)


def prune_messages(
    cutoff: datetime,
    *,
    batch_size: int = 1000,
    pause_seconds: float = 0.05,
    max_seconds: float | None = None,
) -> Pruned:
    """Delete the prunable messages older than `cutoff`, `batch_size` at a time.

    Stops when none are left or after `max_seconds` (then `finished` is False and
    the next run goes on). Between batches it pauses, leaving the database to others.
    """
    pruned = Pruned()
    started = time.monotonic()
    for status, counter in ((Status.DUPLICATE, "duplicates"), (Status.FAILED, "resolved_failures")):
        while True:
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                pruned.finished = False
                return pruned
            with bounded_transaction(
                lock_timeout_ms=LOCK_TIMEOUT_MS, statement_timeout_ms=STATEMENT_TIMEOUT_MS
            ):
                # Oldest first, along the (status, created_at) index; a row someone
                # holds locked is left for the next run instead of waited for.
                keys = list(
                    prunable_messages(cutoff)
                    .filter(status=status)
                    .order_by("created_at", "id")
                    .select_for_update(skip_locked=True, of=("self",))
                    .values_list("pk", flat=True)[:batch_size]
                )
                if keys:
                    IntegrationMessage.objects.filter(pk__in=keys).delete()
            if not keys:
                break
            setattr(pruned, counter, getattr(pruned, counter) + len(keys))
            pruned.batches += 1
            time.sleep(pause_seconds)
    return pruned
