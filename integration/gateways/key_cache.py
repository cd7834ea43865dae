"""The gateway key rows this process found lately, each kept for GATEWAY_KEY_CACHE_MS.

Every gateway request needs its key's row (and its user's). Read from the database each
time, that was a round trip per request; kept here, a busy gateway costs each worker one
lookup per GATEWAY_KEY_CACHE_MS (1 s). A row is kept from the moment *before* the query
that read it, so a change committed after that query's snapshot is seen by every lookup
once the time is over: a key revoked or re-keyed, or its gateway deactivated or deleted,
is refused by every worker of every server within GATEWAY_KEY_CACHE_MS (at most 2 s,
mes/settings.py), with no shared cache and nothing to fail (docs/operations.md says why
this was chosen over a version number or LISTEN/NOTIFY, with the figures).

A change made by this process forgets every row at once (and again when its transaction
commits, in case another thread read the old row meanwhile), so the process that revokes
a key refuses it on its next request. Only rows of keys that matched are kept; the
secret is still compared with the row's digest on every request (integration/gateways/
keys.py). What is kept is the row as read, never a model instance: each request builds
its own, so nothing one request sets on its user (Django's permission caches) reaches
another.
"""

import time

from django.conf import settings
from django.db import transaction

# prefix -> (monotonic time the row stops being used, row). Bounded by the number of
# gateways; reads and writes of one key of a dict are atomic, so threads need no lock.
_rows: dict[str, tuple[float, tuple]] = {}
# prefix -> when this process last wrote the key's last use: a kept row still shows the
# time it was read, and would ask for that write again on every request until it is
# read anew (keys.record_gateway_key_use).
_use_written: dict[str, object] = {}


def started() -> float:
    """The moment a lookup starts: give it to `keep` with the row it read."""
    return time.monotonic()


def kept_row(prefix: str) -> tuple | None:
    """The row of `prefix` if it was read within GATEWAY_KEY_CACHE_MS, else None."""
    entry = _rows.get(prefix)
    if entry is None:
        return None
    if time.monotonic() >= entry[0]:
        return None
    return entry[1]


def keep(prefix: str, row: tuple, read_started: float) -> None:
    """Keep a matching key's `row`, read by a query sent after `read_started`."""
    seconds = settings.GATEWAY_KEY_CACHE_MS / 1000
    if seconds > 0:
        _rows[prefix] = (read_started + seconds, row)


def use_written(prefix: str):
    """When this process last wrote the last use of the key of `prefix`, or None."""
    return _use_written.get(prefix)


def note_use_written(prefix: str, when) -> None:
    _use_written[prefix] = when


def forget_all() -> None:
    """Forget every row (and every last use written) now and when the current
    transaction commits: a key or a gateway's account changes (or may have)."""
    _forget()
    transaction.on_commit(_forget)


def _forget() -> None:
    _rows.clear()
    _use_written.clear()
