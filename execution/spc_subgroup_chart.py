"""A window's X̄-R or X̄-S chart: subgroups of n consecutive values, drawn as server-rendered SVG.

The window's values (oldest first) are cut into subgroups of `size` consecutive
values (a last, unfinished subgroup waits) and charted with the limits of the
execution/spc/ package: the X̄ panel (x̿ and its limits) over the R or S panel.
Subgroups are equally spaced in order, as the I-MR chart's points are
(execution/spc_svg.py); a subgroup's time is that of its last value. Rule 1 is
marked on both panels (a mean or a spread beyond its limits).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString

from execution.charts import format_number
from execution.models import DataValue
from execution.spc import (
    NoChart,
    SubgroupChart,
    SubgroupViolations,
    subgroup_violations,
    subgroups_of,
    xbar_r_chart,
    xbar_s_chart,
)
from execution.spc_svg import (
    LimitLine,
    ObservationSvg,
    Panel,
    axis_caption,
    gaps,
    local,
    padded,
    pause_text,
)
from execution.spc_window import WindowAnalysis

WIDTH, HEIGHT = 860, 500
LEFT, RIGHT = 64, 130
MEANS_TOP, MEANS_HEIGHT = 28, 250
SPREADS_TOP, SPREADS_HEIGHT = 316, 130
AXIS_Y = SPREADS_TOP + SPREADS_HEIGHT
PLOT_WIDTH = WIDTH - LEFT - RIGHT

# chart parameter → (title, spread chart's name, limits function)
SUBGROUP_CHARTS = {
    "xbar-r": ("X̄-R", "Range", xbar_r_chart),
    "xbar-s": ("X̄-S", "Standard deviation", xbar_s_chart),
}
MARKED_RULES = (1,)
POINT_COLOUR = "#37474f"


@dataclass(frozen=True)
class SubgroupAnalysis:
    """A window cut into subgroups, their chart's limits and the points beyond them."""

    kind: str  # a key of SUBGROUP_CHARTS
    size: int
    groups: list[list[DataValue]]
    chart: SubgroupChart
    violations: SubgroupViolations

    @property
    def title(self) -> str:
        return SUBGROUP_CHARTS[self.kind][0]

    @property
    def spread_symbol(self) -> str:
        return self.chart.kind  # "R" or "S"


def subgroup_analysis(result: WindowAnalysis, kind: str, size: int) -> SubgroupAnalysis | NoChart:
    """The window's X̄-R or X̄-S chart with subgroups of `size`, or a NoChart saying why not."""
    title, _, limits_of = SUBGROUP_CHARTS[kind]
    numbers = result.analysis.values
    chart = limits_of(subgroups_of(numbers, size))
    if not chart.known:
        return NoChart(
            f"The {title} chart needs at least 2 subgroups of {size} consecutive values, "
            f"{2 * size} values; this window holds {len(numbers)} ({chart.missing})."
        )
    whole = len(chart.sizes) * size
    values = result.values[:whole]
    groups = [values[start : start + size] for start in range(0, whole, size)]
    return SubgroupAnalysis(
        kind, size, groups, chart, subgroup_violations(chart, rules=MARKED_RULES)
    )


def _pauses(groups: list[list[DataValue]]) -> tuple[list[tuple[int, timedelta]], dict]:
    """Breaks between subgroups (before subgroup k), and pauses inside a subgroup by subgroup."""
    size = len(groups[0])
    times = [value.collected_at for group in groups for value in group]
    between, inside = [], {}
    for index in gaps(times):
        pause = times[index] - times[index - 1]
        if index % size == 0:
            between.append((index // size, pause))
        else:
            inside[index // size] = pause
    return between, inside


def subgroup_chart_svg(subgrouped: SubgroupAnalysis) -> SafeString:
    """The X̄ panel over the R or S panel, each with its centre line and limits."""
    chart, groups = subgrouped.chart, subgrouped.groups
    count = len(groups)
    svg = ObservationSvg(count, left=LEFT, plot_width=PLOT_WIDTH)
    between, inside = _pauses(groups)
    symbol = subgrouped.spread_symbol
    spread_name = SUBGROUP_CHARTS[subgrouped.kind][1]

    mean_lines = [
        LimitLine("UCL", chart.mean_ucl[0], "control"),
        LimitLine("X̿", chart.grand_mean, "centre"),
        LimitLine("LCL", chart.mean_lcl[0], "control"),
    ]
    low, high = padded(chart.means + [line.value for line in mean_lines])
    means = Panel(MEANS_TOP, MEANS_HEIGHT, low, high)
    svg.frame(means, "means", f"Subgroup means (n = {subgrouped.size})")
    svg.limit_lines(means, mean_lines)
    mean_beyond = {violation.index for violation in subgrouped.violations.means}
    _draw(svg, means, chart.means, _Marks("mean", "X̄", mean_beyond), groups, inside, between)
    svg.add("</g>")

    spread_lines = [
        LimitLine("UCL", chart.spread_ucl[0], "control"),
        LimitLine(f"{symbol}̄", chart.spread_mean, "centre"),
        LimitLine("LCL", chart.spread_lcl[0], "control"),
    ]
    top = max(chart.spreads + [chart.spread_ucl[0]]) * 1.08 or 1.0
    spreads = Panel(SPREADS_TOP, SPREADS_HEIGHT, 0.0, top)
    svg.frame(spreads, "spreads", f"{spread_name} ({symbol})")
    svg.limit_lines(spreads, spread_lines)
    spread_beyond = set(subgrouped.violations.spreads_beyond)
    _draw(
        svg,
        spreads,
        chart.spreads,
        _Marks("spread", symbol, spread_beyond),
        groups,
        inside,
        between,
    )
    svg.add("</g>")

    svg.break_lines([means, spreads], between)
    ends = [group[-1].collected_at for group in groups]
    svg.time_axis(ends, AXIS_Y)
    start = groups[0][0].collected_at
    caption = axis_caption(count, f"subgroups of {subgrouped.size}", start, ends[-1])
    svg.add(
        f'<text class="mes-axis-caption" x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{AXIS_Y + 44}" '
        f'text-anchor="middle" fill="#666">{escape(caption)}; time of each last value</text>'
    )
    return svg.render(
        width=WIDTH,
        height=HEIGHT,
        aria_label=f"{subgrouped.title} chart of {count} subgroups of {subgrouped.size}",
        kind=subgrouped.kind,
    )


@dataclass(frozen=True)
class _Marks:
    """Which panel's points these are, their symbol on hover, and those beyond their limits."""

    name: str  # "mean" or "spread"
    symbol: str
    beyond: set[int]


def _draw(
    svg: ObservationSvg,
    panel: Panel,
    numbers: list[float],
    marks: _Marks,
    groups: list[list[DataValue]],
    inside: dict[int, timedelta],
    between: list[tuple[int, timedelta]],
) -> None:
    """The panel's trace and points (hover: the subgroup's values and times), rule 1 ringed."""
    points = [(svg.x_at(index), panel.y_at(number)) for index, number in enumerate(numbers)]
    svg.path(points, {index for index, _ in between})
    for index, ((x, y), number) in enumerate(zip(points, numbers, strict=True)):
        group = groups[index]
        first, last = local(group[0].collected_at), local(group[-1].collected_at)
        start = sum(len(earlier) for earlier in groups[:index]) + 1
        tip = (
            f"subgroup {index + 1}: values #{start}–#{start + len(group) - 1}, "
            f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} — "
            f"{marks.symbol} {format_number(number)}"
        )
        if index in inside:
            tip += f"; spans a pause of {pause_text(inside[index])}"
        classes = f"mes-subgroup-point mes-subgroup-{marks.name}"
        if index in marks.beyond:
            classes += " mes-violation"
            tip += "; beyond its control limit (rule 1)"
            svg.ring(x, y, "1")
        svg.add(
            f'<circle class="{classes}" data-index="{index}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
            f'fill="{POINT_COLOUR}"><title>{escape(tip)}</title></circle>'
        )
