"""Retention of the message log: what may go, and removing it without holding up ingestion.

Records and values are the quality record and stay. Of the messages, two kinds
lose their use with age: DUPLICATE attempts (the record keeps their number,
`duplicate_count`, and the time of the last) and FAILED attempts that were
resolved (their event was written since). Those older than the retention age
are deleted in small batches, each its own short transaction with bounded
lock and statement timeouts, so ingestion never waits long behind it. The
messages of a replay chain (a FAILED message that was replayed, and each
replay) are kept: the chain is evidence. Unresolved FAILED messages, CONFLICTs and SUCCESS
messages are never deleted here. docs/growth.md (retention) has the schedule.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import OperationalError
from django.db.models import Q

from integration.models import IntegrationMessage
from mes.database_errors import bounded_transaction

Status = IntegrationMessage.Status
logger = logging.getLogger("integration.retention")
LOCK_TIMEOUT_MS = 500
STATEMENT_TIMEOUT_MS = 10_000


@dataclass
class Pruned:
    duplicates: int = 0
    resolved_failures: int = 0
    batches: int = 0
    finished: bool = True


def prunable_messages(cutoff: datetime):
    """DUPLICATE messages created, and resolved FAILED ones resolved, before `cutoff`;
    never a message of a replay chain (replayed, or a replay itself)."""
    return (
        IntegrationMessage.objects.filter(
            Q(status=Status.DUPLICATE, created_at__lt=cutoff)
            | Q(status=Status.FAILED, created_at__lt=cutoff, resolved_at__lt=cutoff)
        )
        .exclude(replays__isnull=False)
        .exclude(replay_of__isnull=False)
    )


def prune_messages(
    cutoff: datetime,
    *,
    batch_size: int = 1000,
    pause_seconds: float = 0.05,
    max_seconds: float | None = None,
) -> Pruned:
    """Delete the prunable messages older than `cutoff`, `batch_size` at a time.

    Stops when none are left, after `max_seconds`, or when the database gives up on a
    batch (a lock or statement timeout): then `finished` is False and the next run goes
    on. Each batch starts where the last one ended, so the old messages that stay
    (unresolved FAILED ones) are read once per run, not once per batch.
    """
    pruned = Pruned()
    started = time.monotonic()
    for status, counter in ((Status.DUPLICATE, "duplicates"), (Status.FAILED, "resolved_failures")):
        after = None  # (created_at, id) of the last message looked at
        while True:
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                pruned.finished = False
                return pruned
            try:
                after, deleted = _prune_batch(cutoff, status, after, batch_size)
            except OperationalError as error:
                logger.warning("Pruning stopped, to go on next run: %s", error)
                pruned.finished = False
                return pruned
            if after is None:
                break
            setattr(pruned, counter, getattr(pruned, counter) + deleted)
            pruned.batches += 1
            time.sleep(pause_seconds)
    return pruned


def _prune_batch(cutoff, status, after, batch_size) -> tuple[tuple | None, int]:
    """One batch in its own short transaction: (where it ended or None, deleted)."""
    candidates = IntegrationMessage.objects.filter(status=status, created_at__lt=cutoff)
    if after is not None:
        moment, pk = after
        candidates = candidates.filter(
            Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk), created_at__gte=moment
        )
    with bounded_transaction(
        lock_timeout_ms=LOCK_TIMEOUT_MS, statement_timeout_ms=STATEMENT_TIMEOUT_MS
    ):
        # Oldest first, along the (status, created_at) index.
        looked_at = list(
            candidates.order_by("created_at", "id").values_list("created_at", "pk")[:batch_size]
        )
        if not looked_at:
            return None, 0
        # Of those, the prunable ones; a row someone holds locked is left for the next run.
        keys = list(
            prunable_messages(cutoff)
            .filter(pk__in=[pk for _moment, pk in looked_at])
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        if keys:
            IntegrationMessage.objects.filter(pk__in=keys).delete()
    return looked_at[-1], len(keys)
