"""A window's X̄-R or X̄-S chart as server-rendered SVG: the X̄ panel over the R or S panel.

The subgroups and their limits come from execution/spc_subgroup_analysis.py. Subgroups
are equally spaced in order, as the I-MR chart's points are (execution/spc_svg.py); a
subgroup's time is that of its last value. Limits that differ between subgroups (sizes
unequal) are drawn as steps. A mean completing one of the spec's Nelson rules is ringed
with the rule's number; a range or standard deviation beyond its limits is ringed "1".
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString

from execution.charts import format_number
from execution.models import DataValue
from execution.spc_subgroup_analysis import SubgroupAnalysis
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

WIDTH, HEIGHT = 860, 500
LEFT, RIGHT = 64, 130
MEANS_TOP, MEANS_HEIGHT = 28, 250
SPREADS_TOP, SPREADS_HEIGHT = 316, 130
AXIS_Y = SPREADS_TOP + SPREADS_HEIGHT
PLOT_WIDTH = WIDTH - LEFT - RIGHT
POINT_COLOUR = "#37474f"


def _pauses(groups: list[list[DataValue]]) -> tuple[list[tuple[int, timedelta]], dict]:
    """Breaks between subgroups (before subgroup k), and pauses inside a subgroup by subgroup."""
    times, group_of, starts = [], [], set()
    for number, group in enumerate(groups):
        starts.add(len(times))
        times += [value.collected_at for value in group]
        group_of += [number] * len(group)
    between, inside = [], {}
    for index in gaps(times):
        pause = times[index] - times[index - 1]
        if index in starts:
            between.append((group_of[index], pause))
        else:
            inside[group_of[index]] = pause
    return between, inside


def _by_size(label: str, values: list[float], sizes: list[int]) -> str:
    seen = {}
    for size, value in zip(sizes, values, strict=True):
        seen.setdefault(size, value)
    return f"{label} by subgroup size: " + ", ".join(
        f"n = {size}: {format_number(value)}" for size, value in sorted(seen.items())
    )


def _limits(svg, panel, lines: list[tuple[str, list[float], str]], sizes: list[int]) -> None:
    """Each limit as a line when it is the same for every subgroup, else as steps."""
    flat = [
        LimitLine(label, values[0], kind) for label, values, kind in lines if len(set(values)) == 1
    ]
    svg.limit_lines(panel, flat)
    for label, values, kind in lines:
        if len(set(values)) > 1:
            svg.limit_steps(panel, label, values, kind, _by_size(label, values, sizes))


def subgroup_chart_svg(subgrouped: SubgroupAnalysis) -> SafeString:
    """The X̄ panel over the R or S panel, each with its centre line and limits."""
    chart, groups = subgrouped.chart, subgrouped.groups
    count = len(groups)
    svg = ObservationSvg(count, left=LEFT, plot_width=PLOT_WIDTH)
    between, inside = _pauses(groups)
    symbol = subgrouped.spread_symbol

    centre = [chart.grand_mean] * count
    mean_lines = [
        ("UCL", chart.mean_ucl, "control"),
        ("μ" if subgrouped.frozen else "X̿", centre, "centre"),
        ("LCL", chart.mean_lcl, "control"),
    ]
    low, high = padded(chart.means + chart.mean_ucl + chart.mean_lcl)
    means = Panel(MEANS_TOP, MEANS_HEIGHT, low, high)
    sizes = chart.sizes
    size_text = f"n = {sizes[0]}" if subgrouped.subgrouping.equal_sizes else "n varies"
    frozen_text = ", frozen limits" if subgrouped.frozen else ""
    svg.frame(means, "means", f"Subgroup means ({size_text}{frozen_text})")
    _limits(svg, means, mean_lines, sizes)
    mean_rules = defaultdict(list)
    for violation in subgrouped.violations.means:
        mean_rules[violation.index].append(violation.rule.value)
    _draw(svg, means, chart.means, _Marks("mean", "X̄", mean_rules), subgrouped, inside, between)
    svg.add("</g>")

    spread_centres = [chart.spread_centre(index) for index in range(count)]
    spread_lines = [
        ("UCL", chart.spread_ucl, "control"),
        (f"{symbol}̄" if not subgrouped.frozen else f"{symbol} centre", spread_centres, "centre"),
        ("LCL", chart.spread_lcl, "control"),
    ]
    top = max(chart.spreads + chart.spread_ucl) * 1.08 or 1.0
    spreads = Panel(SPREADS_TOP, SPREADS_HEIGHT, 0.0, top)
    svg.frame(spreads, "spreads", f"{subgrouped.spread_name} ({symbol})")
    _limits(svg, spreads, spread_lines, sizes)
    spread_rules = {index: [1] for index in subgrouped.violations.spreads_beyond}
    marks = _Marks("spread", symbol, spread_rules)
    _draw(svg, spreads, chart.spreads, marks, subgrouped, inside, between)
    svg.add("</g>")

    svg.break_lines([means, spreads], between)
    ends = [group[-1].collected_at for group in groups]
    svg.time_axis(ends, AXIS_Y)
    description = subgrouped.subgrouping.description
    caption = axis_caption(count, "subgroups", groups[0][0].collected_at, ends[-1])
    svg.add(
        f'<text class="mes-axis-caption" x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{AXIS_Y + 44}" '
        f'text-anchor="middle" fill="#666">{escape(caption)}; time of each last value</text>'
    )
    return svg.render(
        width=WIDTH,
        height=HEIGHT,
        aria_label=f"{subgrouped.title} chart of {count} subgroups, {description}",
        kind=subgrouped.kind,
    )


@dataclass(frozen=True)
class _Marks:
    """Which panel's points these are, their symbol on hover, and the rules each breaks."""

    name: str  # "mean" or "spread"
    symbol: str
    rules: dict[int, list[int]]


def _draw(
    svg: ObservationSvg,
    panel: Panel,
    numbers: list[float],
    marks: _Marks,
    subgrouped: SubgroupAnalysis,
    inside: dict[int, timedelta],
    between: list[tuple[int, timedelta]],
) -> None:
    """The panel's trace and points (hover: the subgroup's values and times), rules ringed."""
    groups = subgrouped.groups
    points = [(svg.x_at(index), panel.y_at(number)) for index, number in enumerate(numbers)]
    svg.path(points, {index for index, _ in between})
    start = 1
    for index, ((x, y), number) in enumerate(zip(points, numbers, strict=True)):
        group = groups[index]
        first, last = local(group[0].collected_at), local(group[-1].collected_at)
        which = (
            f"values #{start}–#{start + len(group) - 1}"
            if subgrouped.subgrouping.consecutive
            else f"{len(group)} values"
        )
        start += len(group)
        tip = (
            f"subgroup {index + 1}: {which}, "
            f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} — "
            f"{marks.symbol} {format_number(number)}"
        )
        if index in inside:
            tip += f"; spans a pause of {pause_text(inside[index])}"
        classes = f"mes-subgroup-point mes-subgroup-{marks.name}"
        rules = sorted(marks.rules.get(index, ()))
        if rules:
            classes += " mes-violation"
            if rules == [1]:
                tip += "; beyond its control limit (rule 1)"
            else:
                tip += f"; Nelson rule {','.join(str(rule) for rule in rules)}"
            svg.ring(x, y, ",".join(str(rule) for rule in rules))
        svg.add(
            f'<circle class="{classes}" data-index="{index}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
            f'fill="{POINT_COLOUR}"><title>{escape(tip)}</title></circle>'
        )
