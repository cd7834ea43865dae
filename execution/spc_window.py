"""Reads one NUMBER spec's window of values from the database and analyses it (execution/spc/).

A window is the newest N values of the spec (N one of WINDOW_SIZES), optionally
within a collection-time range and at one station or one piece of equipment
(meta["equipmentId"]). Values are read through the (spec, collected_at) index,
newest first, and returned oldest first. A station or equipment filter looks
only among the spec's newest FILTER_SCAN_LIMIT values in the time range, so a
station or machine that measured none of them costs a bounded read, not a scan
of the spec's whole history (docs/quality.md, docs/growth.md).
"""

from dataclasses import dataclass, field
from datetime import datetime

from execution.models import DataSpec, DataValue, SpcExclusion, SpcSettings, Station
from execution.spc import DEFAULT_RULES, Analysis, analyse

WINDOW_SIZES = (50, 100, 500)
DEFAULT_WINDOW_SIZE = 100
FILTER_SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class Window:
    """Which of a spec's values to analyse."""

    size: int = DEFAULT_WINDOW_SIZE
    start: datetime | None = None  # collected at or after
    end: datetime | None = None  # collected at or before
    station: Station | None = None
    equipment_id: str = ""

    @property
    def filtered(self) -> bool:
        return self.station is not None or bool(self.equipment_id)


@dataclass(frozen=True)
class SpecLimits:
    """The spec's current limits, those the chart and the capability figures use."""

    lsl: float | None = None
    usl: float | None = None
    target: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class WindowAnalysis:
    """A window's values (oldest first), the spec limits and the SPC figures."""

    window: Window
    values: list[DataValue]
    limits: SpecLimits
    analysis: Analysis
    more_in_range: bool  # the range or filter held more values than the window takes
    # Values of the window left out of the figures (docs/quality.md), oldest first.
    excluded: list[DataValue] = field(default_factory=list)
    settings: SpcSettings | None = None

    @property
    def rules(self) -> list[int]:
        return rules_of(self.settings)


def _number(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def spec_limits(spec: DataSpec) -> SpecLimits:
    """LSL, USL and target from the spec's `spec` JSON as it is now."""
    limits = spec.spec if isinstance(spec.spec, dict) else {}
    return SpecLimits(
        lsl=_number(limits.get("min")),
        usl=_number(limits.get("max")),
        target=_number(limits.get("target")),
        unit=str(limits.get("unit") or ""),
    )


def window_values(spec: DataSpec, window: Window) -> tuple[list[DataValue], bool]:
    """The window's values oldest first, and whether more matched than the window holds."""
    values = DataValue.objects.filter(spec=spec, value_number__isnull=False)
    if window.start is not None:
        values = values.filter(collected_at__gte=window.start)
    if window.end is not None:
        values = values.filter(collected_at__lte=window.end)
    if window.filtered:
        newest = values.order_by("-collected_at", "-id").values("pk")[:FILTER_SCAN_LIMIT]
        values = DataValue.objects.filter(pk__in=newest)
        if window.station is not None:
            values = values.filter(station=window.station)
        if window.equipment_id:
            values = values.filter(meta__equipmentId=window.equipment_id)
    rows = list(
        values.order_by("-collected_at", "-id").only(
            "id",
            "collected_at",
            "value_number",
            "judge",
            "alarmed",
            "station_id",
            "spec_id",
            # What the X̄ charts may subgroup by (execution/spc_subgrouping.py).
            "carrier_track_id",
            "source_ref",
        )[: window.size + 1]
    )
    more = len(rows) > window.size
    rows = rows[: window.size]
    rows.reverse()
    return rows, more


def rules_of(settings: SpcSettings | None) -> list[int]:
    """The Nelson rules a spec tests: its choice, or rules 1-4."""
    if settings is None or not settings.rules:
        return sorted(DEFAULT_RULES)
    return sorted(settings.rules)


def analyse_window(spec: DataSpec, window: Window | None = None) -> WindowAnalysis:
    """Read the spec's window and compute its I-MR limits, capability and rule violations,
    with the spec's SPC decisions: its rules, its frozen limits, its values left out."""
    window = window or Window()
    values, more = window_values(spec, window)
    limits = spec_limits(spec)
    settings = SpcSettings.objects.filter(spec=spec).first()
    excluded_ids = set(
        SpcExclusion.objects.filter(value_id__in=[value.pk for value in values]).values_list(
            "value_id", flat=True
        )
    )
    kept = [value for value in values if value.pk not in excluded_ids]
    frozen = (
        (settings.frozen_mean, settings.frozen_mr_mean)
        if settings is not None and settings.is_frozen
        else None
    )
    analysis = analyse(
        [value.value_number for value in kept],
        limits.lsl,
        limits.usl,
        target=limits.target,
        rules=rules_of(settings),
        frozen=frozen,
    )
    excluded = [value for value in values if value.pk in excluded_ids]
    return WindowAnalysis(window, kept, limits, analysis, more, excluded, settings)
