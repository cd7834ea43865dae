"""Server-rendered SVG trend chart of a NUMBER spec's latest values, limits drawn as lines.

No JavaScript and nothing from a CDN: the admin embeds the SVG as it is. Each
point is coloured by the judgement stored with the value when it was received
(nothing is judged again here); the horizontal lines are the spec's limits as
they are now, so a point judged against older limits may sit on either side.
"""

import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.models import DataValue

LATEST_VALUES = 200

WIDTH, HEIGHT = 820, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 120, 24, 44  # margins around the plot area

POINT_COLOURS = {
    DataValue.Judge.PASS: "#2e7d32",
    DataValue.Judge.FAIL: "#c62828",
    DataValue.Judge.NA: "#607d8b",
}
LINE_STYLES = {
    # kind: (colour, dash pattern)
    "spec": ("#c62828", ""),
    "target": ("#2e7d32", "2 4"),
    "alarm": ("#ef6c00", "8 4"),
}


@dataclass(frozen=True)
class LimitLine:
    label: str
    value: float
    kind: str  # a key of LINE_STYLES


def latest_number_values(spec, limit: int = LATEST_VALUES) -> list[DataValue]:
    """The spec's latest `limit` numeric values, oldest first (the order they are drawn)."""
    values = list(
        DataValue.objects.filter(spec=spec, value_number__isnull=False)
        .order_by("-collected_at", "-id")
        .only("id", "collected_at", "value_number", "judge", "alarmed")[:limit]
    )
    values.reverse()
    return values


def limit_lines(spec) -> list[LimitLine]:
    """The spec's current limits and alarm limits as horizontal lines."""
    limits, alarm = spec.spec or {}, spec.alarm or {}
    candidates = [
        ("spec min", limits.get("min"), "spec"),
        ("spec max", limits.get("max"), "spec"),
        ("target", limits.get("target"), "target"),
        ("alarm min", alarm.get("min"), "alarm"),
        ("alarm max", alarm.get("max"), "alarm"),
    ]
    return [
        LimitLine(label, float(value), kind)
        for label, value, kind in candidates
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2 or 5 × 10ⁿ apart) within low..high."""
    span = high - low
    raw_step = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = min((m * magnitude for m in (1, 2, 5, 10)), key=lambda step: abs(span / step - count))
    first = math.ceil(low / step) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def _number(value: float) -> str:
    return f"{value:.6g}"


def trend_chart_svg(values: list[DataValue], lines: list[LimitLine], *, url_for=None) -> SafeString:
    """An SVG chart of `values` in their order, with `lines` across it.

    `url_for(value)`, when given, makes each point a link (to the value's page).
    """
    numbers = [value.value_number for value in values]
    every = numbers + [line.value for line in lines]
    if not numbers:
        return mark_safe(
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" role="img" '
            'aria-label="No values yet"><text x="10" y="35" font-size="14">'
            "No numeric values collected for this spec yet.</text></svg>"
        )
    low, high = min(every), max(every)
    padding = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    low, high = low - padding, high + padding

    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(index: int) -> float:
        if len(numbers) == 1:
            return LEFT + plot_width / 2
        return LEFT + plot_width * index / (len(numbers) - 1)

    def y_at(number: float) -> float:
        return TOP + plot_height * (high - number) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="mes-trend" '
        f'aria-label="Trend of the latest {len(numbers)} values" '
        'font-family="sans-serif" font-size="11">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" '
        'fill="none" stroke="#bbb"/>',
    ]
    for tick in nice_ticks(low, high):
        y = y_at(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="0.5"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">'
            f"{_number(tick)}</text>"
        )
    for line in lines:
        colour, dash = LINE_STYLES[line.kind]
        y = y_at(line.value)
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line class="mes-limit mes-limit-{line.kind}" x1="{LEFT}" y1="{y:.1f}" '
            f'x2="{LEFT + plot_width}" y2="{y:.1f}" stroke="{colour}" stroke-width="1.5"'
            f"{dash_attribute}><title>{escape(line.label)} {_number(line.value)}</title></line>"
            f'<text x="{LEFT + plot_width + 6}" y="{y + 4:.1f}" fill="{colour}">'
            f"{escape(line.label)} {_number(line.value)}</text>"
        )
    if len(numbers) > 1:
        path = " ".join(f"{x_at(i):.1f},{y_at(n):.1f}" for i, n in enumerate(numbers))
        parts.append(f'<polyline points="{path}" fill="none" stroke="#90a4ae" stroke-width="1"/>')
    for index, value in enumerate(values):
        colour = POINT_COLOURS.get(value.judge, POINT_COLOURS[DataValue.Judge.NA])
        radius = 4.5 if value.alarmed or value.judge == DataValue.Judge.FAIL else 3
        ring = ' stroke="#ef6c00" stroke-width="2"' if value.alarmed else ""
        tip = (
            f"{value.collected_at:%Y-%m-%d %H:%M:%S} — {_number(value.value_number)} "
            f"({value.judge}{', alarmed' if value.alarmed else ''})"
        )
        point = (
            f'<circle class="mes-point mes-point-{escape(value.judge)}" cx="{x_at(index):.1f}" '
            f'cy="{y_at(value.value_number):.1f}" r="{radius}" fill="{colour}"{ring}>'
            f"<title>{escape(tip)}</title></circle>"
        )
        if url_for is not None:
            point = f'<a href="{escape(url_for(value))}">{point}</a>'
        parts.append(point)
    first, last = values[0].collected_at, values[-1].collected_at
    bottom = TOP + plot_height
    parts.append(
        f'<text x="{LEFT}" y="{bottom + 16}" fill="#666">{first:%Y-%m-%d %H:%M}</text>'
        f'<text x="{LEFT + plot_width}" y="{bottom + 16}" text-anchor="end" fill="#666">'
        f"{last:%Y-%m-%d %H:%M}</text>"
        f'<text x="{LEFT + plot_width / 2:.1f}" y="{bottom + 34}" text-anchor="middle" '
        f'fill="#666">{len(numbers)} latest values, oldest to newest (UTC)</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))
