"""SVG building blocks shared by the SPC charts: panels, limit lines, points in observation order.

Control charts are read in observation order: point i sits at x = i (equal
spacing), whatever its time. Time is given on hover (each point's <title>) and by
axis labels under a few points; a pause longer than GAP_FACTOR typical intervals
is a thin dashed break line labelled with its length, and the line joining the
points is not drawn across it. Used by spc_chart.py (I-MR), spc_subgroup_chart.py
(X̄-R, X̄-S) and, for the styles, spc_histogram.py.
"""

import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.charts import format_number, nice_ticks

LABEL_SPACING = 12  # px between limit labels, so close limits stay readable
# A pause longer than this many typical (median) intervals between values is a break.
GAP_FACTOR = 5
# At most this many time labels under the x axis (about 110 px each on the chart).
TIME_LABELS = 6

LINE_STYLES = {
    # kind: (colour, dash pattern)
    "control": ("#1565c0", "6 3"),
    "centre": ("#1565c0", ""),
    "spec": ("#c62828", ""),
    "target": ("#2e7d32", "2 4"),
}
VIOLATION_COLOUR = "#d81b60"
BREAK_COLOUR = "#8d6e63"
BREAK_LABEL_SPACING = 11  # px: a rotated 9 px label's height, with a little air


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


def padded(numbers: list[float]) -> tuple[float, float]:
    """low … high of `numbers` with a margin, never an empty range."""
    low, high = min(numbers), max(numbers)
    padding = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    return low - padding, high + padding


def gaps(times: list[datetime]) -> list[int]:
    """Indexes i where the pause before value i is a break (GAP_FACTOR × the median pause)."""
    pauses = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    positive = [pause for pause in pauses if pause > 0]
    if len(positive) < 2:
        return []
    typical = statistics.median(positive)
    return [index + 1 for index, pause in enumerate(pauses) if pause > GAP_FACTOR * typical]


def pause_text(delta: timedelta) -> str:
    """A pause's length in its two largest units: "3 h", "4 h 51 min", "316 d 2 h", "12 min"."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min")]
    first = next((index for index, (amount, _) in enumerate(units) if amount), 2)
    shown = [f"{amount} {unit}" for amount, unit in units[first : first + 2] if amount]
    return " ".join(shown) or "0 min"


def time_label_indexes(count: int) -> list[int]:
    """Which of `count` points get a time label: every k-th from the first, at most TIME_LABELS."""
    if count <= 0:
        return []
    step = max(1, math.ceil(count / TIME_LABELS))
    return list(range(0, count, step))


def local(moment: datetime) -> datetime:
    return timezone.localtime(moment)


class ObservationSvg:
    """Collects one chart's SVG elements; x is the observation's index, equally spaced."""

    def __init__(self, count: int, *, left: float, plot_width: float):
        self.parts: list[str] = []
        self.count = count
        self.left = left
        self.plot_width = plot_width

    @property
    def right(self) -> float:
        return self.left + self.plot_width

    def x_at(self, index: float) -> float:
        return self.left + self.plot_width * (index + 0.5) / max(self.count, 1)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def frame(self, panel: Panel, name: str, title: str) -> None:
        """Opens the panel's <g> (close it with add("</g>")): border, title, value ticks."""
        self.add(
            f'<g class="mes-panel mes-panel-{name}"><rect x="{self.left}" y="{panel.top}" '
            f'width="{self.plot_width}" height="{panel.height}" fill="none" stroke="#bbb"/>'
            f'<text x="{self.left}" y="{panel.top - 8}" fill="#333" font-weight="bold">'
            f"{escape(title)}</text>"
        )
        for tick in nice_ticks(panel.low, panel.high):
            y = panel.y_at(tick)
            self.add(
                f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" '
                'stroke="#eee" stroke-width="0.5"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
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
                f'x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="1.5"{dash_attribute}>'
                f"<title>{escape(text)}</title></line>"
                f'<text class="mes-limit-label" x="{self.right + 6}" '
                f'y="{label_y + 4:.1f}" fill="{colour}">{escape(text)}</text>'
            )

    def limit_steps(self, panel: Panel, label: str, values: list[float], kind: str, tip: str):
        """A limit that differs from point to point (subgroups of unequal size): a step
        per point, from halfway to the one before to halfway to the next, labelled with
        the last point's value; `tip` says it on hover."""
        colour, dash = LINE_STYLES[kind]
        points = []
        for index, value in enumerate(values):
            y = panel.y_at(value)
            points += [(self.x_at(index - 0.5), y), (self.x_at(index + 0.5), y)]
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        text = f"{label} {format_number(values[-1])}"
        self.add(
            f'<polyline class="mes-limit mes-limit-{kind} mes-limit-steps" '
            f'data-limit="{escape(label)}" points="{coordinates}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5"{dash_attribute}>'
            f"<title>{escape(tip)}</title></polyline>"
            f'<text class="mes-limit-label" x="{self.right + 6}" '
            f'y="{panel.y_at(values[-1]) + 4:.1f}" fill="{colour}">{escape(text)}</text>'
        )

    def break_lines(self, panels: list[Panel], breaks: list[tuple[int, timedelta]]) -> None:
        """A dashed vertical line before each observation that follows a pause, labelled."""
        top = min(panel.top for panel in panels)
        bottom = max(panel.top + panel.height for panel in panels)
        labelled_at = None
        for index, pause in breaks:
            x = (self.x_at(index - 1) + self.x_at(index)) / 2
            text = f"pause {pause_text(pause)}"
            label = ""
            # Breaks a few px apart would print their labels over each other: the first
            # is labelled, the others keep their length on hover.
            if labelled_at is None or x - labelled_at >= BREAK_LABEL_SPACING:
                labelled_at = x
                label = (
                    f'<text class="mes-break-label" x="{x - 3:.1f}" y="{top + 4}" '
                    f'transform="rotate(-90 {x - 3:.1f} {top + 4})" text-anchor="end" '
                    f'fill="{BREAK_COLOUR}" font-size="9">{escape(text)}</text>'
                )
            self.add(
                f'<g class="mes-break" data-before="{index}"><line x1="{x:.1f}" y1="{top}" '
                f'x2="{x:.1f}" y2="{bottom}" stroke="{BREAK_COLOUR}" stroke-width="1" '
                f'stroke-dasharray="4 3"><title>{escape(text)}</title></line>{label}</g>'
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
                f'<polyline class="mes-trace" points="{coordinates}" fill="none" '
                'stroke="#90a4ae" stroke-width="1"/>'
            )

    def ring(self, x: float, y: float, mark: str) -> None:
        """The ring and the small label of a point that breaks a rule."""
        self.add(
            f'<circle class="mes-ring" cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" '
            f'stroke="{VIOLATION_COLOUR}" stroke-width="1.5"/><text class="mes-rule-mark" '
            f'x="{x:.1f}" y="{y - 10:.1f}" text-anchor="middle" fill="{VIOLATION_COLOUR}" '
            f'font-size="10">{escape(mark)}</text>'
        )

    def note(self, panel: Panel, text: str) -> None:
        self.add(
            f'<text class="mes-chart-note" x="{self.left + self.plot_width / 2:.1f}" '
            f'y="{panel.top + panel.height / 2:.1f}" text-anchor="middle" fill="#555" '
            f'font-size="13">{escape(text)}</text>'
        )

    def time_axis(self, times: list[datetime], y: float) -> None:
        """Time labels under a few observations: the time, and the date when the day changes."""
        previous_day = None
        for index in time_label_indexes(len(times)):
            moment = local(times[index])
            x = self.x_at(index)
            date = f"{moment:%Y-%m-%d}" if moment.date() != previous_day else ""
            previous_day = moment.date()
            self.add(
                f'<g class="mes-time-tick" data-index="{index}">'
                f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x:.1f}" y2="{y + 2}" stroke="#999"/>'
                f'<text class="mes-time-label" x="{x:.1f}" y="{y + 14}" text-anchor="middle" '
                f'fill="#666">{moment:%H:%M}</text>'
                + (
                    f'<text class="mes-date-label" x="{x:.1f}" y="{y + 27}" '
                    f'text-anchor="middle" fill="#666">{date}</text>'
                    if date
                    else ""
                )
                + "</g>"
            )

    def render(self, *, width: int, height: int, aria_label: str, kind: str) -> SafeString:
        header = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" class="mes-spc-chart" '
            f'data-chart="{kind}" aria-label="{escape(aria_label)}" font-family="sans-serif" '
            'font-size="11">'
        )
        return mark_safe(header + "".join(self.parts) + "</svg>")


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


def axis_caption(count: int, noun: str, first: datetime, last: datetime) -> str:
    """The line under the chart: how many points, in what order, from when to when."""
    zone = timezone.get_current_timezone_name()
    return (
        f"{count} {noun} in collection order ({zone}), "
        f"{local(first):%Y-%m-%d %H:%M} to {local(last):%Y-%m-%d %H:%M}"
    )
