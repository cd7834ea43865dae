"""A broker consumer's counts, logged as one line a minute and on SIGUSR1 (docs/mqtt.md,
docs/cfx.md); the CFX consumer adds its own (transports/cfx/stats.py)."""

import threading
import time
from collections import Counter


class ConsumerStats:
    """Messages received, acknowledged and answered (by status) since the start, the
    connections lost (by reason), and the lag: how many received messages wait for their
    acknowledgement and for how long."""

    def __init__(self):
        self._lock = threading.Lock()
        self.received = 0
        self.acknowledged = 0
        self.answered: Counter = Counter()
        self.outages = 0
        self.disconnects: Counter = Counter()  # connections the broker or network ended, by why
        self.groups = 0  # calls of the ingestion service: messages ÷ groups is the grouping
        self._waiting: dict[int, float] = {}  # id(message) → received at (monotonic)

    def note_received(self, message) -> None:
        with self._lock:
            self.received += 1
            self._waiting[id(message)] = message.received_at

    def note_group(self) -> None:
        with self._lock:
            self.groups += 1

    def note_disconnect(self, reason: str) -> None:
        with self._lock:
            self.disconnects[reason] += 1

    def note_answered(self, status: int) -> None:
        with self._lock:
            self.answered[status] += 1

    def note_acknowledged(self, message) -> None:
        with self._lock:
            self.acknowledged += 1
            self._waiting.pop(id(message), None)

    def note_dropped(self, messages) -> None:
        """Messages left unacknowledged on purpose: the broker delivers them again."""
        with self._lock:
            for message in messages:
                self._waiting.pop(id(message), None)

    def _lag(self) -> tuple[int, float]:
        """How many received messages wait for their acknowledgement, and the oldest's wait
        (under the lock)."""
        oldest = min(self._waiting.values(), default=None)
        return len(self._waiting), 0.0 if oldest is None else time.monotonic() - oldest

    def line(self) -> str:
        """The observability line: counts since the start and the current lag."""
        with self._lock:
            waiting, lag = self._lag()
            answered = ", ".join(f"{s}: {n}" for s, n in sorted(self.answered.items()))
            disconnects = ", ".join(f"{r}: {n}" for r, n in sorted(self.disconnects.items()))
            return (
                f"received {self.received}, acknowledged {self.acknowledged}, "
                f"answered {{{answered}}} in {self.groups} groups, waiting {waiting}, "
                f"lag {lag:.3f}s, "
                f"database outages {self.outages}, disconnects {{{disconnects}}}"
            )
