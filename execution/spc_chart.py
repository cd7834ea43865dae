"""Server-rendered SVG of a spec's I-MR chart: individuals and moving ranges on a time axis.

No JavaScript, nothing from a CDN: the spec's admin page embeds the SVG as it is.
Points sit at their collection time, so a pause in production is a gap (shaded,
and the line is not drawn across it). The individuals panel draws the control
limits (UCL, X̄, LCL) and the spec's current limits (LSL, USL, target), each
labelled; the moving-range panel draws MR̄ and its UCL. Points are coloured by the
judgement stored with them (nothing is judged again) and points completing a
Nelson rule are ringed and numbered. The figures come from execution/spc.py.
"""

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.charts import format_number, nice_ticks
from execution.models import DataValue
from execution.spc_window import WindowAnalysis

WIDTH, HEIGHT = 860, 500
LEFT, RIGHT = 64, 130
INDIVIDUALS_TOP, INDIVIDUALS_HEIGHT = 28, 250
MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT = 316, 130
AXIS_Y = MOVING_RANGE_TOP + MOVING_RANGE_HEIGHT
PLOT_WIDTH = WIDTH - LEFT - RIGHT
LABEL_SPACING = 12  # px between limit labels, so close limits stay readable

# A pause longer than this many typical intervals between values is drawn as a gap.
GAP_FACTOR = 5

POINT_COLOURS = {
    DataValue.Judge.PASS: "#2e7d32",
    DataValue.Judge.FAIL: "#c62828",
    DataValue.Judge.NA: "#607d8b",
}
LINE_STYLES = {
    # kind: (colour, dash pattern)
    "control": ("#1565c0", "6 3"),
    "centre": ("#1565c0", ""),
    "spec": ("#c62828", ""),
    "target": ("#2e7d32", "2 4"),
}
VIOLATION_COLOUR = "#d81b60"


@dataclass(frozen=True)
class LimitLine:
    label: str
    value: float
    kind: str  # a key of LINE_STYLES


@dataclass(frozen=True)
class Panel:
    """One plot area: its vertical extent and the value range it shows."""

    top: float
    height: float
    low: float
    high: float

    def y_at(self, number: float) -> float:
        return self.top + self.height * (self.high - number) / (self.high - self.low)


def individuals_lines(result: WindowAnalysis) -> list[LimitLine]:
    """Control limits of the window and the spec's limits, as labelled horizontal lines."""
    lines = []
    if (limits := result.analysis.limits) is not None:
        lines += [
            LimitLine("UCL", limits.ucl, "control"),
            LimitLine("X̄", limits.mean, "centre"),
            LimitLine("LCL", limits.lcl, "control"),
        ]
    spec = result.limits
    for label, value, kind in (
        ("USL", spec.usl, "spec"),
        ("LSL", spec.lsl, "spec"),
        ("target", spec.target, "target"),
    ):
        if value is not None:
            lines.append(LimitLine(label, value, kind))
    return lines


def _padded(numbers: list[float]) -> tuple[float, float]:
    low, high = min(numbers), max(numbers)
    padding = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    return low - padding, high + padding


def gaps(times: list[datetime]) -> list[int]:
    """Indexes i where the pause before value i is a gap (GAP_FACTOR × the median pause)."""
    pauses = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    positive = [pause for pause in pauses if pause > 0]
    if len(positive) < 2:
        return []
    typical = statistics.median(positive)
    return [index + 1 for index, pause in enumerate(pauses) if pause > GAP_FACTOR * typical]


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts)


class _Svg:
    """Collects the chart's SVG elements."""

    def __init__(self, times: list[datetime]):
        self.parts: list[str] = []
        self.first, self.last = times[0], times[-1]
        self.span = (self.last - self.first).total_seconds()

    def x_at(self, moment: datetime) -> float:
        if self.span <= 0:
            return LEFT + PLOT_WIDTH / 2
        return LEFT + PLOT_WIDTH * (moment - self.first).total_seconds() / self.span

    def add(self, element: str) -> None:
        self.parts.append(element)

    def frame(self, panel: Panel, name: str, title: str) -> None:
        self.add(
            f'<g class="mes-panel mes-panel-{name}"><rect x="{LEFT}" y="{panel.top}" '
            f'width="{PLOT_WIDTH}" height="{panel.height}" fill="none" stroke="#bbb"/>'
            f'<text x="{LEFT}" y="{panel.top - 8}" fill="#333" font-weight="bold">'
            f"{escape(title)}</text>"
        )
        for tick in nice_ticks(panel.low, panel.high):
            y = panel.y_at(tick)
            self.add(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_WIDTH}" y2="{y:.1f}" '
                'stroke="#eee" stroke-width="0.5"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
                f"{format_number(tick)}</text>"
            )

    def limit_lines(self, panel: Panel, lines: list[LimitLine]) -> None:
        label_ys = _spread_labels([panel.y_at(line.value) for line in lines])
        for line, label_y in zip(lines, label_ys, strict=True):
            colour, dash = LINE_STYLES[line.kind]
            y = panel.y_at(line.value)
            dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
            text = f"{line.label} {format_number(line.value)}"
            self.add(
                f'<line class="mes-limit mes-limit-{line.kind}" data-limit="{escape(line.label)}" '
                f'x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_WIDTH}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="1.5"{dash_attribute}>'
                f"<title>{escape(text)}</title></line>"
                f'<text class="mes-limit-label" x="{LEFT + PLOT_WIDTH + 6}" '
                f'y="{label_y + 4:.1f}" fill="{colour}">{escape(text)}</text>'
            )

    def shade_gaps(self, panel: Panel, times: list[datetime], gap_starts: list[int]) -> None:
        for index in gap_starts:
            left, right = self.x_at(times[index - 1]), self.x_at(times[index])
            pause = _duration(times[index] - times[index - 1])
            self.add(
                f'<rect class="mes-gap" x="{left + 4:.1f}" y="{panel.top}" '
                f'width="{max(right - left - 8, 1):.1f}" height="{panel.height}" '
                f'fill="#f3f3f3"><title>No values for {pause}</title></rect>'
            )

    def path(self, points: list[tuple[float, float]], breaks: set[int]) -> None:
        """A line through `points`, interrupted before each index in `breaks`."""
        segment: list[tuple[float, float]] = []
        for index, point in enumerate(points):
            if index in breaks and segment:
                self._segment(segment)
                segment = []
            segment.append(point)
        self._segment(segment)

    def _segment(self, segment: list[tuple[float, float]]) -> None:
        if len(segment) > 1:
            coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
            self.add(
                f'<polyline points="{coordinates}" fill="none" stroke="#90a4ae" stroke-width="1"/>'
            )

    def note(self, panel: Panel, text: str) -> None:
        self.add(
            f'<text class="mes-chart-note" x="{LEFT + PLOT_WIDTH / 2:.1f}" '
            f'y="{panel.top + panel.height / 2:.1f}" text-anchor="middle" fill="#555" '
            f'font-size="13">{escape(text)}</text>'
        )


def _spread_labels(ys: list[float]) -> list[float]:
    """Label positions near each line's y, at least LABEL_SPACING apart, in the same order."""
    order = sorted(range(len(ys)), key=lambda index: ys[index])
    placed = list(ys)
    previous = None
    for index in order:
        if previous is not None and placed[index] < previous + LABEL_SPACING:
            placed[index] = previous + LABEL_SPACING
        previous = placed[index]
    return placed


def _time_label(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%m-%d %H:%M}"


def imr_chart_svg(result: WindowAnalysis, *, url_for=None) -> SafeString:
    """The window's I-MR chart as SVG; `url_for(value)` makes each point a link to it."""
    values = result.values
    if not values:
        return mark_safe(
            f'<svg xmlns="http://www.w3.org/2000/svg" class="mes-spc-chart" width="{WIDTH}" '
            'height="60" role="img" aria-label="No values"><text x="10" y="35" '
            'font-size="14">No numeric values collected for this spec in this window.</text></svg>'
        )
    analysis = result.analysis
    times = [value.collected_at for value in values]
    numbers = analysis.values
    svg = _Svg(times)
    breaks = set(gaps(times))

    lines = individuals_lines(result)
    low, high = _padded(numbers + [line.value for line in lines])
    individuals = Panel(INDIVIDUALS_TOP, INDIVIDUALS_HEIGHT, low, high)
    svg.frame(individuals, "individuals", "Individuals")
    svg.shade_gaps(individuals, times, sorted(breaks))
    svg.limit_lines(individuals, lines)
    points = [(svg.x_at(t), individuals.y_at(n)) for t, n in zip(times, numbers, strict=True)]
    svg.path(points, breaks)
    rules_at = defaultdict(list)
    for violation in analysis.violations:
        rules_at[violation.index].append(violation.rule.value)
    for index, (value, (x, y)) in enumerate(zip(values, points, strict=True)):
        svg.add(_point(value, x, y, sorted(set(rules_at.get(index, []))), url_for))
    if analysis.limits is None:
        svg.note(individuals, f"No control limits: {analysis.limits_missing}")
    svg.add("</g>")

    limits = analysis.limits
    if limits is None:
        moving_range = Panel(MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT, 0.0, 1.0)
        svg.frame(moving_range, "moving-range", "Moving range")
        svg.note(moving_range, "Moving ranges need two values.")
    else:
        top = max(limits.moving_ranges + [limits.mr_ucl]) * 1.08 or 1.0
        moving_range = Panel(MOVING_RANGE_TOP, MOVING_RANGE_HEIGHT, 0.0, top)
        svg.frame(moving_range, "moving-range", "Moving range")
        svg.shade_gaps(moving_range, times, sorted(breaks))
        svg.limit_lines(
            moving_range,
            [
                LimitLine("UCL", limits.mr_ucl, "control"),
                LimitLine("MR̄", limits.mr_mean, "centre"),
            ],
        )
        range_points = [
            (svg.x_at(t), moving_range.y_at(r))
            for t, r in zip(times[1:], limits.moving_ranges, strict=True)
        ]
        svg.path(range_points, {index - 1 for index in breaks})
        for (x, y), moving in zip(range_points, limits.moving_ranges, strict=True):
            svg.add(
                f'<circle class="mes-range-point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" '
                f'fill="#546e7a"><title>MR {format_number(moving)}</title></circle>'
            )
    svg.add("</g>")

    tick_count = 4 if svg.span > 0 else 0
    for step in range(tick_count + 1):
        moment = svg.first + (svg.last - svg.first) * step / max(tick_count, 1)
        anchor = "start" if step == 0 else "end" if step == tick_count else "middle"
        svg.add(
            f'<text class="mes-time-tick" x="{svg.x_at(moment):.1f}" y="{AXIS_Y + 16}" '
            f'text-anchor="{anchor}" fill="#666">{_time_label(moment)}</text>'
        )
    zone = timezone.get_current_timezone_name()
    svg.add(
        f'<text x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{AXIS_Y + 36}" text-anchor="middle" '
        f'fill="#666">{len(values)} values by collection time ({escape(zone)}), '
        f"{timezone.localtime(svg.first):%Y-%m-%d %H:%M} to "
        f"{timezone.localtime(svg.last):%Y-%m-%d %H:%M}</text>"
    )
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="mes-spc-chart" '
        f'aria-label="I-MR chart of {len(values)} values" font-family="sans-serif" '
        'font-size="11">'
    )
    return mark_safe(header + "".join(svg.parts) + "</svg>")


def _point(value: DataValue, x: float, y: float, rules: list[int], url_for) -> str:
    colour = POINT_COLOURS.get(value.judge, POINT_COLOURS[DataValue.Judge.NA])
    classes = f"mes-point mes-point-{escape(value.judge)}"
    radius = 4.5 if value.alarmed or value.judge == DataValue.Judge.FAIL else 3
    ring = ' stroke="#ef6c00" stroke-width="2"' if value.alarmed else ""
    tip = (
        f"{timezone.localtime(value.collected_at):%Y-%m-%d %H:%M:%S} — "
        f"{format_number(value.value_number)} "
        f"({value.judge}{', alarmed' if value.alarmed else ''})"
    )
    marker = ""
    if rules:
        classes += " mes-violation"
        numbers = ",".join(str(rule) for rule in rules)
        tip += f"; Nelson rule {numbers}"
        marker = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{VIOLATION_COLOUR}" '
            f'stroke-width="1.5"/><text class="mes-rule-mark" x="{x:.1f}" y="{y - 10:.1f}" '
            f'text-anchor="middle" fill="{VIOLATION_COLOUR}" font-size="10">{numbers}</text>'
        )
    point = (
        f'{marker}<circle class="{classes}" data-value-id="{value.pk}" cx="{x:.1f}" '
        f'cy="{y:.1f}" r="{radius}" fill="{colour}"{ring}><title>{escape(tip)}</title></circle>'
    )
    if url_for is not None:
        point = f'<a href="{escape(url_for(value))}">{point}</a>'
    return point
