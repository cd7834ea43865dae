"""Server-rendered SVG of attribute charts (docs/quality.md "Attribute charts"): a spec's p,
np, c or u chart (execution/attribute_charts.py), and the Pareto of defect codes. No
JavaScript: the pages embed the SVG as it is; every text is escaped."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from execution.attribute_charts import AttributeSeries, DefectPareto
from execution.charts import format_number, nice_ticks

WIDTH, HEIGHT = 860, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 110, 20, 56
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
LABEL_SPACING = 12  # px between the right-hand labels
POINT, BEYOND, LIMIT, CENTRE = "#1565c0", "#c62828", "#1565c0", "#2e7d32"
CENTRE_SYMBOLS = {"p": "p̄", "np": "np̄", "c": "c̄", "u": "ū"}


def _svg(body: list[str], label: str) -> SafeString:
    return mark_safe(  # noqa: S308 (every text below is escaped)
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def _axis(low: float, high: float, y_of, as_percent: bool) -> list[str]:
    parts = []
    for tick in nice_ticks(low, high):
        y = y_of(tick)
        text = f"{tick * 100:.4g}%" if as_percent else format_number(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{escape(text)}</text>'
        )
    return parts


def figure_text(kind: str, number: float) -> str:
    """A point, limit or centre as the chart prints it: a percent on a p chart."""
    return f"{number * 100:.3g}%" if kind == "p" else format_number(number)


def point_title(kind: str, point: float, size: float) -> str:
    """What one point counts, in words."""
    if kind == "p":
        return f"{point * 100:.3g}% of {int(size)} judged FAIL"
    if kind == "np":
        return f"{int(point)} of {int(size)} judged FAIL"
    if kind == "c":
        return f"{int(point)} defects on one board"
    return f"{format_number(point)} defects per board ({round(point * size)} on {int(size)})"


def attribute_chart_svg(data: AttributeSeries) -> SafeString:
    """Points in order, the centre line, and each point's own limits as steps (its sample
    size sets them); points beyond a limit in red and listed by title."""
    chart, kind = data.chart, data.kind
    count = len(chart.points)
    high = max([*chart.points, *chart.ucl, chart.centre]) * 1.08 or 0.01
    low = 0.0

    def x_of(index: float) -> float:
        return LEFT + PLOT_WIDTH * (index + 0.5) / count

    def y_of(value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - (value - low) / (high - low))

    body = _axis(low, high, y_of, as_percent=kind == "p")
    for name, limits in (("UCL", chart.ucl), ("LCL", chart.lcl)):
        steps = []
        for index, limit in enumerate(limits):
            steps += [
                f"{x_of(index - 0.5):.1f},{y_of(limit):.1f}",
                f"{x_of(index + 0.5):.1f},{y_of(limit):.1f}",
            ]
        body.append(
            f'<polyline class="mes-limit" data-limit="{name}" points="{" ".join(steps)}" '
            f'fill="none" stroke="{LIMIT}" stroke-dasharray="6 3"/>'
        )
        label_y = y_of(limits[-1])
        if abs(label_y - y_of(chart.centre)) < LABEL_SPACING:  # apart from p̄'s label
            label_y = y_of(chart.centre) + (LABEL_SPACING if name == "LCL" else -LABEL_SPACING)
        body.append(
            f'<text x="{LEFT + PLOT_WIDTH + 6}" y="{label_y + 4:.1f}" font-size="11">'
            f"{name} {escape(figure_text(kind, limits[-1]))}</text>"
        )
    centre_y = y_of(chart.centre)
    body.append(
        f'<line class="mes-centre" x1="{LEFT}" x2="{LEFT + PLOT_WIDTH}" y1="{centre_y:.1f}" '
        f'y2="{centre_y:.1f}" stroke="{CENTRE}"/><text x="{LEFT + PLOT_WIDTH + 6}" '
        f'y="{centre_y + 4:.1f}" font-size="11">{CENTRE_SYMBOLS[kind]} '
        f"{escape(figure_text(kind, chart.centre))}</text>"
    )
    path = " ".join(f"{x_of(i):.1f},{y_of(point):.1f}" for i, point in enumerate(chart.points))
    body.append(f'<polyline points="{path}" fill="none" stroke="{POINT}"/>')
    beyond = set(chart.beyond)
    label_every = max(1, count // 8)
    for index, (point, size, start) in enumerate(
        zip(chart.points, chart.sizes, data.starts, strict=True)
    ):
        colour = BEYOND if index in beyond else POINT
        title = f"{start:%Y-%m-%d %H:%M}: {point_title(kind, point, size)}"
        if index in beyond:
            title += " (beyond its limit)"
        body.append(
            f'<circle class="mes-point{" mes-beyond" if index in beyond else ""}" '
            f'cx="{x_of(index):.1f}" cy="{y_of(point):.1f}" r="4" fill="{colour}">'
            f"<title>{escape(title)}</title></circle>"
        )
        if index % label_every == 0:
            body.append(
                f'<text x="{x_of(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="10">{escape(f"{start:%m-%d %H:%M}")}</text>'
            )
    return _svg(body, f"{kind} chart of {data.spec.name}")


def pareto_svg(data: DefectPareto) -> SafeString:
    """Bars of each defect code's count, largest first, and the cumulative percent line."""
    rows = data.rows
    high = max(row.count for row in rows) * 1.1

    def x_of(index: float) -> float:
        return LEFT + PLOT_WIDTH * (index + 0.5) / len(rows)

    def y_of(count: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - count / high)

    def y_of_percent(percent: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - percent / 100)

    body = _axis(0, high, y_of, as_percent=False)
    bar = PLOT_WIDTH / len(rows) * 0.7
    for index, row in enumerate(rows):
        y = y_of(row.count)
        body.append(
            f'<rect class="mes-bar" x="{x_of(index) - bar / 2:.1f}" y="{y:.1f}" '
            f'width="{bar:.1f}" height="{TOP + PLOT_HEIGHT - y:.1f}" fill="{POINT}">'
            f"<title>{escape(f'{row.code}: {row.count} ({row.percent:.1f}%)')}</title></rect>"
            f'<text x="{x_of(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="10">{escape(row.code[:14])}</text>'
        )
    line = " ".join(
        f"{x_of(i):.1f},{y_of_percent(row.cumulative_percent):.1f}" for i, row in enumerate(rows)
    )
    body.append(f'<polyline class="mes-cumulative" points="{line}" fill="none" stroke="{BEYOND}"/>')
    for percent in (0, 50, 80, 100):
        body.append(
            f'<text x="{LEFT + PLOT_WIDTH + 6}" y="{y_of_percent(percent) + 4:.1f}" '
            f'font-size="10" fill="{BEYOND}">{percent}%</text>'
        )
    return _svg(body, "Pareto of defect codes")
