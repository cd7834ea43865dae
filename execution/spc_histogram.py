"""Server-rendered SVG of a window's capability histogram: bars, the normal curve, spec limits.

Drawn beside the capability figures on a spec's page. The bars are the window's
values in bars of equal width (Sturges' rule, execution/spc/capability.py), the
axis widened to the spec limits so LSL, USL and the target (vertical lines) are
always on it; the curve is N(X̄, σ within) scaled to the bars, the distribution
Cp and Cpk assume. No JavaScript.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.charts import format_number, nice_ticks
from execution.spc import histogram, normal_curve
from execution.spc_svg import LINE_STYLES
from execution.spc_window import WindowAnalysis

WIDTH, HEIGHT = 300, 200
LEFT, RIGHT, TOP, BOTTOM = 30, 10, 44, 28
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BAR_COLOUR = "#b0bec5"
CURVE_COLOUR = "#1565c0"


def _svg(parts: list[str], label: str) -> SafeString:
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" class="mes-spc-histogram" '
        f'aria-label="{escape(label)}" font-family="sans-serif" font-size="10">'
        + "".join(parts)
        + "</svg>"
    )


def histogram_svg(result: WindowAnalysis) -> SafeString:
    """The window's values as a histogram with the normal curve (σ within) and the spec limits."""
    numbers = result.analysis.values
    spec = result.limits
    marks = [
        (label, value, kind)
        for label, value, kind in (
            ("LSL", spec.lsl, "spec"),
            ("USL", spec.usl, "spec"),
            ("target", spec.target, "target"),
        )
        if value is not None
    ]
    bars = histogram(
        numbers,
        low=min([value for _, value, _ in marks], default=None),
        high=max([value for _, value, _ in marks], default=None),
    )
    if bars is None:
        return _svg(
            ['<text x="10" y="30" font-size="12">No values to draw a histogram of.</text>'],
            "No histogram",
        )
    low, high = bars.edges[0], bars.edges[-1]
    margin = (high - low) * 0.04
    low, high = low - margin, high + margin
    limits = result.analysis.limits
    sigma = limits.sigma_within if limits is not None else 0.0
    curve = (
        normal_curve(limits.mean, sigma, low, high, scale=len(numbers) * bars.width)
        if limits is not None
        else []
    )
    tallest = max([*bars.counts, *(y for _, y in curve)]) * 1.1

    def x_at(number: float) -> float:
        return LEFT + PLOT_WIDTH * (number - low) / (high - low)

    def y_at(count: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - count / tallest)

    parts = [
        f'<text x="{LEFT}" y="12" fill="#333" font-weight="bold" font-size="11">'
        "Distribution of the window</text>",
        f'<line x1="{LEFT}" y1="{TOP + PLOT_HEIGHT}" x2="{LEFT + PLOT_WIDTH}" '
        f'y2="{TOP + PLOT_HEIGHT}" stroke="#999"/>',
    ]
    for tick in nice_ticks(low, high, 4):
        parts.append(
            f'<text x="{x_at(tick):.1f}" y="{TOP + PLOT_HEIGHT + 13}" text-anchor="middle" '
            f'fill="#666">{format_number(tick)}</text>'
        )
    for index, count in enumerate(bars.counts):
        left, right = bars.edges[index], bars.edges[index + 1]
        text = f"{format_number(left)} to {format_number(right)}: {count} value{'s' * (count != 1)}"
        parts.append(
            f'<rect class="mes-histogram-bar" data-count="{count}" x="{x_at(left):.1f}" '
            f'y="{y_at(count):.1f}" width="{max(x_at(right) - x_at(left) - 1, 0.5):.1f}" '
            f'height="{TOP + PLOT_HEIGHT - y_at(count):.1f}" fill="{BAR_COLOUR}">'
            f"<title>{escape(text)}</title></rect>"
        )
    if curve:
        coordinates = " ".join(f"{x_at(x):.1f},{y_at(y):.1f}" for x, y in curve)
        parts.append(
            f'<polyline class="mes-normal-curve" points="{coordinates}" fill="none" '
            f'stroke="{CURVE_COLOUR}" stroke-width="1.5"><title>normal curve, X̄ '
            f"{format_number(limits.mean)}, σ within {format_number(sigma)}</title></polyline>"
        )
    for position, (label, value, kind) in enumerate(marks):
        colour, dash = LINE_STYLES[kind]
        x = x_at(value)
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        text = f"{label} {format_number(value)}"
        parts.append(
            f'<line class="mes-spec-mark" data-limit="{label}" x1="{x:.1f}" y1="{TOP - 4}" '
            f'x2="{x:.1f}" y2="{TOP + PLOT_HEIGHT}" stroke="{colour}" stroke-width="1.5"'
            f"{dash_attribute}><title>{escape(text)}</title></line>"
            f'<text x="{x:.1f}" y="{TOP - 7 - 9 * (position % 2)}" text-anchor="middle" '
            f'fill="{colour}">{escape(text)}</text>'
        )
    return _svg(parts, f"Histogram of {len(numbers)} values")
