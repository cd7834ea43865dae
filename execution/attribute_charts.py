"""Attribute data for SPC (docs/quality.md "Attribute charts"): a spec's judged values as
a p chart of the fraction judged FAIL per time slot, and the Pareto of failed passes'
defect codes, read from the database with bounded queries; drawn by
execution/attribute_chart_svg.py, computed by execution/spc/ (attributes.py, pareto.py).

A p chart's subgroup is every value of the spec collected in one time slot (an hour, a
shift of 8 hours, a day, counted from midnight UTC): an AOI or SPI verdict per board is
a pass/fail item, and the slot is the production period a quality engineer reviews.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from execution.models import DataSpec, DataValue, PassResult, Track
from execution.spc import AttributeChart, NoChart, ParetoRow, p_chart, pareto, time_slot

SLOTS = {60: "hour", 480: "shift (8 h)", 1440: "day"}
DEFAULT_SLOT = 60
# The newest values a p chart reads: a bounded read whatever the spec's history.
P_CHART_VALUES = 20_000
P_CHART_SLOTS = 30


@dataclass(frozen=True)
class PChart:
    spec: DataSpec
    slot_minutes: int
    starts: list[datetime]  # each subgroup's slot start, oldest first
    chart: AttributeChart | NoChart


def p_chart_of(spec: DataSpec, slot_minutes: int = DEFAULT_SLOT) -> PChart:
    """The fraction of `spec`'s values judged FAIL in each of its newest P_CHART_SLOTS
    slots (values judged NA do not count: they were not inspected against a limit)."""
    rows = (
        DataValue.objects.filter(spec=spec)
        .exclude(judge=DataValue.Judge.NA)
        .order_by("-collected_at", "-id")
        .values_list("collected_at", "judge")[:P_CHART_VALUES]
    )
    inspected, failed = Counter(), Counter()
    for collected_at, judge in rows:
        slot = time_slot(collected_at, slot_minutes)
        inspected[slot] += 1
        failed[slot] += judge == DataValue.Judge.FAIL
    starts = sorted(inspected)[-P_CHART_SLOTS:]
    chart = p_chart([failed[start] for start in starts], [inspected[start] for start in starts])
    return PChart(spec, slot_minutes, starts, chart)


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
