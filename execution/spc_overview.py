"""The SPC overview (docs/quality.md "The SPC overview"): every active NUMBER spec's
newest window analysed with its decisions (rules, frozen limits, values left out), its
capability, and the rule signals no one has acknowledged yet — "needs attention".

Computed when the page is read, so a signal shows on the first page load after the
value that completes it. Each spec costs a few indexed queries (its window, its
settings, its exclusions and acknowledgements), so the page is bounded by the number of
specs, not of values (docs/quality.md gives the figures).
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef

from execution.models import DataSpec, DataValue, SpcSignalAcknowledgement, Station
from execution.spc import NelsonRule
from execution.spc_window import Window, WindowAnalysis, analyse_window

OVERVIEW_WINDOW = 100


@dataclass(frozen=True)
class Signal:
    """The value completing a rule's pattern on a spec's chart."""

    spec: DataSpec
    value: DataValue
    rule: NelsonRule
    station_code: str


@dataclass
class SpecRow:
    spec: DataSpec
    result: WindowAnalysis
    open_signals: list[Signal] = field(default_factory=list)
    acknowledged: int = 0

    @property
    def rules_firing(self) -> list[int]:
        return sorted({signal.rule.value for signal in self.open_signals})

    @property
    def stations(self) -> list[str]:
        return sorted({signal.station_code for signal in self.open_signals if signal.station_code})


def spc_overview(size: int = OVERVIEW_WINDOW) -> list[SpecRow]:
    """One row per active NUMBER spec that has values, by operation and name."""
    specs = (
        DataSpec.objects.filter(data_type=DataSpec.DataType.NUMBER, is_active=True)
        .filter(Exists(DataValue.objects.filter(spec=OuterRef("pk"))))
        .select_related("operation")
        .order_by("operation__code", "name")
    )
    stations = dict(Station.objects.values_list("pk", "code"))
    rows = []
    for spec in specs:
        result = analyse_window(spec, Window(size=size))
        signals = [
            Signal(
                spec,
                result.values[violation.index],
                violation.rule,
                stations.get(result.values[violation.index].station_id, ""),
            )
            for violation in result.analysis.violations
        ]
        seen = set(
            SpcSignalAcknowledgement.objects.filter(
                value_id__in={signal.value.pk for signal in signals}
            ).values_list("value_id", "rule")
        )
        open_signals = [signal for signal in signals if (signal.value.pk, signal.rule) not in seen]
        rows.append(SpecRow(spec, result, open_signals, len(signals) - len(open_signals)))
    return rows


def needs_attention(rows: list[SpecRow]) -> list[Signal]:
    """Every unacknowledged signal, newest value first."""
    signals = [signal for row in rows for signal in row.open_signals]
    return sorted(
        signals, key=lambda signal: (signal.value.collected_at, signal.value.pk), reverse=True
    )
