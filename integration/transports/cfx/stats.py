"""The CFX consumer's counts, logged as one line a minute and on SIGUSR1 (docs/cfx.md)."""

from collections import Counter

from integration.transports.stats import ConsumerStats


class CfxStats(ConsumerStats):
    """Deliveries received and settled (`acknowledged`) and the lag, as the MQTT consumer
    counts them; envelopes by message type (or why skipped), unit results by ingestion
    result, track-ins and track-outs by what became of them, malformed deliveries, and
    units with no reading collected."""

    def __init__(self):
        super().__init__()
        self.envelopes: Counter = Counter()
        self.events: Counter = Counter()
        self.tracking: Counter = Counter()
        self.malformed = 0
        self.units_without_readings = 0

    def note_outcome(self, outcome) -> None:
        with self._lock:
            self.malformed += outcome.malformed is not None
            self.envelopes.update(outcome.envelopes)
            self.events.update(outcome.events)
            self.tracking.update(outcome.tracking)
            self.units_without_readings += outcome.units_without_readings

    def line(self) -> str:
        with self._lock:
            waiting, lag = self._lag()
            envelopes = ", ".join(
                f"{name.rsplit('.', 1)[-1]}: {n}" for name, n in sorted(self.envelopes.items())
            )
            events = ", ".join(f"{status}: {n}" for status, n in sorted(self.events.items()))
            tracking = ", ".join(f"{what}: {n}" for what, n in sorted(self.tracking.items()))
            return (
                f"received {self.received}, settled {self.acknowledged}, "
                f"envelopes {{{envelopes}}}, unit results {{{events}}}, "
                f"tracking {{{tracking}}}, "
                f"malformed {self.malformed}, units without readings "
                f"{self.units_without_readings}, waiting {waiting}, lag {lag:.3f}s, "
                f"database outages {self.outages}"
            )
