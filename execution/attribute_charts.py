"""Attribute data for SPC (docs/quality.md "Attribute charts"): a spec's values as a p, np,
c or u chart, and the Pareto of failed passes' defect codes, read from the database with
bounded queries; drawn by execution/attribute_chart_svg.py, computed by execution/spc/
(attributes.py, pareto.py).

Defectives (p, np) are the spec's judged values: each value judged PASS or FAIL is one
item inspected (an AOI or SPI verdict per board). A p chart's sample is every judged
value of one time slot (an hour, a shift of 8 hours, a day, counted from midnight UTC);
an np chart's, n consecutive judged values, so that every sample has the same size.

Defects (c, u) are counts: a NUMBER spec whose every value is the number of defects
found on one board (an AOI's defect count, a placement machine's pick-up errors per
board). A c chart has a point per value (one board, one inspection unit); a u chart
sums the counts of a time slot and divides by the boards counted in it.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from execution.models import DataSpec, DataValue, PassResult, Track
from execution.spc import (
    AttributeChart,
    NoChart,
    ParetoRow,
    c_chart,
    np_chart,
    p_chart,
    pareto,
    time_slot,
    u_chart,
)

SLOTS = {60: "hour", 480: "shift (8 h)", 1440: "day"}
DEFAULT_SLOT = 60
# The newest values a chart reads: a bounded read whatever the spec's history.
P_CHART_VALUES = 20_000
# Points on a chart: the newest slots, samples or boards.
P_CHART_SLOTS = 30
NP_SAMPLE_SIZES = range(2, 1001)
DEFAULT_NP_SAMPLE = 50


@dataclass(frozen=True)
class AttributeSeries:
    """A spec's p, np, c or u chart: each point's time (its slot's start, or its sample's
    or board's last value) and the chart, or why there is none."""

    spec: DataSpec
    kind: str  # "p", "np", "c" or "u"
    starts: list[datetime]
    chart: AttributeChart | NoChart
    slot_minutes: int | None = None  # p and u: the slot
    sample_size: int | None = None  # np: n


# Kept for the p chart's callers: a p chart is an AttributeSeries of kind "p".
PChart = AttributeSeries


def _judged(spec: DataSpec):
    """The spec's newest judged values, newest first: (collected_at, judge)."""
    return (
        DataValue.objects.filter(spec=spec)
        .exclude(judge=DataValue.Judge.NA)
        .order_by("-collected_at", "-id")
        .values_list("collected_at", "judge")[:P_CHART_VALUES]
    )


def p_chart_of(spec: DataSpec, slot_minutes: int = DEFAULT_SLOT) -> AttributeSeries:
    """The fraction of `spec`'s values judged FAIL in each of its newest P_CHART_SLOTS
    slots (values judged NA do not count: they were not inspected against a limit)."""
    inspected, failed = Counter(), Counter()
    for collected_at, judge in _judged(spec):
        slot = time_slot(collected_at, slot_minutes)
        inspected[slot] += 1
        failed[slot] += judge == DataValue.Judge.FAIL
    starts = sorted(inspected)[-P_CHART_SLOTS:]
    chart = p_chart([failed[start] for start in starts], [inspected[start] for start in starts])
    return AttributeSeries(spec, "p", starts, chart, slot_minutes=slot_minutes)


def np_chart_of(spec: DataSpec, sample_size: int = DEFAULT_NP_SAMPLE) -> AttributeSeries:
    """The number of `spec`'s values judged FAIL in each sample of `sample_size` consecutive
    judged values (the newest P_CHART_SLOTS samples, counted from the oldest value read; a
    last sample still filling waits)."""
    rows = list(_judged(spec))[::-1]
    whole = len(rows) - len(rows) % sample_size
    samples = [rows[start : start + sample_size] for start in range(0, whole, sample_size)]
    samples = samples[-P_CHART_SLOTS:]
    failed = [sum(judge == DataValue.Judge.FAIL for _, judge in sample) for sample in samples]
    chart = np_chart(failed, sample_size)
    starts = [sample[-1][0] for sample in samples]
    return AttributeSeries(spec, "np", starts, chart, sample_size=sample_size)


def _counts(spec: DataSpec) -> list[tuple[datetime, float, int]] | NoChart:
    """The spec's newest values as defect counts, oldest first: (collected_at, count, id)."""
    if spec.data_type != DataSpec.DataType.NUMBER:
        return NoChart("c and u charts need a NUMBER spec whose values are defect counts")
    rows = list(
        DataValue.objects.filter(spec=spec, value_number__isnull=False)
        .order_by("-collected_at", "-id")
        .values_list("collected_at", "value_number", "id")[:P_CHART_VALUES]
    )[::-1]
    for _collected_at, number, value_id in rows:
        if number < 0 or not float(number).is_integer():
            return NoChart(
                f"value {value_id} is {number:g}: c and u charts need counts "
                "(whole numbers of 0 or more)"
            )
    return rows


def c_chart_of(spec: DataSpec) -> AttributeSeries:
    """The defect count of each of the spec's newest P_CHART_SLOTS values (one board each)."""
    rows = _counts(spec)
    if isinstance(rows, NoChart):
        return AttributeSeries(spec, "c", [], rows)
    rows = rows[-P_CHART_SLOTS:]
    chart = c_chart([int(number) for _, number, _ in rows])
    return AttributeSeries(spec, "c", [collected_at for collected_at, _, _ in rows], chart)


def u_chart_of(spec: DataSpec, slot_minutes: int = DEFAULT_SLOT) -> AttributeSeries:
    """Defects per board in each of the newest P_CHART_SLOTS slots: the slot's counts
    summed, divided by the number of boards (values) in it."""
    rows = _counts(spec)
    if isinstance(rows, NoChart):
        return AttributeSeries(spec, "u", [], rows, slot_minutes=slot_minutes)
    defects, boards = Counter(), Counter()
    for collected_at, number, _ in rows:
        slot = time_slot(collected_at, slot_minutes)
        defects[slot] += int(number)
        boards[slot] += 1
    starts = sorted(boards)[-P_CHART_SLOTS:]
    chart = u_chart([defects[start] for start in starts], [boards[start] for start in starts])
    return AttributeSeries(spec, "u", starts, chart, slot_minutes=slot_minutes)


@dataclass(frozen=True)
class DefectPareto:
    rows: list[ParetoRow]
    failed_passes: int
    since: datetime | None
    station_code: str


def defect_pareto(since: datetime | None = None, station_code: str = "") -> DefectPareto:
    """Failed passes by defect code, most first, since `since` and at one station if
    given: one grouped query."""
    tracks = Track.objects.filter(result=PassResult.FAIL)
    if since is not None:
        tracks = tracks.filter(out_at__gte=since)
    if station_code:
        tracks = tracks.filter(station__code=station_code)
    counts = {
        row["defect_code"] or "(none)": row["count"]
        for row in tracks.values("defect_code").annotate(count=Count("id"))
    }
    return DefectPareto(pareto(counts), sum(counts.values()), since, station_code)
